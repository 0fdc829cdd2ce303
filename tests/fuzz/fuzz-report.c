/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>
#include <stdint.h>

#include "sc-report-validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = NULL;
	char why[256];

	if (sc_report_validate((const char *)data, size, &doc, why, sizeof(why)) == 0)
		json_decref(doc);
	return 0;
}
