/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>
#include <stdint.h>

#include "sc-metacopy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_digest d;
	char out[SC_REDIRECT_MAX];

	if (size > 4096)
		return 0;
	(void)sc_metacopy_parse(data, size, &d);
	(void)sc_redirect_parse((const char *)data, size, out, sizeof(out));
	return 0;
}
