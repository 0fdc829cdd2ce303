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

#include "sc-base64.h"
#include "probe-eventlog.h"
#include "probe-evidence.h"
#include "probe-gpt.h"
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
	struct probe_sb_reference sb;
	struct probe_boot_chain chain;
	struct probe_tpm_public ak;
	struct probe_policy policy;
};

/*
 * The boot chain of the fixture's boot: the sealed UKI of that build is not
 * kept (tests/fixtures/evidence/README.md), so its Authenticode digest is the
 * one OVMF measured into PCR 4 in this very log, and its authority the key
 * directory's db entry (the UKI was signed by db.crt). The VM tests prove the
 * digest the host computes from a UKI it built (tpm:pcr4 in tests/vm/test-tpm.sh).
 */
static void fixture_chain(struct fixture *f)
{
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	struct probe_pe_cert db = { 0 };
	uint8_t *raw = NULL;
	size_t len;
	bool found = false;

	memset(&f->chain, 0, sizeof(f->chain));
	assert_int_equal(sc_base64_decode(json_string_value(json_object_get(f->ev, "eventlog")), 1 << 20, &raw, &len), 0);
	assert_int_equal(probe_eventlog_parse(raw, len, &log, NULL, 0), 0);
	for (size_t i = 0; i < log->n_events; i++)
		if (log->events[i].pcr == 4 && log->events[i].type == PROBE_EV_EFI_BOOT_SERVICES_APPLICATION) {
			assert_false(found);
			memcpy(f->chain.apps[0].authenticode_sha256, log->events[i].digests[0], 32);
			found = true;
		}
	assert_true(found);
	free(raw);
	snprintf(f->chain.apps[0].what, sizeof(f->chain.apps[0].what), "the sealed UKI");
	assert_int_equal(probe_cert_der(DIR "db.crt", &db.der, &db.len), 0);
	assert_int_equal(probe_sb_db_authority(&f->sb, &db, 1, &f->chain.apps[0].authority, &f->chain.apps[0].authority_len), 0);
	free(db.der);
	f->chain.n = 1;
}

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
	assert_int_equal(probe_sb_reference_load(FIXTURES_DIR "/evidence", &f->sb, NULL, 0), 0);
	/* The pinned Name: here the AK's own (the host derives it from the TPM it owns). */
	assert_int_equal(sc_base64_decode(json_string_value(json_object_get(f->ev, "ak_public")), 1024, &ak, &ak_len), 0);
	assert_int_equal(probe_tpm2b_public_parse(ak, ak_len, &f->ak, NULL, 0), 0);
	free(ak);
	probe_policy_init(&f->policy);
	fixture_chain(f);
}

static void unload(struct fixture *f)
{
	json_decref(f->ev);
	free(f->report);
	probe_sb_reference_done(&f->sb);
}

