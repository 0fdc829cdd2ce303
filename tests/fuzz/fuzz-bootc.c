/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A guest's bootc state (agent/core/sc-bootc.h): the deployment's .origin INI
 * file, the staged-deployment JSON and an image reference, each parsed from
 * the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sc-bootc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_bootc_origin *o = malloc(sizeof(*o));
	struct sc_bootc_imgref *r = malloc(sizeof(*r));
	struct sc_bootc_staged s;
	char why[256], *str;

	if (o && r) {
		(void)sc_bootc_origin_parse((const char *)data, size, o, why, sizeof(why));
		(void)sc_bootc_staged_parse((const char *)data, size, &s, why, sizeof(why));
		str = size <= SC_BOOTC_VALUE_MAX ? strndup((const char *)data, size) : NULL;
		if (str)
			(void)sc_bootc_imgref_parse(str, r, why, sizeof(why));
		free(str);
	}
	free(o);
	free(r);
	return 0;
}
