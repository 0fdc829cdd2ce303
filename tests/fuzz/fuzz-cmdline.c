/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>
#include <stdint.h>

#include "sc-cmdline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_seal_cmdline c;

	if (size > 64 * 1024)
		return 0;
	if (sc_seal_cmdline_parse((const char *)data, size, &c) == 0)
		sc_seal_cmdline_done(&c);
	return 0;
}
