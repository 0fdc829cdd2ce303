/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A guest's firmware event log: parse, replay every declared bank, compare
 * with PCR values, the PCR 7 Secure Boot rules. */
#include <stddef.h>
#include <stdint.h>

#include "probe-eventlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	uint8_t pcrs[PROBE_TPM_PCRS][PROBE_TPM_HASH_MAX];
	static const uint8_t zeros[24 * 32];
	struct probe_pcr_selection sel;
	struct probe_secureboot sb;
	char why[128];
	size_t sum = 0;

	if (size > PROBE_EVENTLOG_MAX + 1)
		return 0;
	if (probe_eventlog_parse(data, size, &log, why, sizeof(why)) < 0)
		return 0;
	for (size_t k = 0; k < log->n_algs; k++)
		(void)probe_eventlog_replay(log, log->algs[k].alg, pcrs, why, sizeof(why));
	if (probe_pcr_selection_from_string("sha256:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23",
					    &sel) == 0)
		(void)probe_eventlog_check_pcrs(log, PROBE_TPM_ALG_SHA256, &sel, zeros, sizeof(zeros), why, sizeof(why));
	if (probe_eventlog_secureboot(log, &sb, why, sizeof(why)) == 0) {
		/* Read every byte handed out: an overread shows under ASan. */
		const struct probe_efi_variable *v[] = {&sb.pk, &sb.kek, &sb.db, &sb.dbx};
		for (size_t i = 0; i < 4; i++)
			for (size_t j = 0; j < v[i]->data_len; j++)
				sum += v[i]->data[j];
		for (size_t i = 0; i < sb.n_authorities; i++)
			for (size_t j = 0; j < sb.authorities[i].data_len; j++)
				sum += sb.authorities[i].data[j];
	}
	sink = sum;
	return 0;
}