static json_t *verify(struct fixture *f)
{
	struct probe_evidence_expect x = {
		.nonce = f->nonce, .report = (const uint8_t *)f->report, .report_len = f->report_len,
		.ak_name = f->ak.name, .ak_name_len = f->ak.name_len, .uki_path = NULL, .policy = &f->policy,
		.sb = &f->sb, .chain = &f->chain,
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

	assert_int_equal(sc_base64_decode(json_string_value(json_object_get(f->ev, "eventlog")), 1 << 20, &raw, &len), 0);
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
	tmp = f.sb.esl[PROBE_SB_DB];
	n = f.sb.esl_len[PROBE_SB_DB];
	f.sb.esl[PROBE_SB_DB] = f.sb.esl[PROBE_SB_PK];
	f.sb.esl_len[PROBE_SB_DB] = f.sb.esl_len[PROBE_SB_PK];
	expect(verify(&f), "pppf", "PCR 7: db entry 1 is the certificate \"CN=sealcheck demo db\", not the certificate \"CN=sealcheck demo PK\"");
	f.sb.esl[PROBE_SB_DB] = tmp;
	f.sb.esl_len[PROBE_SB_DB] = n;
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

	assert_int_equal(sc_base64_decode(json_string_value(json_object_get(f->ev, "eventlog")), 1 << 20, &raw, &len), 0);
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
	/* systemd-stub 252 passes its .initrd alone: what the kernel measures into PCR 9. */
	p->has_initrd = true;
	memcpy(p->initrd_sha256, p->events[3].data_digest, 32);
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
	q.has_initrd = false;
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
	/* The stub's mangling (src/boot/util.c mangle_stub_cmdline()): control bytes as spaces, leading and
	 * trailing ones dropped; a .cmdline written with a newline and a tab passes what the kernel measured. */
	{
		char mangle[256];
		struct probe_pcr11 m = p;

		snprintf(mangle, sizeof(mangle), "\t %s\n", fixture_cmdline);
		*strchr(mangle + 2, ' ') = '\x01';
		m.events[2].size = strlen(mangle);
		assert_int_equal(probe_evidence_pcr9_events(log, (const uint8_t *)mangle, strlen(mangle), &m, why, sizeof(why)), 0);
		/* Without that mangling, a byte more: another cmdline. */
		*strchr(mangle, '\x01') = 'x';
		expect_why(probe_evidence_pcr9_events(log, (const uint8_t *)mangle, strlen(mangle), &m, why, sizeof(why)), why,
			   "is not the sealed UKI's .cmdline");
	}
	/* Another cmdline than the one the stub passed. */
	padded[10] = 'X';
	expect_why(probe_evidence_pcr9_events(log, padded, sizeof(padded), &p, why, sizeof(why)), why,
		   "\"LOADED_IMAGE::LoadOptions\" is not the sealed UKI's .cmdline");
	/* Another initrd. */
	q = p;
	q.initrd_sha256[31] ^= 0x80;
	expect_why(probe_evidence_pcr9_events(log, cmd, strlen(fixture_cmdline), &q, why, sizeof(why)), why,
		   "\"Linux initrd\" is not the sealed UKI's .initrd");
	/* A UKI without .cmdline accounts for no LoadOptions event. */
	expect_why(probe_evidence_pcr9_events(log, NULL, 0, &p, why, sizeof(why)), why, "the log has \"LOADED_IMAGE::LoadOptions\"");
	/* Nor, without .initrd, for the initrd. */
	q = p;
	q.n_events = 3;
	q.has_initrd = false;
	expect_why(probe_evidence_pcr9_events(log, cmd, strlen(fixture_cmdline), &q, why, sizeof(why)), why, "an extra \"Linux initrd\"");
	unload(&f);
}

/*
 * PCR 5 of a real boot of the bootc-shaped disk (systemd-boot 257, OVMF,
 * swtpm: fixtures/evidence/bootc-257.eventlog): the separator, the GPT, the
 * loader.conf systemd-boot measured, ExitBootServices and its success. The
 * GPT the host computes from that disk's first sectors
 * (fixtures/disk/bootc-gpt-head.bin, the same disk) is the one measured.
 */
static struct probe_eventlog *bootc_log(uint8_t **raw, size_t *len)
{
	struct probe_eventlog *log = NULL;

	assert_int_equal(sc_read_file_capped(FIXTURES_DIR "/evidence/bootc-257.eventlog", 1 << 20, (char **)raw, len), 0);
	assert_int_equal(probe_eventlog_parse(*raw, *len, &log, NULL, 0), 0);
	return log;
}

static void expect_pcr5(const uint8_t *raw, size_t len, bool boot_loader, const struct probe_pcr5_expect *x, const char *part)
{
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	char why[512] = "";

	assert_int_equal(probe_eventlog_parse(raw, len, &log, NULL, 0), 0);
	if (!part) {
		if (probe_evidence_pcr5_events(log, boot_loader, x, why, sizeof(why)) != 0)
			fail_msg("%s", why);
		return;
	}
	expect_why(probe_evidence_pcr5_events(log, boot_loader, x, why, sizeof(why)), why, part);
}

static uint32_t le32p(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The offset of PCR 5's event of @type in @raw (a crypto-agile log with sha1 and sha256), its data after it. */
static size_t find_event(const uint8_t *raw, size_t len, uint32_t type, size_t *data_off)
{
	size_t o = 8 + 20;

	o += 4 + le32p(raw + o);
	while (o + 12 <= len) {
		size_t start = o, n;
		uint32_t pcr = le32p(raw + o), t = le32p(raw + o + 4), cnt = le32p(raw + o + 8);

		o += 12;
		for (uint32_t i = 0; i < cnt; i++)
			o += 2 + ((raw[o] | raw[o + 1] << 8) == 0x000b ? 32 : 20);
		n = le32p(raw + o);
		if (pcr == 5 && t == type) {
			*data_off = o + 4;
			return start;
		}
		o += 4 + n;
	}
	fail_msg("no PCR 5 event of type %#x", type);
	return 0;
}

static void test_pcr5_events(void **state)
{
	_cleanup_free_ uint8_t *raw = NULL, *head = NULL, *gpt = NULL, *copy = NULL;
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	struct probe_pcr5_expect x = { .gpt_known = true, .loader_conf = true }, y;
	uint8_t h[PROBE_TPM_HASH_MAX];
	size_t len, head_len, gpt_len, data;
	char why[512];

	(void)state;
	log = bootc_log(&raw, &len);
	assert_int_equal(sc_read_file_capped(FIXTURES_DIR "/disk/bootc-gpt-head.bin", PROBE_GPT_HEAD_MAX, (char **)&head, &head_len), 0);
	assert_int_equal(probe_gpt_event_data(head, head_len, &gpt, &gpt_len), 0);
	assert_int_equal(gpt_len, 92 + 8 + 3 * 128); /* BIOS-BOOT, ESP, root */
	assert_int_equal(probe_tpm_hash(PROBE_TPM_ALG_SHA256, gpt, gpt_len, h), 0);
	memcpy(x.gpt_sha256, h, 32);
	assert_int_equal(probe_tpm_hash(PROBE_TPM_ALG_SHA256, "timeout 5\n", 10, h), 0); /* bootc's loader.conf */
	memcpy(x.loader_conf_sha256, h, 32);
	/* The real boot, exactly as the host read the disk; and with nothing known but the boot loader. */
	assert_int_equal(probe_evidence_pcr5_events(log, true, &x, why, sizeof(why)), 0);
	assert_int_equal(probe_evidence_pcr5_events(log, true, NULL, why, sizeof(why)), 0);
	/* A loader.conf measurement where no boot loader ran (the chain is the UKI alone). */
	expect_pcr5(raw, len, false, NULL, "where no boot loader runs before the UKI");
	/* Another loader.conf than the ESP's; none on the ESP; another GPT than the disk's. */
	y = x;
	y.loader_conf_sha256[0] ^= 1;
	expect_pcr5(raw, len, true, &y, "is not the one on the disk's ESP");
	y = x;
	y.loader_conf = false;
	expect_pcr5(raw, len, true, &y, "the disk's ESP has none");
	y = x;
	y.gpt_sha256[31] ^= 1;
	expect_pcr5(raw, len, true, &y, "not the disk's the host read");
	/* The tagged event relabelled: another tag than systemd-boot's loader.conf. */
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, raw, len);
	(void)find_event(copy, len, PROBE_EV_EVENT_TAG, &data);
	copy[data + 4] ^= 1;
	expect_pcr5(copy, len, true, NULL, "that is not systemd-boot's loader.conf");
	/* The GPT event retyped as an unknown event: PCR 5 still replays, the type is not allowed. */
	memcpy(copy, raw, len);
	copy[find_event(copy, len, 0x80000006u, &data) + 4] = 0x09;
	expect_pcr5(copy, len, true, NULL, "event type 0x80000009");
	/* The GPT retyped as a second separator. */
	memcpy(copy, raw, len);
	memcpy(copy + find_event(copy, len, 0x80000006u, &data) + 4, "\x04\0\0\0", 4);
	expect_pcr5(copy, len, true, NULL, "a second separator");
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
	assert_int_equal(sc_base64_decode("aGVsbG8=", 16, &out, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);
	assert_int_equal(sc_base64_decode("", 16, &out, &len), 0);
	assert_int_equal(len, 0);
	free(out);
	assert_int_equal(sc_base64_decode("aGVsbG9=", 16, &out, &len), -EBADMSG); /* non-zero padding bits */
	assert_int_equal(sc_base64_decode("aGVs bG8=", 16, &out, &len), -EBADMSG);
	assert_int_equal(sc_base64_decode("aGVsbG8", 16, &out, &len), -EBADMSG);
	assert_int_equal(sc_base64_decode("a=Vs", 16, &out, &len), -EBADMSG);
	assert_int_equal(sc_base64_decode("aGVsbG8=", 4, &out, &len), -EMSGSIZE);
}

/*
 * An attacker's log, as firmware and a rooted OS would really produce it: the
 * fixture's events re-encoded with changes, each PCR 7 event's digest the hash
 * of its data (as the firmware extends it), so the log is consistent with the
 * PCRs such a boot would quote. The PCR 7 and PCR 4 rules must refuse it.
 */
struct ev {
	uint32_t pcr, type;
	uint8_t digest[32];
	uint8_t *data;
	uint32_t len;
};
struct evlist {
	uint8_t *head; /* the Spec ID event, verbatim */
	size_t head_len;
	size_t n;
	struct ev e[128];
};

static void evlist_load(struct fixture *f, struct evlist *l)
{
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	uint8_t *raw = NULL;
	size_t len;

	memset(l, 0, sizeof(*l));
	assert_int_equal(sc_base64_decode(json_string_value(json_object_get(f->ev, "eventlog")), 1 << 20, &raw, &len), 0);
	assert_int_equal(probe_eventlog_parse(raw, len, &log, NULL, 0), 0);
	assert_int_equal(log->n_algs, 1);
	l->head_len = log->events[0].offset;
	l->head = malloc(l->head_len);
	assert_non_null(l->head);
	memcpy(l->head, raw, l->head_len);
	for (size_t i = 0; i < log->n_events; i++) {
		struct ev *e = &l->e[l->n++];

		assert_true(l->n < 128);
		e->pcr = log->events[i].pcr;
		e->type = log->events[i].type;
		memcpy(e->digest, log->events[i].digests[0], 32);
		e->len = log->events[i].data_len;
		e->data = malloc(e->len + 1);
		memcpy(e->data, log->events[i].data, e->len);
	}
	free(raw);
}

static void evlist_free(struct evlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].data);
	free(l->head);
}

