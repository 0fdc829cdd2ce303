/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's TPM evidence (agent/core/sc-tpm.h) against a real swtpm on
 * loopback, checked by the host's own verifier (host-probe/verify/probe-tpm.h):
 * the AK from the endorsement template, the quote over the binding of one
 * report, the PCR values in more than one TPM2_PCR_Read, the E payload.
 * Exit 77 (skipped) only when swtpm is not installed.
 */
#include "unit.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "probe-tpm.h"
#include "sc-evidence.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-tpm.h"
#include "swtpm-test.h"

static pid_t swtpm_pid;
static char tcti[96];
static char state_dir[] = "/tmp/sealcheck-test-agent-tpm-XXXXXX";

static const char nonce_a[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char report_a[] = "{\"schema\":\"sealcheck.report.v1\",\"verdict\":\"sealed\"}";
static const char report_b[] = "{\"schema\":\"sealcheck.report.v1\",\"verdict\":\"not-sealed\"}";

static int start_swtpm(void **state)
{
	if (!mkdtemp(state_dir) || test_swtpm_start(state_dir, &swtpm_pid, tcti, sizeof(tcti)) < 0)
		return -1;
	/* Distinct PCR values, so the order of the values in the digest matters. */
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd),
			 "TPM2TOOLS_TCTI='%s' tpm2_pcrextend "
			 "0:sha256=%064x 7:sha256=%064x 11:sha256=%064x 12:sha256=%064x >/dev/null 2>&1",
			 tcti, 1, 7, 11, 12);
		if (system(cmd) != 0)
			fprintf(stderr, "# tpm2_pcrextend failed: PCRs stay zero\n");
	}
	return 0;
}

