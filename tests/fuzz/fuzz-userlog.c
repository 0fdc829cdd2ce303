/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* systemd's userspace TPM measurement log (tpm2-measure.log) as a guest sends it. */
#include <stddef.h>
#include <stdint.h>

#include "probe-evidence.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_userlog log;
	char why[256];

	(void)probe_userlog_parse(data, size, &log, why, sizeof(why));
	return 0;
}