/* Insert a copy of @src at @at, its data replaced by @data (hashed into its digest) unless NULL. */
static void evlist_insert(struct evlist *l, size_t at, const struct ev *src, const uint8_t *data, uint32_t len)
{
	struct ev n = *src;

	assert_true(l->n + 1 < 128 && at <= l->n);
	if (data) {
		n.len = len;
		assert_int_equal(probe_bank_hash(PROBE_BANK_SHA256, data, len, n.digest), 0);
	} else
		data = src->data;
	n.data = malloc(n.len + 1);
	memcpy(n.data, data, n.len);
	memmove(&l->e[at + 1], &l->e[at], (l->n - at) * sizeof(l->e[0]));
	l->e[at] = n;
	l->n++;
}

static size_t evlist_find(const struct evlist *l, uint32_t pcr, uint32_t type, size_t nth)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->e[i].pcr == pcr && l->e[i].type == type && nth-- == 0)
			return i;
	fail_msg("no event %u/0x%x", pcr, type);
	return 0;
}

static struct probe_eventlog *evlist_parse(const struct evlist *l)
{
	struct probe_eventlog *log = NULL;
	size_t len = l->head_len, o;
	uint8_t *buf;

	for (size_t i = 0; i < l->n; i++)
		len += 4 + 4 + 4 + 2 + 32 + 4 + l->e[i].len;
	buf = malloc(len);
	assert_non_null(buf);
	memcpy(buf, l->head, l->head_len);
	o = l->head_len;
	for (size_t i = 0; i < l->n; i++) {
		const struct ev *e = &l->e[i];
		uint32_t one = 1, len32 = e->len;
		uint16_t alg = PROBE_TPM_ALG_SHA256;

		memcpy(buf + o, &e->pcr, 4), o += 4;
		memcpy(buf + o, &e->type, 4), o += 4;
		memcpy(buf + o, &one, 4), o += 4;
		memcpy(buf + o, &alg, 2), o += 2;
		memcpy(buf + o, e->digest, 32), o += 32;
		memcpy(buf + o, &len32, 4), o += 4;
		memcpy(buf + o, e->data, e->len), o += e->len;
	}
	assert_int_equal(probe_eventlog_parse(buf, len, &log, NULL, 0), 0);
	free(buf);
	return log;
}

