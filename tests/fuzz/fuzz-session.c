/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A probe session fed what a hostile guest sends, in the pieces the input
 * chooses, and the report it may accept judged by the policy and turned
 * into the verdict document. The nonce is fixed so a corpus file can
 * answer it: the session's own is replaced after init.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "probe-policy.h"
#include "probe-session.h"
#include "probe-verdict.h"

#define FUZZ_NONCE "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_session_config cfg = { .deadline_ms = 1000000 };
	struct probe_session s = { 0 };
	struct probe_policy p;
	struct probe_verdict v;
	size_t off = 0;
	long long now = 1;

	if (probe_session_init(&s, &cfg) < 0)
		return 0;
	memcpy(s.nonce, FUZZ_NONCE, sizeof(FUZZ_NONCE));
	/* The first byte of each piece says how long the piece is (1..256). */
	while (off < size && !probe_session_finished(&s)) {
		size_t n = (size_t)data[off++] + 1;

		if (n > size - off)
			n = size - off;
		probe_session_feed(&s, data + off, n, now++);
		off += n;
	}
	probe_session_tick(&s, cfg.deadline_ms);
	probe_policy_init(&p);
	(void)probe_policy_allow(&p, "sha512:22ea8a75c80babb6f41301c8392a306b1654884fe6807e655117e8f4ca07eb57"
				     "08d0a49a84fd285ad13d4fc71706571dc4eed0dbd5b2811b4afa95b6464a2dc9");
	if (probe_verdict_decide(&s, &p, NULL, &v) == 0) {
		json_t *out = probe_verdict_to_json(&s, 0, &p, &v);

		json_decref(out);
		probe_verdict_done(&v);
	}
	probe_session_done(&s);
	return 0;
}
