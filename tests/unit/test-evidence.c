/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's verification of TPM evidence, on a real evidence document from
 * one boot (tests/fixtures/evidence/README.md), then with one thing broken
 * at a time: each must fail the named link, and only the links that depend
 * on it.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "probe-eventlog.h"
#include "probe-evidence.h"
#include "probe-policy.h"
#include "probe-tpm.h"
#include "sc-fileio.h"
#include "sc-json.h"
#include "sc-macro.h"

#define DIR FIXTURES_DIR "/evidence/"

struct fixture {
	json_t *ev;
	char *report;
	size_t report_len;
	char nonce[65];
	uint8_t *pk, *kek, *db;
	size_t pk_len, kek_len, db_len;
	struct probe_tpm_public ak;
	struct probe_policy policy;
};

static void load(struct fixture *f)
{
	_cleanup_free_ char *buf = NULL, *nonce = NULL;
	uint8_t *ak = NULL;
	size_t len, ak_len;

	memset(f, 0, sizeof(*f));
	assert_int_equal(sc_read_file_capped(DIR "evidence.json", 1 << 20, &buf, &len), 0);
	f->ev = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(f->ev);
	assert_int_equal(sc_read_file_capped(DIR "report.json", 1 << 20, &f->report, &f->report_len), 0);
	assert_int_equal(sc_read_file_capped(DIR "nonce", 128, &nonce, &len), 0);
	assert_true(len >= 64);
	memcpy(f->nonce, nonce, 64);
	f->nonce[64] = '\0';
	assert_int_equal(probe_cert_der(DIR "PK.crt", &f->pk, &f->pk_len), 0);
	assert_int_equal(probe_cert_der(DIR "KEK.crt", &f->kek, &f->kek_len), 0);
	assert_int_equal(probe_cert_der(DIR "db.crt", &f->db, &f->db_len), 0);
	/* The pinned Name: here the AK's own (the host derives it from the TPM it owns). */
	assert_int_equal(probe_base64_decode(json_string_value(json_object_get(f->ev, "ak_public")), 1024, &ak, &ak_len), 0);
	assert_int_equal(probe_tpm2b_public_parse(ak, ak_len, &f->ak, NULL, 0), 0);
	free(ak);
	probe_policy_init(&f->policy);
}

static void unload(struct fixture *f)
{
	json_decref(f->ev);
	free(f->report);
	free(f->pk);
	free(f->kek);
	free(f->db);
}

static json_t *verify(struct fixture *f)
{
	struct probe_evidence_expect x = {
		.nonce = f->nonce, .report = (const uint8_t *)f->report, .report_len = f->report_len,
		.ak_name = f->ak.name, .ak_name_len = f->ak.name_len, .uki_path = NULL, .policy = &f->policy,
		.pk = f->pk, .pk_len = f->pk_len, .kek = f->kek, .kek_len = f->kek_len, .db = f->db, .db_len = f->db_len,
	};
	json_t *links = probe_evidence_verify(f->ev, &x, NULL);

	assert_non_null(links);
	return links;
}

static const char *status_of(json_t *links, const char *link)
{
	size_t i;
	json_t *l;

	json_array_foreach(links, i, l)
		if (strcmp(json_string_value(json_object_get(l, "link")), link) == 0)
			return json_string_value(json_object_get(l, "status"));
	return "absent";
}

static const char *reason_of(json_t *links, const char *link)
{
	size_t i;
	json_t *l;

	json_array_foreach(links, i, l)
		if (strcmp(json_string_value(json_object_get(l, "link")), link) == 0)
			return json_string_value(json_object_get(l, "reason"));
	return "";
}

/* @want: the expected status of binding, quote, eventlog, secure_boot ("p" proven, "f" failed). */
static void expect(json_t *links, const char *want, const char *failed_reason_part)
{
	static const char *const names[] = { "tpm:binding", "tpm:quote", "tpm:eventlog", "tpm:secure_boot" };

	for (size_t i = 0; i < 4; i++) {
		const char *st = status_of(links, names[i]);
		bool proven = strcmp(st, "proven") == 0;

		if (proven != (want[i] == 'p'))
			fail_msg("%s is %s (%s), want %s", names[i], st, reason_of(links, names[i]),
				 want[i] == 'p' ? "proven" : "failed");
	}
	if (failed_reason_part) {
		bool found = false;
		size_t i;
		json_t *l;

		json_array_foreach(links, i, l)
			found |= strstr(json_string_value(json_object_get(l, "reason")), failed_reason_part) != NULL;
		if (!found)
			fail_msg("no link says '%s'", failed_reason_part);
	}
	json_decref(links);
}

static void test_real_evidence(void **state)
{
	struct fixture f;
	json_t *links;

	(void)state;
	load(&f);
	links = verify(&f);
	/* Without the UKI the host built, PCR 11 and the cmdline cannot be proven: they fail, never pass. */
	assert_string_equal(status_of(links, "tpm:pcr11"), "failed");
	assert_string_equal(status_of(links, "tpm:cmdline"), "failed");
	expect(links, "pppp", NULL);
	unload(&f);
}

static void test_replay(void **state)
{
	struct fixture f;

	(void)state;
	load(&f);
	/* The same evidence offered for a fresh nonce: a replay. */
	f.nonce[0] = f.nonce[0] == 'a' ? 'b' : 'a';
	expect(verify(&f), "ffff", "extra-data");
	unload(&f);
}