static void expect_sb(struct fixture *f, const struct evlist *l, const char *why_part)
{
	_cleanup_eventlog_ struct probe_eventlog *log = evlist_parse(l);
	char why[600] = "";
	int r = probe_evidence_secureboot(log, &f->sb, &f->chain, why, sizeof(why));

	if (!why_part) {
		if (r != 0)
			fail_msg("PCR 7 refused: %s", why);
		return;
	}
	if (r != -EPERM || !strstr(why, why_part))
		fail_msg("PCR 7: %d '%s', want -EPERM with '%s'", r, why, why_part);
}

static void expect_pcr4(struct fixture *f, const struct evlist *l, const char *why_part)
{
	_cleanup_eventlog_ struct probe_eventlog *log = evlist_parse(l);
	char why[600] = "";
	int r = probe_evidence_pcr4_events(log, &f->chain, why, sizeof(why));

	if (!why_part) {
		if (r != 0)
			fail_msg("PCR 4 refused: %s", why);
		return;
	}
	if (r != -EPERM || !strstr(why, why_part))
		fail_msg("PCR 4: %d '%s', want -EPERM with '%s'", r, why, why_part);
}

/* A UEFI_VARIABLE_DATA for db whose data is the measured db plus one more EFI_CERT_X509 list of @der. */
static uint8_t *db_with_extra(const struct ev *dbev, const uint8_t *der, size_t der_len, uint32_t *ret_len)
{
	static const uint8_t x509[16] = { 0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
					  0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72 };
	uint32_t sig = (uint32_t)(16 + der_len), list = 28 + sig, zero = 0;
	size_t len = dbev->len + list;
	uint8_t *d = malloc(len), *p;
	uint64_t data_len;

	assert_non_null(d);
	memcpy(d, dbev->data, dbev->len);
	memcpy(&data_len, d + 24, 8);
	data_len += list;
	memcpy(d + 24, &data_len, 8);
	p = d + dbev->len;
	memcpy(p, x509, 16);
	memcpy(p + 16, &list, 4);
	memcpy(p + 20, &zero, 4);
	memcpy(p + 24, &sig, 4);
	memset(p + 28, 0x42, 16); /* another owner */
	memcpy(p + 44, der, der_len);
	*ret_len = (uint32_t)len;
	return d;
}