static int stop_swtpm(void **state)
{
	char cmd[160];

	test_swtpm_stop(&swtpm_pid);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const struct probe_pcr_selection *quoted_selection(void)
{
	static struct probe_pcr_selection sel;

	assert_int_equal(probe_pcr_selection_from_string("sha256:0,1,2,3,4,5,7,9,11,12", &sel), 0);
	return &sel;
}

/* The values in selection order, as the host lays them out. */
static size_t values_of(const struct sc_tpm_quote *q, uint8_t *out)
{
	size_t n = 0;

	for (unsigned i = 0; i < SC_TPM_PCRS; i++)
		if (q->pcr_mask & (1u << i)) {
			memcpy(out + n, q->pcrs[i], SC_TPM_SHA256_LEN);
			n += SC_TPM_SHA256_LEN;
		}
	return n;
}

static enum probe_quote_step verify(const struct sc_tpm_quote *q, const char *nonce, const char *report,
				    char *why, size_t why_size)
{
	uint8_t qd[32], values[SC_TPM_PCRS * SC_TPM_SHA256_LEN];
	struct probe_quote_input in = {
		.ak_public = q->ak_public,
		.ak_public_len = q->ak_public_len,
		.attest = q->attest,
		.attest_len = q->attest_len,
		.signature = q->signature,
		.signature_len = q->signature_len,
		.expected_extra_data = qd,
		.expected_extra_data_len = sizeof(qd),
		.expected_selection = quoted_selection(),
		.pcr_values = values,
	};

	assert_int_equal(sc_evidence_qualifying_data(nonce, report, strlen(report), qd), 0);
	in.pcr_values_len = values_of(q, values);
	return probe_quote_verify(&in, NULL, why, why_size);
}

static void quote_for(const char *nonce, const char *report, struct sc_tpm_quote *q)
{
	_cleanup_tpm_ struct sc_tpm *t = NULL;
	uint8_t qd[32];
	char why[256] = "";

	assert_int_equal(sc_tpm_open(tcti, &t, why, sizeof(why)), 0);
	assert_int_equal(sc_evidence_qualifying_data(nonce, report, strlen(report), qd), 0);
	if (sc_tpm_quote(t, qd, SC_EVIDENCE_PCR_MASK, q, why, sizeof(why)) != 0)
		fail_msg("sc_tpm_quote: %s", why);
}

static void test_quote_verifies(void **state)
{
	_cleanup_free_ struct sc_tpm_quote *q = calloc(1, sizeof(*q));
	static const uint8_t zero[SC_TPM_SHA256_LEN];
	char why[256] = "";

	assert_non_null(q);
	quote_for(nonce_a, report_a, q);
	assert_int_equal(q->pcr_mask, SC_EVIDENCE_PCR_MASK);
	if (verify(q, nonce_a, report_a, why, sizeof(why)) != PROBE_QUOTE_OK)
		fail_msg("the host refuses the agent's quote: %s", why);
	/* The extended PCRs are not zero: the values really came from the TPM. */
	assert_memory_not_equal(q->pcrs[7], zero, sizeof(zero));
	assert_memory_not_equal(q->pcrs[11], q->pcrs[12], SC_TPM_SHA256_LEN);
}

static void test_quote_bound_to_report(void **state)
{
	_cleanup_free_ struct sc_tpm_quote *q = calloc(1, sizeof(*q));
	static const char nonce_b[] = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
	char why[256] = "";

	assert_non_null(q);
	quote_for(nonce_a, report_a, q);
	/* The evidence of report A under report B's bytes, or another nonce: a replay. */
	assert_int_equal(verify(q, nonce_a, report_b, why, sizeof(why)), PROBE_QUOTE_EXTRA_DATA);
	assert_int_equal(verify(q, nonce_b, report_a, why, sizeof(why)), PROBE_QUOTE_EXTRA_DATA);
	/* A PCR value edited after the quote. */
	q->pcrs[11][0] ^= 1;
	assert_int_equal(verify(q, nonce_a, report_a, why, sizeof(why)), PROBE_QUOTE_PCR_DIGEST);
}

static void test_ak_same_name(void **state)
{
	_cleanup_tpm_ struct sc_tpm *t = NULL;
	_cleanup_free_ struct probe_tpm_public *p1 = calloc(1, sizeof(*p1)), *p2 = calloc(1, sizeof(*p2));
	uint8_t pub1[SC_TPM_BLOB_MAX], pub2[SC_TPM_BLOB_MAX];
	size_t len1, len2;
	uint32_t h1, h2;
	char why[256] = "";

	assert_non_null(p1);
	assert_non_null(p2);
	assert_int_equal(sc_tpm_open(tcti, &t, why, sizeof(why)), 0);
	assert_int_equal(sc_tpm_create_ak(t, &h1, pub1, &len1, why, sizeof(why)), 0);
	assert_int_equal(sc_tpm_flush(t, h1), 0);
	assert_int_equal(sc_tpm_create_ak(t, &h2, pub2, &len2, why, sizeof(why)), 0);
	assert_int_equal(sc_tpm_flush(t, h2), 0);
	assert_int_equal(probe_tpm2b_public_parse(pub1, len1, p1, why, sizeof(why)), 0);
	assert_int_equal(probe_tpm2b_public_parse(pub2, len2, p2, why, sizeof(why)), 0);
	/* The endorsement primary: the same key, so the host can pin its Name before boot. */
	assert_int_equal(p1->name_len, 34);
	assert_int_equal(p1->name_len, p2->name_len);
	assert_memory_equal(p1->name, p2->name, p1->name_len);
	/* Exactly the template, and one the host's AK rules accept. */
	assert_int_equal(p1->attributes, SC_AK_ATTRIBUTES);
	assert_int_equal(p1->key_bits, 2048);
	assert_int_equal(p1->scheme, PROBE_TPM_ALG_RSASSA);
	assert_int_equal(p1->scheme_hash, PROBE_TPM_ALG_SHA256);
	assert_int_equal(p1->name_alg, PROBE_TPM_ALG_SHA256);
	assert_int_equal(p1->auth_policy_len, 0);
	assert_int_equal(probe_tpm_ak_check(p1, why, sizeof(why)), 0);
}

static void test_pcr_read_many(void **state)
{
	_cleanup_tpm_ struct sc_tpm *t = NULL;
	uint8_t all[SC_TPM_PCRS][SC_TPM_SHA256_LEN], one[SC_TPM_PCRS][SC_TPM_SHA256_LEN];
	char why[256] = "";

	assert_int_equal(sc_tpm_open(tcti, &t, why, sizeof(why)), 0);
	/* 24 PCRs: a TPM answers at most 8 per TPM2_PCR_Read. */
	memset(all, 0xaa, sizeof(all));
	assert_int_equal(sc_tpm_pcr_read(t, 0xffffff, all, why, sizeof(why)), 0);
	for (unsigned i = 0; i < SC_TPM_PCRS; i++) {
		memset(one, 0x55, sizeof(one));
		assert_int_equal(sc_tpm_pcr_read(t, 1u << i, one, why, sizeof(why)), 0);
		assert_memory_equal(one[i], all[i], SC_TPM_SHA256_LEN);
	}
	assert_int_equal(sc_tpm_pcr_read(t, 1u << 24, all, why, sizeof(why)), -EINVAL);
}

static void test_open_refused(void **state)
{
	_cleanup_tpm_ struct sc_tpm *t = NULL;
	char why[256] = "";

	assert_true(sc_tpm_open("device:/nonexistent/tpmrm0", &t, why, sizeof(why)) < 0);
	assert_null(t);
	assert_non_null(strstr(why, "/nonexistent/tpmrm0"));
}

static size_t unbase64(const char *s, uint8_t **ret)
{
	size_t n = strlen(s), pad = 0;
	uint8_t *out = malloc(n / 4 * 3 + 1);
	int m;

	assert_non_null(out);
	assert_int_equal(n % 4, 0);
	m = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	assert_true(m >= 0);
	if (n && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	*ret = out;
	return (size_t)m - pad;
}

static const char *jstr(json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

/* The E payload: exactly sc-evidence.h's keys, each decoding to what it carries. */
static void test_payload_shape(void **state)
{
	_cleanup_free_ struct sc_tpm_quote *q = calloc(1, sizeof(*q));
	_cleanup_json_ json_t *doc = NULL, *doc2 = NULL;
	static const uint8_t log[] = { 0, 1, 2, 3, 0xff };
	static const char *const keys[] = { "schema",    "nonce", "report_sha256", "ak_public", "quote",
					    "signature", "pcrs",  "eventlog",      "userspace_log" };
	_cleanup_free_ uint8_t *b = NULL;
	uint8_t h[32];
	char hex[65];
	json_t *bank;
	const char *k;
	json_t *v;

	assert_non_null(q);
	q->ak_public_len = 3;
	memcpy(q->ak_public, "\x00\x01\x02", 3);
	q->attest_len = 4;
	memcpy(q->attest, "\xff" "TCG", 4);
	q->signature_len = 1;
	q->signature[0] = 0x14;
	q->pcr_mask = SC_EVIDENCE_PCR_MASK;
	for (unsigned i = 0; i < SC_TPM_PCRS; i++)
		memset(q->pcrs[i], (int)(0xa0 + i), SC_TPM_SHA256_LEN);
	assert_int_equal(sc_evidence_to_json(nonce_a, STR_AND_LEN(report_a), q, log, sizeof(log), NULL, 0, &doc), 0);
	assert_int_equal(json_object_size(doc), ELEMENTSOF(keys));
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		assert_non_null(json_object_get(doc, keys[i]));
	assert_string_equal(jstr(doc, "schema"), SC_EVIDENCE_SCHEMA);
	assert_string_equal(jstr(doc, "nonce"), nonce_a);
	SHA256((const uint8_t *)report_a, strlen(report_a), h);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	assert_string_equal(jstr(doc, "report_sha256"), hex);
	assert_int_equal(unbase64(jstr(doc, "ak_public"), &b), 3);
	assert_memory_equal(b, "\x00\x01\x02", 3);
	free(TAKE_PTR(b));
	assert_int_equal(unbase64(jstr(doc, "quote"), &b), 4);
	assert_memory_equal(b, "\xff" "TCG", 4);
	free(TAKE_PTR(b));
	assert_string_equal(jstr(doc, "signature"), "FA==");
	assert_int_equal(unbase64(jstr(doc, "eventlog"), &b), sizeof(log));
	assert_memory_equal(b, log, sizeof(log));
	assert_true(json_is_null(json_object_get(doc, "userspace_log")));
	/* pcrs.sha256: exactly the quoted PCRs, decimal keys, lowercase hex. */
	assert_int_equal(json_object_size(json_object_get(doc, "pcrs")), 1);
	bank = json_object_get(json_object_get(doc, "pcrs"), "sha256");
	assert_int_equal(json_object_size(bank), 10);
	json_object_foreach(bank, k, v) {
		unsigned n = (unsigned)atoi(k);
		char want[65];

		assert_true(SC_EVIDENCE_PCR_MASK & (1u << n));
		for (int i = 0; i < 32; i++)
			snprintf(want + 2 * i, 3, "%02x", 0xa0 + n);
		assert_string_equal(json_string_value(v), want);
	}
	assert_non_null(json_object_get(bank, "12"));
	/* A userspace log present; an empty firmware log. */
	assert_int_equal(sc_evidence_to_json(nonce_a, STR_AND_LEN(report_a), q, "", 0, "ab", 2, &doc2), 0);
	assert_string_equal(jstr(doc2, "userspace_log"), "YWI=");
	assert_string_equal(jstr(doc2, "eventlog"), "");
	/* No valid nonce, or logs over their caps: nothing. */
	json_decref(TAKE_PTR(doc2));
	assert_int_equal(sc_evidence_to_json("abc", STR_AND_LEN(report_a), q, "", 0, NULL, 0, &doc2), -EINVAL);
	assert_int_equal(sc_evidence_to_json(nonce_a, STR_AND_LEN(report_a), q, "", SC_EVIDENCE_EVENTLOG_MAX + 1,
					     NULL, 0, &doc2),
			 -EFBIG);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The whole answer as the agent sends it, decoded and checked as the host will. */
static void test_collect_end_to_end(void **state)
{
	char root[128], p[512], why[256] = "";
	struct sc_paths paths = { .root = root, .sysroot = "/sysroot" };
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ struct sc_tpm_quote *q = calloc(1, sizeof(*q));
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ uint8_t *b = NULL;
	json_t *bank;
	size_t len, n;

	assert_non_null(q);
	snprintf(root, sizeof(root), "%s/root", state_dir);
	snprintf(p, sizeof(p), "mkdir -p '%s/sys/kernel/security/tpm0' '%s/run/log/systemd'", root, root);
	assert_int_equal(system(p), 0);
	/* No TCTI named under a fixture root: the host's TPM is not this tree's. */
	assert_int_equal(sc_evidence_collect(&paths, NULL, nonce_a, STR_AND_LEN(report_a), &text, &len, why,
					     sizeof(why)),
			 -ENODEV);
	assert_non_null(strstr(why, "--root"));
	snprintf(p, sizeof(p), "%s/sys/kernel/security/tpm0/binary_bios_measurements", root);
	write_file(p, "firmware-log", 12);
	assert_int_equal(sc_evidence_collect(&paths, tcti, nonce_a, STR_AND_LEN(report_a), &text, &len, why,
					     sizeof(why)),
			 0);
	doc = json_loadb(text, len, 0, NULL);
	assert_non_null(doc);
	assert_true(json_is_null(json_object_get(doc, "userspace_log")));
	assert_int_equal(unbase64(jstr(doc, "eventlog"), &b), 12);
	assert_memory_equal(b, "firmware-log", 12);
	free(TAKE_PTR(b));
	/* Rebuild the quote from the JSON alone and verify it as the host does. */
	n = unbase64(jstr(doc, "ak_public"), &b);
	memcpy(q->ak_public, b, q->ak_public_len = n);
	free(TAKE_PTR(b));
	n = unbase64(jstr(doc, "quote"), &b);
	memcpy(q->attest, b, q->attest_len = n);
	free(TAKE_PTR(b));
	n = unbase64(jstr(doc, "signature"), &b);
	memcpy(q->signature, b, q->signature_len = n);
	free(TAKE_PTR(b));
	bank = json_object_get(json_object_get(doc, "pcrs"), "sha256");
	for (unsigned i = 0; i < SC_TPM_PCRS; i++) {
		char key[4];
		json_t *v;

		snprintf(key, sizeof(key), "%u", i);
		v = json_object_get(bank, key);
		if (!v)
			continue;
		q->pcr_mask |= 1u << i;
		for (unsigned j = 0; j < SC_TPM_SHA256_LEN; j++) {
			unsigned x;

			assert_int_equal(sscanf(json_string_value(v) + 2 * j, "%2x", &x), 1);
			q->pcrs[i][j] = (uint8_t)x;
		}
	}
	assert_int_equal(q->pcr_mask, SC_EVIDENCE_PCR_MASK);
	if (verify(q, nonce_a, report_a, why, sizeof(why)) != PROBE_QUOTE_OK)
		fail_msg("the host refuses the E payload: %s", why);
	assert_int_equal(verify(q, nonce_a, report_b, why, sizeof(why)), PROBE_QUOTE_EXTRA_DATA);

	/* With systemd's userspace log too; an event log over its cap is refused, not cut. */
	free(TAKE_PTR(text));
	json_decref(TAKE_PTR(doc));
	snprintf(p, sizeof(p), "%s/run/log/systemd/tpm2-measure.log", root);
	write_file(p, "{\"pcr\":11}\n", 11);
	assert_int_equal(sc_evidence_collect(&paths, tcti, nonce_a, STR_AND_LEN(report_a), &text, &len, why,
					     sizeof(why)),
			 0);
	doc = json_loadb(text, len, 0, NULL);
	assert_non_null(doc);
	assert_int_equal(unbase64(jstr(doc, "userspace_log"), &b), 11);
	free(TAKE_PTR(text));
	{
		_cleanup_free_ char *big = calloc(1, SC_EVIDENCE_EVENTLOG_MAX + 1);

		assert_non_null(big);
		snprintf(p, sizeof(p), "%s/sys/kernel/security/tpm0/binary_bios_measurements", root);
		write_file(p, big, SC_EVIDENCE_EVENTLOG_MAX + 1);
	}
	assert_int_equal(sc_evidence_collect(&paths, tcti, nonce_a, STR_AND_LEN(report_a), &text, &len, why,
					     sizeof(why)),
			 -EFBIG);
	assert_non_null(strstr(why, "over its cap"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_payload_shape),
		cmocka_unit_test(test_open_refused),
		cmocka_unit_test(test_ak_same_name),
		cmocka_unit_test(test_pcr_read_many),
		cmocka_unit_test(test_quote_verifies),
		cmocka_unit_test(test_quote_bound_to_report),
		cmocka_unit_test(test_collect_end_to_end),
	};

	if (system("command -v swtpm >/dev/null 2>&1") != 0) {
		/* Under meson's TAP protocol an empty plan with SKIP is a skip (exit 77 would count as an error). */
		printf("1..0 # SKIP swtpm is not installed (apt-get install swtpm): no TPM to test against\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, start_swtpm, stop_swtpm);
}
