/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's cost of verifying one report's TPM evidence: N verifications of
 * a real boot's evidence (tests/fixtures/evidence), median and p99, and with
 * a UKI given, the same with the UKI read and PCR 11 predicted from it every
 * time (what `run --tpm` does for its one report) and with the UKI read once
 * (probe-uki-ref.h: what `watch` does for every round), side by side with
 * the baseline of just parsing the evidence JSON.
 *   bench-verify FIXTURE_DIR [N] [UKI]
 * A measurement, not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sc-base64.h"
#include "probe-evidence.h"
#include "probe-policy.h"
#include "probe-tpm.h"
#include "probe-uki-ref.h"
#include "sc-fileio.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-macro.h"

static int cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, long long *us, unsigned n)
{
	qsort(us, n, sizeof(*us), cmp);
	printf("%-44s median %8.3f ms   p99 %8.3f ms   (%u runs)\n", what, (double)us[n / 2] / 1000.0,
	       (double)us[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000.0, n);
}

static char *path(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		exit(2);
	return p;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "tests/fixtures/evidence";
	unsigned n = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 1000;
	const char *uki = argc > 3 ? argv[3] : NULL;
	_cleanup_free_ char *ev_text = NULL, *report_bytes = NULL, *nonce = NULL;
	_cleanup_free_ long long *us = NULL;
	uint8_t *ak = NULL;
	size_t ev_len, report_len, nlen, ak_len;
	struct probe_sb_reference sb;
	struct probe_tpm_public pub;
	struct probe_policy policy;
	struct probe_uki_ref ref = { 0 };
	json_t *ev;

	if (n == 0 || n > 1000000)
		return 2;
	us = calloc(n, sizeof(*us));
	if (!us || sc_read_file_capped(path(dir, "evidence.json"), 1 << 20, &ev_text, &ev_len) < 0 ||
	    sc_read_file_capped(path(dir, "report.json"), 1 << 20, &report_bytes, &report_len) < 0 ||
	    sc_read_file_capped(path(dir, "nonce"), 128, &nonce, &nlen) < 0 || nlen < 64 ||
	    probe_sb_reference_load(dir, &sb, NULL, 0) < 0) {
		fprintf(stderr, "bench-verify: %s: not an evidence fixture folder\n", dir);
		return 2;
	}
	nonce[64] = '\0';
	ev = json_loadb(ev_text, ev_len, 0, NULL);
	if (!ev || sc_base64_decode(json_string_value(json_object_get(ev, "ak_public")), 1024, &ak, &ak_len) < 0 ||
	    probe_tpm2b_public_parse(ak, ak_len, &pub, NULL, 0) < 0)
		return 2;
	probe_policy_init(&policy);
	(void)probe_policy_allow(&policy,
				 "sha512:00000000000000000000000000000000000000000000000000000000000000000000000000000000"
				 "000000000000000000000000000000000000000000000000");

	if (uki)
		probe_uki_ref_load(uki, NULL, &sb, &ref);
	for (int pass = 0; pass < (uki ? 4 : 2); pass++) {
		struct probe_evidence_expect x = {
			.nonce = nonce, .report = (const uint8_t *)report_bytes, .report_len = report_len,
			.ak_name = pub.name, .ak_name_len = pub.name_len, .uki_path = pass >= 2 ? uki : NULL,
			.uki = pass == 3 ? &ref : NULL, .policy = &policy, .sb = &sb,
		};

		for (unsigned i = 0; i < n; i++) {
			long long t = sc_now_us();

			if (pass == 0) {
				json_t *doc = json_loadb(ev_text, ev_len, JSON_REJECT_DUPLICATES, NULL);

				json_decref(doc);
			} else {
				json_t *doc = json_loadb(ev_text, ev_len, JSON_REJECT_DUPLICATES, NULL);
				json_t *links = probe_evidence_verify(doc, &x, NULL);

				json_decref(links);
				json_decref(doc);
			}
			us[i] = sc_now_us() - t;
		}
		report(pass == 0   ? "baseline: parse the evidence JSON"
		       : pass == 1 ? "verify: quote, event log, PCR 7"
		       : pass == 2 ? "verify + the UKI read, PCR 11 predicted"
				   : "verify + the UKI read once (watch)",
		       us, n);
	}
	json_decref(ev);
	probe_uki_ref_done(&ref);
	probe_sb_reference_done(&sb);
	free(ak);
	return 0;
}