static void test_pcr7_exact(void **state)
{
	struct fixture f;
	struct evlist l;
	uint8_t *extra_der = NULL, *d;
	size_t extra_len, db, sep, auth, ebs;
	uint32_t len;

	(void)state;
	load(&f);
	evlist_load(&f, &l);
	expect_sb(&f, &l, NULL); /* the real boot, re-encoded: accepted */
	evlist_free(&l);

	/* db holds the host's certificate and one more (the extra key that signs the attacker's binary). */
	assert_int_equal(probe_cert_der(DIR "KEK.crt", &extra_der, &extra_len), 0);
	evlist_load(&f, &l);
	db = evlist_find(&l, 7, PROBE_EV_EFI_VARIABLE_DRIVER_CONFIG, 3);
	d = db_with_extra(&l.e[db], extra_der, extra_len, &len);
	evlist_insert(&l, db, &l.e[db], d, len);
	free(l.e[db + 1].data);
	memmove(&l.e[db + 1], &l.e[db + 2], (l.n - db - 2) * sizeof(l.e[0]));
	l.n--;
	expect_sb(&f, &l, "PCR 7: db holds the certificate \"CN=sealcheck demo KEK\", which the host did not enroll (2 entries, 1 enrolled)");
	evlist_free(&l);
	free(d);

	/* The same one entry, another layout: an empty EFI_CERT_SHA256 list before it (UEFI reads
	 * both alike, the bytes are not what virt-fw-vars enrolled). */
	evlist_load(&f, &l);
	db = evlist_find(&l, 7, PROBE_EV_EFI_VARIABLE_DRIVER_CONFIG, 3);
	{
		static const uint8_t sha256_type[16] = { 0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
							 0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28 };
		uint32_t vlen = l.e[db].len + 28;
		uint8_t *v = malloc(vlen);
		uint64_t data_len;
		size_t name_end = 32 + 2 * 2; /* "db" */

		memcpy(v, l.e[db].data, name_end);
		memcpy(&data_len, v + 24, 8);
		data_len += 28;
		memcpy(v + 24, &data_len, 8);
		memcpy(v + name_end, sha256_type, 16);
		memcpy(v + name_end + 16, &(uint32_t){ 28 }, 4);
		memcpy(v + name_end + 20, &(uint32_t){ 0 }, 4);
		memcpy(v + name_end + 24, &(uint32_t){ 48 }, 4);
		memcpy(v + name_end + 28, l.e[db].data + name_end, l.e[db].len - name_end);
		evlist_insert(&l, db, &l.e[db], v, vlen);
		free(l.e[db + 1].data);
		memmove(&l.e[db + 1], &l.e[db + 2], (l.n - db - 2) * sizeof(l.e[0]));
		l.n--;
		free(v);
	}
	expect_sb(&f, &l, "PCR 7: db holds the enrolled entries in another layout");
	evlist_free(&l);

	/* The host enrolled two db certificates, the firmware measured one: missing, named. */
	{
		uint8_t *saved = f.sb.esl[PROBE_SB_DB];
		size_t saved_len = f.sb.esl_len[PROBE_SB_DB];
		struct ev fake = { .len = (uint32_t)(32 + 2 * 2 + saved_len) };
		uint8_t *var = calloc(1, fake.len), *two;
		uint32_t two_len;

		/* The reference: db's list plus one for KEK.crt, built the same way as the attacker's db above. */
		memcpy(var + 16, &(uint64_t){ 2 }, 8);
		memcpy(var + 24, &(uint64_t){ saved_len }, 8);
		var[32] = 'd', var[34] = 'b';
		memcpy(var + 36, saved, saved_len);
		fake.data = var;
		two = db_with_extra(&fake, extra_der, extra_len, &two_len);
		f.sb.esl[PROBE_SB_DB] = malloc(two_len - 36);
		memcpy(f.sb.esl[PROBE_SB_DB], two + 36, two_len - 36);
		f.sb.esl_len[PROBE_SB_DB] = two_len - 36;
		evlist_load(&f, &l);
		expect_sb(&f, &l, "PCR 7: db lacks the certificate \"CN=sealcheck demo KEK\", which the host enrolled (1 entries, 2 enrolled)");
		evlist_free(&l);
		free(f.sb.esl[PROBE_SB_DB]);
		f.sb.esl[PROBE_SB_DB] = saved;
		f.sb.esl_len[PROBE_SB_DB] = saved_len;
		free(two);
		free(var);
	}

	/* A second authority event right after the first (the same db entry again, as an OS can extend it). */
	evlist_load(&f, &l);
	auth = evlist_find(&l, 7, PROBE_EV_EFI_VARIABLE_AUTHORITY, 0);
	evlist_insert(&l, auth + 1, &l.e[auth], NULL, 0);
	expect_sb(&f, &l, "an authority event the boot chain does not produce (2 after the separator, 1 expected)");
	evlist_free(&l);

	/* An authority event appended after ExitBootServices (the end of the log), and one moved before
	 * it in the log (the quote does not bind the order across PCRs): both one too many. */
	evlist_load(&f, &l);
	auth = evlist_find(&l, 7, PROBE_EV_EFI_VARIABLE_AUTHORITY, 0);
	evlist_insert(&l, l.n, &l.e[auth], NULL, 0);
	expect_sb(&f, &l, "an authority event the boot chain does not produce");
	evlist_free(&l);
	evlist_load(&f, &l);
	auth = evlist_find(&l, 7, PROBE_EV_EFI_VARIABLE_AUTHORITY, 0);
	ebs = evlist_find(&l, 5, PROBE_EV_EFI_ACTION, 0);
	evlist_insert(&l, ebs, &l.e[auth], NULL, 0);
	expect_sb(&f, &l, "an authority event the boot chain does not produce");
	evlist_free(&l);

	/* The authority is the extra certificate (the attacker's binary verified), not the host's. */
	evlist_load(&f, &l);
	auth = evlist_find(&l, 7, PROBE_EV_EFI_VARIABLE_AUTHORITY, 0);
	{
		uint32_t alen = (uint32_t)(32 + 4 + 16 + extra_len);
		uint8_t *a = calloc(1, alen);

		memcpy(a, l.e[auth].data, 36); /* db's GUID, name length, then "db" */
		memcpy(a + 24, &(uint64_t){ 16 + extra_len }, 8);
		memset(a + 36, 0x42, 16);
		memcpy(a + 52, extra_der, extra_len);
		evlist_insert(&l, auth, &l.e[auth], a, alen);
		free(l.e[auth + 1].data);
		memmove(&l.e[auth + 1], &l.e[auth + 2], (l.n - auth - 2) * sizeof(l.e[0]));
		l.n--;
		free(a);
	}
	expect_sb(&f, &l, "authority event 1 is not the host's db entry");
	evlist_free(&l);

	/* An authority before the separator (a driver verified by db): not the chain's. */
	evlist_load(&f, &l);
	auth = evlist_find(&l, 7, PROBE_EV_EFI_VARIABLE_AUTHORITY, 0);
	sep = evlist_find(&l, 7, PROBE_EV_SEPARATOR, 0);
	evlist_insert(&l, sep, &l.e[auth], NULL, 0);
	expect_sb(&f, &l, "authority event(s) before the separator");
	evlist_free(&l);

	/* Only the order of the log: a PCR 7 event listed after ExitBootServices, the count unchanged. */
	evlist_load(&f, &l);
	auth = evlist_find(&l, 7, PROBE_EV_EFI_VARIABLE_AUTHORITY, 0);
	evlist_insert(&l, l.n, &l.e[auth], NULL, 0);
	free(l.e[auth].data);
	memmove(&l.e[auth], &l.e[auth + 1], (l.n - auth - 1) * sizeof(l.e[0]));
	l.n--;
	expect_sb(&f, &l, "PCR 7: an event after ExitBootServices");
	evlist_free(&l);

	free(extra_der);
	unload(&f);
}