static void test_report_swapped(void **state)
{
	struct fixture f;
	char *p;

	(void)state;
	load(&f);
	/* Another report under the same, valid quote: one byte of the claims changed. */
	p = strstr(f.report, "\"pass\"");
	assert_non_null(p);
	memcpy(p, "\"fail\"", 6);
	expect(verify(&f), "ffff", "other report bytes");
	unload(&f);
}

static void test_pcr_edited(void **state)
{
	struct fixture f;
	json_t *bank;

	(void)state;
	load(&f);
	bank = json_object_get(json_object_get(f.ev, "pcrs"), "sha256");
	json_object_set_new(bank, "7", json_string("65caf8dd1e0ea7a6347b635d2b379c93b9a1351edc2afc3ecda700e534eb3068"));
	expect(verify(&f), "pfff", "pcr-digest");
	unload(&f);
}

/* The log re-encoded with one change made by @edit at the event @pick chooses. */
static void edit_log(struct fixture *f, bool (*pick)(const struct probe_event *e),
		     void (*edit)(uint8_t *log, size_t event_off, size_t data_off))
{
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	uint8_t *raw = NULL;
	size_t len;
	char *b64;
	bool done = false;

	assert_int_equal(probe_base64_decode(json_string_value(json_object_get(f->ev, "eventlog")), 1 << 20, &raw, &len), 0);
	assert_int_equal(probe_eventlog_parse(raw, len, &log, NULL, 0), 0);
	for (size_t i = 0; i < log->n_events && !done; i++)
		if (pick(&log->events[i])) {
			edit(raw, log->events[i].offset, (size_t)(log->events[i].data - log->buf));
			done = true;
		}
	assert_true(done);
	b64 = malloc(4 * ((len + 2) / 3) + 1);
	assert_non_null(b64);
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)len);
	json_object_set_new(f->ev, "eventlog", json_string(b64));
	free(b64);
	free(raw);
}

static bool pick_db(const struct probe_event *e)
{
	return e->pcr == 7 && e->type == PROBE_EV_EFI_VARIABLE_DRIVER_CONFIG && e->data_len > 100;
}

static void flip_data(uint8_t *log, size_t event_off, size_t data_off)
{
	(void)event_off;
	log[data_off + 60] ^= 0x01;
}

static bool pick_pcr4(const struct probe_event *e)
{
	return e->pcr == 4;
}

static void relabel_to_pcr5(uint8_t *log, size_t event_off, size_t data_off)
{
	(void)data_off;
	log[event_off] = 5; /* pcrIndex, little-endian */
}

static void test_event_altered(void **state)
{
	struct fixture f;

	(void)state;
	load(&f);
	edit_log(&f, pick_db, flip_data);
	/* The digest still replays (only the data changed): the PCR 7 rule digest == H(data) catches it. */
	expect(verify(&f), "pppf", NULL);
	unload(&f);
}

static void test_event_relabelled(void **state)
{
	struct fixture f;

	(void)state;
	load(&f);
	edit_log(&f, pick_pcr4, relabel_to_pcr5);
	expect(verify(&f), "ppff", "PCR");
	unload(&f);
}

static void test_untrusted_ak(void **state)
{
	struct fixture f;

	(void)state;
	load(&f);
	f.ak.name[f.ak.name_len - 1] ^= 0xff;
	expect(verify(&f), "pfff", "ak-name");
	unload(&f);
}

static void test_keys_not_the_hosts(void **state)
{
	struct fixture f;
	uint8_t *tmp;
	size_t n;

	(void)state;
	load(&f);
	/* The host expects its PK in db: the measured db is not what it enrolled. */
	tmp = f.db;
	n = f.db_len;
	f.db = f.pk;
	f.db_len = f.pk_len;
	expect(verify(&f), "pppf", "not what the host enrolled");
	f.db = tmp;
	f.db_len = n;
	unload(&f);
}

static void test_malformed(void **state)
{
	struct fixture f;

	(void)state;
	load(&f);
	json_object_set_new(f.ev, "extra", json_true());
	expect(verify(&f), "ffff", "malformed");
	unload(&f);
	load(&f);
	json_object_set_new(f.ev, "quote", json_string("not base64!"));
	expect(verify(&f), "ffff", "malformed");
	unload(&f);
	load(&f);
	json_object_del(json_object_get(json_object_get(f.ev, "pcrs"), "sha256"), "12");
	expect(verify(&f), "ffff", "malformed");
	unload(&f);
}

static void test_base64(void **state)
{
	uint8_t *out = NULL;
	size_t len;

	(void)state;
	assert_int_equal(probe_base64_decode("aGVsbG8=", 16, &out, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);
	assert_int_equal(probe_base64_decode("", 16, &out, &len), 0);
	assert_int_equal(len, 0);
	free(out);
	assert_int_equal(probe_base64_decode("aGVsbG9=", 16, &out, &len), -EBADMSG); /* non-zero padding bits */
	assert_int_equal(probe_base64_decode("aGVs bG8=", 16, &out, &len), -EBADMSG);
	assert_int_equal(probe_base64_decode("aGVsbG8", 16, &out, &len), -EBADMSG);
	assert_int_equal(probe_base64_decode("a=Vs", 16, &out, &len), -EBADMSG);
	assert_int_equal(probe_base64_decode("aGVsbG8=", 4, &out, &len), -EMSGSIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_evidence), cmocka_unit_test(test_replay),
		cmocka_unit_test(test_report_swapped), cmocka_unit_test(test_pcr_edited),
		cmocka_unit_test(test_event_altered), cmocka_unit_test(test_event_relabelled),
		cmocka_unit_test(test_untrusted_ak), cmocka_unit_test(test_keys_not_the_hosts),
		cmocka_unit_test(test_malformed), cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
