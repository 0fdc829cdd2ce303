/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sc-mountopts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_overlay_opts o;
	char *u;

	if (size > 64 * 1024)
		return 0;
	if (sc_overlay_opts_parse((const char *)data, size, &o) == 0) {
		struct sc_overlay_layers l;

		if (sc_overlay_opts_layers(&o, &l) == 0)
			sc_overlay_layers_done(&l);
		sc_overlay_opts_done(&o);
	}
	if (sc_mount_unescape((const char *)data, size, &u) == 0)
		free(u);
	return 0;
}