static void test_pcr4_exact(void **state)
{
	struct fixture f;
	struct evlist l;
	size_t app, ebs;

	(void)state;
	load(&f);
	evlist_load(&f, &l);
	expect_pcr4(&f, &l, NULL); /* the real boot: the sealed UKI alone */
	evlist_free(&l);

	/* Another application (a shim, a boot loader, the attacker's binary) before the UKI. */
	evlist_load(&f, &l);
	app = evlist_find(&l, 4, PROBE_EV_EFI_BOOT_SERVICES_APPLICATION, 0);
	evlist_insert(&l, app, &l.e[app], NULL, 0);
	memset(l.e[app].digest, 0xab, 32);
	expect_pcr4(&f, &l, "PCR 4: the firmware started an EFI application the host did not build, sha256 abababababababab..., where the sealed UKI");
	evlist_free(&l);

	/* Only the attacker's application. */
	evlist_load(&f, &l);
	app = evlist_find(&l, 4, PROBE_EV_EFI_BOOT_SERVICES_APPLICATION, 0);
	memset(l.e[app].digest, 0xcd, 32);
	expect_pcr4(&f, &l, "sha256 cdcdcdcdcdcdcdcd...");
	evlist_free(&l);

	/* The UKI twice (an OS extends PCR 4 with it again). */
	evlist_load(&f, &l);
	app = evlist_find(&l, 4, PROBE_EV_EFI_BOOT_SERVICES_APPLICATION, 0);
	evlist_insert(&l, app + 1, &l.e[app], NULL, 0);
	expect_pcr4(&f, &l, "PCR 4: an EFI application the host did not expect ran after the sealed UKI");
	evlist_free(&l);

	/* The same, listed after ExitBootServices. */
	evlist_load(&f, &l);
	app = evlist_find(&l, 4, PROBE_EV_EFI_BOOT_SERVICES_APPLICATION, 0);
	evlist_insert(&l, l.n, &l.e[app], NULL, 0);
	expect_pcr4(&f, &l, "PCR 4: an event (type 0x80000003) after ExitBootServices");
	evlist_free(&l);

	/* A boot option that came back, then another start. */
	evlist_load(&f, &l);
	app = evlist_find(&l, 4, PROBE_EV_EFI_BOOT_SERVICES_APPLICATION, 0);
	evlist_insert(&l, app + 1, &l.e[evlist_find(&l, 4, PROBE_EV_EFI_ACTION, 0)],
		      (const uint8_t *)"Returning from EFI Application from Boot Option", 47);
	expect_pcr4(&f, &l, "EV_EFI_ACTION \"Returning from EFI Application from Boot Option\"");
	evlist_free(&l);

	/* The UKI never started (no application event at all). */
	evlist_load(&f, &l);
	app = evlist_find(&l, 4, PROBE_EV_EFI_BOOT_SERVICES_APPLICATION, 0);
	free(l.e[app].data);
	memmove(&l.e[app], &l.e[app + 1], (l.n - app - 1) * sizeof(l.e[0]));
	l.n--;
	expect_pcr4(&f, &l, "the sealed UKI was never started");
	evlist_free(&l);

	/* An application's measurement relabelled as the firmware's "Calling" action (its digest kept,
	 * as a log must to replay): the label does not hash to the digest. */
	evlist_load(&f, &l);
	app = evlist_find(&l, 4, PROBE_EV_EFI_BOOT_SERVICES_APPLICATION, 0);
	{
		size_t calling = evlist_find(&l, 4, PROBE_EV_EFI_ACTION, 0);
		struct ev relabelled = l.e[calling];

		memset(relabelled.digest, 0xab, 32);
		evlist_insert(&l, calling + 1, &relabelled, NULL, 0);
	}
	expect_pcr4(&f, &l, "its sha256 digest is not the hash of its data");
	evlist_free(&l);

	/* No ExitBootServices in PCR 5: the log cannot be placed. */
	evlist_load(&f, &l);
	ebs = evlist_find(&l, 5, PROBE_EV_EFI_ACTION, 0);
	free(l.e[ebs].data);
	memmove(&l.e[ebs], &l.e[ebs + 1], (l.n - ebs - 1) * sizeof(l.e[0]));
	l.n--;
	expect_pcr4(&f, &l, "no \"Exit Boot Services Invocation\"");
	evlist_free(&l);

	/* The whole verification: a chain whose UKI is another build fails tpm:pcr4 and leaves
	 * tpm:cmdline unproven whatever it says. */
	f.chain.apps[0].authenticode_sha256[0] ^= 1;
	{
		json_t *links = verify(&f);

		assert_string_equal(status_of(links, "tpm:pcr4"), "failed");
		assert_non_null(strstr(reason_of(links, "tpm:pcr4"), "the host did not build"));
		assert_string_equal(status_of(links, "tpm:secure_boot"), "proven");
		json_decref(links);
	}
	unload(&f);
}

