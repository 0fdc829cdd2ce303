/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A disk image a user hands `sealcheck-probe run --disk` (host-probe/disk/):
 * its first bytes as a GPT, and the same bytes as a systemd-boot entry.
 */
#include <stddef.h>
#include <stdint.h>

#include "probe-bls.h"
#include "probe-gpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_gpt_part p;
	struct probe_bls_entry e;
	char why[256];

	if (size <= PROBE_GPT_HEAD_MAX) {
		(void)probe_gpt_find_esp(data, size, 1ull << 30, &p, why, sizeof(why));
		(void)probe_gpt_find_esp(data, size, UINT64_MAX, &p, why, sizeof(why));
	}
	(void)probe_bls_entry_parse((const char *)data, size, &e, why, sizeof(why));
	return 0;
}
