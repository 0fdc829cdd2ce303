/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The evidence document a guest sends (common/sc-evidence.h) through the
 * host's whole verification: decoding, quote, event log replay, PCR 7.
 * The input is the E frame's JSON; the report bytes and nonce are fixed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "probe-evidence.h"
#include "probe-policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char report[] = "{\"schema\":\"sealcheck.report.v1\"}";
	static const uint8_t name[34] = { 0x00, 0x0b };
	struct probe_policy p;
	struct probe_evidence_expect x = {
		.nonce = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		.report = (const uint8_t *)report, .report_len = sizeof(report) - 1,
		.ak_name = name, .ak_name_len = sizeof(name), .policy = &p,
	};
	json_t *ev, *links;

	if (size > 512 * 1024)
		return 0;
	ev = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!ev)
		return 0;
	probe_policy_init(&p);
	links = probe_evidence_verify(ev, &x, NULL);
	json_decref(links);
	json_decref(ev);
	return 0;
}