/* tpm:cmdline's reading of a .cmdline: the guest check's rules, on the host. */
static void expect_uki_cmdline(const char *cmdline, const char *why_part)
{
	static uint8_t buf[8192];
	struct probe_pe pe = { .data = buf, .size = sizeof(buf), .n_sections = 1 };
	struct probe_policy p;
	char why[512] = "";
	int r;

	probe_policy_init(&p);
	assert_int_equal(probe_policy_allow(&p, "sha256:" "4d8ad9824efc90f2a34bdc3d59ab0b13d21c8cf41e1d0bd5eea2dbd9f1b1b8a6"), 0);
	memset(buf, 0, sizeof(buf));
	memcpy(buf + 4096, cmdline, strlen(cmdline));
	snprintf(pe.sections[0].name, sizeof(pe.sections[0].name), ".cmdline");
	pe.sections[0].pointer_to_raw_data = 4096;
	pe.sections[0].size_of_raw_data = 4096;
	pe.sections[0].virtual_size = (uint32_t)strlen(cmdline) + 1;
	r = probe_evidence_uki_cmdline(&pe, &p, why, sizeof(why));
	if (!why_part) {
		if (r != 0)
			fail_msg("'%s' refused: %s", cmdline, why);
		return;
	}
	if (r != -EPERM || !strstr(why, why_part))
		fail_msg("'%s': %d '%s', want -EPERM with '%s'", cmdline, r, why, why_part);
}

