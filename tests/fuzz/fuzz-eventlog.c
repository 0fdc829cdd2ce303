/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A guest's firmware event log: parse, replay every declared bank, compare
 * with PCR values, the PCR 7 Secure Boot rules, and the exact PCR 7 and PCR 4
 * rules against a small fixed reference and boot chain. */
#include <stddef.h>
#include <stdint.h>

#include <string.h>

#include "probe-eventlog.h"
#include "probe-evidence.h"
#include "probe-sbref.h"

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
	{
		/* One single-entry list per variable (X.509 type, owner 0x11.., 4 bytes of data), the
		 * chain one application verified by db's entry. */
		static uint8_t esl[4][48];
		struct probe_sb_reference ref;
		struct probe_boot_chain chain = { .n = 1 };

		for (int v = 0; v < 4; v++) {
			static const uint8_t x509[16] = { 0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
							  0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72 };

			memcpy(esl[v], x509, 16);
			esl[v][16] = 48, esl[v][24] = 20;
			memset(esl[v] + 28, 0x11, 16);
			memset(esl[v] + 44, 'a' + v, 4);
			ref.esl[v] = esl[v];
			ref.esl_len[v] = sizeof(esl[v]);
		}
		chain.apps[0].authority = esl[PROBE_SB_DB] + 28;
		chain.apps[0].authority_len = 20;
		(void)probe_evidence_secureboot(log, &ref, &chain, why, sizeof(why));
		(void)probe_evidence_pcr4_events(log, &chain, why, sizeof(why));
	}
	sink = sum;
	return 0;
}
