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
#include "probe-pcr11.h"
#include "sc-evidence.h"
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

/* ---- PCR 11 and PCR 9 event by event, on the fixture's real log ---- */

/* The fixture's .cmdline: the guest's /proc/cmdline in report.json without its "\n". */
static const char fixture_cmdline[] =
	"composefs=22daa96e4ac609226790fb237f8374c9f635abbf82f98b2b1649fd7d5872f36a24ade91129ce03d684084a4e30edcb2242d9af79e6d202b98326114905f0c07b"
	" console=ttyS0 panic=-1 loglevel=4";

static void hex32(const char *hex, uint8_t *out)
{
	for (size_t i = 0; i < 32; i++) {
		unsigned v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static struct probe_eventlog *fixture_log(struct fixture *f)
{
	struct probe_eventlog *log = NULL;
	uint8_t *raw = NULL;
	size_t len;

	assert_int_equal(probe_base64_decode(json_string_value(json_object_get(f->ev, "eventlog")), 1 << 20, &raw, &len), 0);
	assert_int_equal(probe_eventlog_parse(raw, len, &log, NULL, 0), 0);
	free(raw);
	return log;
}

/*
 * The prediction for the UKI that booted (not in the fixture: 17 MB). Name
 * digests are computed here, H(name + NUL); the .cmdline content digest from
 * the cmdline above; .linux, .osrel, .initrd content digests are the values
 * the host's prediction gave for that UKI (the same as the log's).
 */
static void fixture_pred(struct probe_pcr11 *p)
{
	static const char *const names[] = { ".linux", ".osrel", ".cmdline", ".initrd" };
	static const char *const data[] = {
		"fadf27c4528461030ddff1d20e6622f76e1e007f7c64796f5ad9b71e37267a6f",
		"0ddab6c200bde6478b6e0ac1f0af9249dc6de8850479b86497a0422ab3be0c56",
		NULL,
		"a3fe7d4742f78840301b9827247dfacf7a775d449957ab72cd79461bb164eb7d",
	};

	memset(p, 0, sizeof(*p));
	p->bank = PROBE_BANK_SHA256;
	p->digest_len = 32;
	p->stub_version = 252;
	for (unsigned i = 0; i < 4; i++) {
		struct probe_pcr11_event *e = &p->events[p->n_events++];

		strcpy(e->name, names[i]);
		assert_int_equal(probe_bank_hash(PROBE_BANK_SHA256, names[i], strlen(names[i]) + 1, e->name_digest), 0);
		if (data[i])
			hex32(data[i], e->data_digest);
		else
			assert_int_equal(probe_bank_hash(PROBE_BANK_SHA256, fixture_cmdline, strlen(fixture_cmdline), e->data_digest), 0);
		e->size = i == 2 ? strlen(fixture_cmdline) : 1u << 20;
	}
}

static void expect_why(int r, const char *why, const char *part)
{
	assert_int_equal(r, -EPERM);
	if (!strstr(why, part))
		fail_msg("'%s' lacks '%s'", why, part);
}

static void test_pcr11_events(void **state)
{
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	struct probe_pcr11 p, q;
	struct fixture f;
	char why[512];

	(void)state;
	load(&f);
	log = fixture_log(&f);
	fixture_pred(&p);
	assert_int_equal(probe_evidence_pcr11_events(log, &p, why, sizeof(why)), 0);

	/* Another .cmdline (composefs=? instead of the digest): its content event differs. */
	q = p;
	q.events[2].data_digest[0] ^= 1;
	expect_why(probe_evidence_pcr11_events(log, &q, why, sizeof(why)), why, "section .cmdline: the content digest");
	/* The host's UKI has a .splash the log never measured: missing. */
	q = p;
	q.events[4] = q.events[3];
	strcpy(q.events[3].name, ".splash");
	q.n_events = 5;
	expect_why(probe_evidence_pcr11_events(log, &q, why, sizeof(why)), why, "section .splash is missing");
	/* The host's UKI lacks .osrel: the log measures a section it does not have. */
	q = p;
	memmove(&q.events[1], &q.events[2], 2 * sizeof(q.events[0]));
	q.n_events = 3;
	expect_why(probe_evidence_pcr11_events(log, &q, why, sizeof(why)), why, "\".osrel\" is measured, which the sealed UKI does not have");
	/* Order: the host expects .initrd before .cmdline. */
	q = p;
	q.events[2] = p.events[3];
	q.events[3] = p.events[2];
	expect_why(probe_evidence_pcr11_events(log, &q, why, sizeof(why)), why, "section .initrd is missing (the log measures .cmdline next)");
	/* The log ends before the host's last section. */
	q = p;
	q.events[4] = p.events[3];
	strcpy(q.events[4].name, ".pcrpkey");
	q.n_events = 5;
	expect_why(probe_evidence_pcr11_events(log, &q, why, sizeof(why)), why, "section .pcrpkey is missing from the log");
	/* The log has more than the host's UKI: .initrd after the last predicted section. */
	q = p;
	q.n_events = 3;
	expect_why(probe_evidence_pcr11_events(log, &q, why, sizeof(why)), why, "after the sealed UKI's last section");
	unload(&f);
}

static bool pick_pcr11_osrel_data(const struct probe_event *e)
{
	static int seen;

	if (e->pcr != 11)
		return false;
	return ++seen == 4; /* .linux name, .linux data, .osrel name, .osrel data */
}

static void retype_to_action(uint8_t *log, size_t event_off, size_t data_off)
{
	(void)data_off;
	log[event_off + 4] = 0x05; /* eventType EV_ACTION */
}

/* The real log with one edit, its PCR 11 events against the prediction: refused, saying @want. */
static void expect_pcr11_edit(bool (*pick)(const struct probe_event *e),
			      void (*edit)(uint8_t *log, size_t event_off, size_t data_off), const char *want)
{
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	struct probe_pcr11 p;
	struct fixture f;
	char why[512];

	load(&f);
	edit_log(&f, pick, edit);
	log = fixture_log(&f);
	fixture_pred(&p);
	expect_why(probe_evidence_pcr11_events(log, &p, why, sizeof(why)), why, want);
	unload(&f);
}

static void test_pcr11_event_of_another_type(void **state)
{
	(void)state;
	expect_pcr11_edit(pick_pcr11_osrel_data, retype_to_action, "content event of section .osrel is of type 0x5");
}

static bool pick_pcr11_first(const struct probe_event *e)
{
	return e->pcr == 11;
}

static void relabel_to_dtb(uint8_t *log, size_t event_off, size_t data_off)
{
	(void)event_off;
	memcpy(log + data_off, ".\0d\0t\0b\0", 8); /* ".dtbux" */
}

static void test_pcr11_unknown_section(void **state)
{
	(void)state;
	expect_pcr11_edit(pick_pcr11_first, relabel_to_dtb, "\".dtbux\" is measured");
}

static void test_pcr9_events(void **state)
{
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	const uint8_t *cmd = (const uint8_t *)fixture_cmdline;
	uint8_t padded[256] = { 0 };
	struct probe_pcr11 p, q;
	struct fixture f;
	char why[512];

	(void)state;
	load(&f);
	log = fixture_log(&f);
	fixture_pred(&p);
	/* The known answer: the kernel measured UTF-16LE(.cmdline) + NUL and the .initrd content. */
	assert_int_equal(probe_evidence_pcr9_events(log, cmd, strlen(fixture_cmdline), &p, why, sizeof(why)), 0);
	/* Zero padding after the text (VirtualSize past it) changes nothing: the stub stops at the NUL. */
	memcpy(padded, fixture_cmdline, strlen(fixture_cmdline));
	p.events[2].size = sizeof(padded);
	assert_int_equal(probe_evidence_pcr9_events(log, padded, sizeof(padded), &p, why, sizeof(why)), 0);
	/* Another cmdline than the one the stub passed. */
	padded[10] = 'X';
	expect_why(probe_evidence_pcr9_events(log, padded, sizeof(padded), &p, why, sizeof(why)), why,
		   "\"LOADED_IMAGE::LoadOptions\" is not the sealed UKI's .cmdline");
	/* Another initrd. */
	q = p;
	q.events[3].data_digest[31] ^= 0x80;
	expect_why(probe_evidence_pcr9_events(log, cmd, strlen(fixture_cmdline), &q, why, sizeof(why)), why,
		   "\"Linux initrd\" is not the sealed UKI's .initrd");
	/* A UKI without .cmdline accounts for no LoadOptions event. */
	expect_why(probe_evidence_pcr9_events(log, NULL, 0, &p, why, sizeof(why)), why, "the log has \"LOADED_IMAGE::LoadOptions\"");
	/* Nor, without .initrd, for the initrd. */
	q = p;
	q.n_events = 3;
	expect_why(probe_evidence_pcr9_events(log, cmd, strlen(fixture_cmdline), &q, why, sizeof(why)), why, "an extra \"Linux initrd\"");
	unload(&f);
}

static bool pick_pcr9_initrd(const struct probe_event *e)
{
	return e->pcr == 9 && e->data_len == 21;
}

static void retag(uint8_t *log, size_t event_off, size_t data_off)
{
	(void)event_off;
	log[data_off] ^= 0x10; /* taggedEventID 0x8f3b22fc */
}

static void test_pcr9_unknown_event(void **state)
{
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	struct probe_pcr11 p;
	struct fixture f;
	char why[512];

	(void)state;
	load(&f);
	edit_log(&f, pick_pcr9_initrd, retag);
	log = fixture_log(&f);
	fixture_pred(&p);
	expect_why(probe_evidence_pcr9_events(log, (const uint8_t *)fixture_cmdline, strlen(fixture_cmdline), &p, why, sizeof(why)),
		   why, "unknown tagged event 0x8f3b22fc");
	unload(&f);
}

/* ---- systemd's userspace log (systemd 253+ tpm2_userspace_log()) ---- */

static size_t add_record(char *buf, size_t off, unsigned pcr, const char *word, const char *sha256_hex, const char *extra)
{
	return off + (size_t)sprintf(buf + off,
				     "\x1e{\"pcr\":%u,\"digests\":[{\"hashAlg\":\"sha256\",\"digest\":\"%s\"}],\"content_type\":\"systemd\","
				     "\"content\":{\"string\":\"%s\",\"bootId\":\"0123456789abcdef0123456789abcdef\",\"timestamp\":7%s}}\n",
				     pcr, sha256_hex, word, extra);
}

static void sha256_hex(const char *word, char *out)
{
	uint8_t d[32];

	assert_int_equal(probe_bank_hash(PROBE_BANK_SHA256, word, strlen(word), d), 0);
	for (size_t i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_userlog(void **state)
{
	char buf[8192], h_sysinit[65], h_ready[65], h_other[65], why[512];
	struct probe_userlog ul;
	size_t n;

	(void)state;
	sha256_hex("sysinit", h_sysinit);
	sha256_hex("ready", h_ready);
	sha256_hex("machine-id:x", h_other);
	/* Phase words in order, a PCR 15 record (not quoted) counted and left out. */
	n = add_record(buf, 0, 11, "sysinit", h_sysinit, ",\"eventType\":\"phase\"");
	n = add_record(buf, n, 15, "machine-id:x", h_other, "");
	n = add_record(buf, n, 11, "ready", h_ready, "");
	assert_int_equal(probe_userlog_parse((uint8_t *)buf, n, &ul, why, sizeof(why)), 0);
	assert_int_equal(ul.n_phases, 2);
	assert_string_equal(ul.phases[0], "sysinit");
	assert_string_equal(ul.phases[1], "ready");
	assert_int_equal(ul.n_records, 3);
	assert_int_equal(ul.n_ignored, 1);
	assert_int_equal(probe_userlog_parse((uint8_t *)buf, 0, &ul, why, sizeof(why)), 0);
	assert_int_equal(ul.n_phases, 0);

	/* A digest that is not H(word). */
	n = add_record(buf, 0, 11, "sysinit", h_ready, "");
	assert_int_equal(probe_userlog_parse((uint8_t *)buf, n, &ul, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "not H(\"sysinit\")"));
	/* A word systemd-pcrphase does not have. */
	n = add_record(buf, 0, 11, "sysinit2", h_sysinit, "");
	assert_int_equal(probe_userlog_parse((uint8_t *)buf, n, &ul, why, sizeof(why)), -EPERM);
	/* A record for a quoted PCR other than 11. */
	n = add_record(buf, 0, 9, "sysinit", h_sysinit, "");
	assert_int_equal(probe_userlog_parse((uint8_t *)buf, n, &ul, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "PCR 9"));
	/* Another event type for a phase word. */
	n = add_record(buf, 0, 11, "ready", h_ready, ",\"eventType\":\"volume-key\"");
	assert_int_equal(probe_userlog_parse((uint8_t *)buf, n, &ul, why, sizeof(why)), -EPERM);
	/* Truncated (no LF), no RS, an unknown key, a duplicate key, two sha256 digests. */
	n = add_record(buf, 0, 11, "ready", h_ready, "");
	assert_int_equal(probe_userlog_parse((uint8_t *)buf, n - 1, &ul, why, sizeof(why)), -EBADMSG);
	assert_int_equal(probe_userlog_parse((uint8_t *)buf + 1, n - 1, &ul, why, sizeof(why)), -EBADMSG);
	n = add_record(buf, 0, 11, "ready", h_ready, ",\"x\":1");
	assert_int_equal(probe_userlog_parse((uint8_t *)buf, n, &ul, why, sizeof(why)), -EBADMSG);
	n = add_record(buf, 0, 11, "ready", h_ready, ",\"timestamp\":8");
	assert_int_equal(probe_userlog_parse((uint8_t *)buf, n, &ul, why, sizeof(why)), -EBADMSG);
	n = (size_t)sprintf(buf, "\x1e{\"pcr\":11,\"digests\":[{\"hashAlg\":\"sha256\",\"digest\":\"%s\"},{\"hashAlg\":\"sha256\",\"digest\":\"%s\"}],"
				 "\"content_type\":\"systemd\",\"content\":{\"string\":\"ready\"}}\n", h_ready, h_ready);
	assert_int_equal(probe_userlog_parse((uint8_t *)buf, n, &ul, why, sizeof(why)), -EBADMSG);
	/* Caps: more PCR 11 records than phase words fit, more records than allowed. */
	n = 0;
	for (unsigned i = 0; i <= PROBE_PCR11_MAX_PHASES; i++)
		n = add_record(buf, n, 11, "ready", h_ready, "");
	assert_int_equal(probe_userlog_parse((uint8_t *)buf, n, &ul, why, sizeof(why)), -EMSGSIZE);
	{
		_cleanup_free_ char *big = malloc(2 * SC_EVIDENCE_USERLOG_MAX);

		assert_non_null(big);
		memset(big, 0x1e, SC_EVIDENCE_USERLOG_MAX + 1);
		assert_int_equal(probe_userlog_parse((uint8_t *)big, SC_EVIDENCE_USERLOG_MAX + 1, &ul, why, sizeof(why)), -EMSGSIZE);
		n = 0;
		for (unsigned i = 0; i <= PROBE_USERLOG_RECORDS_MAX; i++)
			n += (size_t)sprintf(big + n, "\x1e{\"pcr\":15,\"digests\":[{\"hashAlg\":\"sha1\",\"digest\":\"%040d\"}],"
						      "\"content_type\":\"systemd\",\"content\":{}}\n", 0);
		assert_true(n <= SC_EVIDENCE_USERLOG_MAX);
		assert_int_equal(probe_userlog_parse((uint8_t *)big, n, &ul, why, sizeof(why)), -EMSGSIZE);
		assert_non_null(strstr(why, "more than"));
	}
}

static void test_userlog_in_evidence(void **state)
{
	struct fixture f;
	char buf[1024], h[65];
	size_t n;
	json_t *links;
	char *b64;

	(void)state;
	load(&f);
	/* A userspace log claiming a phase word the quoted PCR 11 does not hold. */
	sha256_hex("sysinit", h);
	n = add_record(buf, 0, 11, "sysinit", h, "");
	b64 = malloc(4 * ((n + 2) / 3) + 1);
	assert_non_null(b64);
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)buf, (int)n);
	json_object_set_new(f.ev, "userspace_log", json_string(b64));
	free(b64);
	links = verify(&f);
	expect(links, "ppff", "userspace log's 1 phase word(s) do not replay");
	unload(&f);
	load(&f);
	json_object_set_new(f.ev, "userspace_log", json_string("AAAA"));
	expect(verify(&f), "ppff", "does not start with RS");
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
		cmocka_unit_test(test_pcr11_events), cmocka_unit_test(test_pcr11_event_of_another_type),
		cmocka_unit_test(test_pcr11_unknown_section), cmocka_unit_test(test_pcr9_events),
		cmocka_unit_test(test_pcr9_unknown_event), cmocka_unit_test(test_userlog),
		cmocka_unit_test(test_userlog_in_evidence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