static void test_uki_cmdline(void **state)
{
#define D "4d8ad9824efc90f2a34bdc3d59ab0b13d21c8cf41e1d0bd5eea2dbd9f1b1b8a6"
	(void)state;
	expect_uki_cmdline("console=ttyS0 composefs=" D " rw", NULL);
	/* The first token sealed, the last (which systemd and libmount take) not. */
	expect_uki_cmdline("composefs=" D " composefs=?" D, "conflicting composefs=");
	expect_uki_cmdline("composefs=" D " composefs=" D, "composefs= given twice");
	expect_uki_cmdline("composefs=?" D, "verity optional");
	expect_uki_cmdline("composefs=" D " sealtest.verity=off", "sealtest.verity=off");
	expect_uki_cmdline("composefs.digest=v2-sha256-12:" D " composefs=" D, "both as composefs.digest= and composefs=");
	expect_uki_cmdline("\"composefs=" D "\" composefs=" D, "double quote");
	expect_uki_cmdline("composefs=abababababababababababababababababababababababababababababababab",
			   "a digest the policy does not allow");
	expect_uki_cmdline("roothash=" D, "seals with dm-verity, not composefs");
	expect_uki_cmdline("console=ttyS0", "no composefs= or roothash=");
#undef D
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
		cmocka_unit_test(test_pcr5_events),
		cmocka_unit_test(test_pcr9_unknown_event), cmocka_unit_test(test_userlog),
		cmocka_unit_test(test_userlog_in_evidence), cmocka_unit_test(test_pcr7_exact),
		cmocka_unit_test(test_pcr4_exact), cmocka_unit_test(test_uki_cmdline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
