/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The probe's verdict (host-probe/session/probe-verdict.h) over sessions fed
 * real frames with a clock the test owns: the sealed report template
 * (tests/probe/sealed-report.json) and one boot's real TPM evidence
 * (tests/fixtures/evidence/README.md), edited the way a guest's attacker
 * would. Every outcome, link and reason is compared exactly.
 */
#include "unit.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "sc-base64.h"
#include "probe-eventlog.h"
#include "probe-evidence.h"
#include "probe-policy.h"
#include "probe-session.h"
#include "probe-tpm.h"
#include "probe-verdict.h"
#include "sc-evidence.h"
#include "sc-fileio.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-wire.h"

#define TEMPLATE FIXTURES_DIR "/../probe/sealed-report.json"
#define EVIDENCE_DIR FIXTURES_DIR "/evidence/"
#define T0 1000000LL

/* The template's composefs digest (its cmdline, root mount and measured image name it). */
#define DIGEST                                                                                                   \
	"22ea8a75c80babb6f41301c8392a306b1654884fe6807e655117e8f4ca07eb5708d0a49a84fd285ad13d4fc71706571dc4eed0dbd5b2" \
	"811b4afa95b6464a2dc9"
/* Another sha512 digest (tests/unit/test-session.c's). */
#define OTHER                                                                                                    \
	"08e7b4457007bff582941a5b9ea4ad1743493fdc806efdc8e18aea2564b725e544ac0face3114e82ac0f9fd1affb536c6664270d9b4f" \
	"cb539f612a2ee81b6747"

static json_t *template_doc(void)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	json_t *doc;

	assert_int_equal(sc_read_file_capped(TEMPLATE, 1u << 20, &buf, &len), 0);
	doc = json_loadb(buf, len, 0, NULL);
	assert_non_null(doc);
	return doc;
}

static json_t *check(json_t *doc, const char *name)
{
	json_t *c = json_object_get(json_object_get(doc, "checks"), name);

	assert_non_null(c);
	return c;
}

/* @doc echoing @nonce as one R frame, malloc'd. */
static char *frame_of(json_t *doc, const char *nonce, size_t *ret_len)
{
	_cleanup_free_ char *text = NULL;
	char *frame;

	json_object_set_new(doc, "nonce", nonce ? json_string(nonce) : json_null());
	text = json_dumps(doc, JSON_COMPACT);
	assert_non_null(text);
	assert_int_equal(sc_wire_encode(SC_WIRE_REPORT, text, strlen(text), &frame, ret_len), 0);
	return frame;
}

static void feed_doc(struct probe_session *s, json_t *doc, const char *nonce, long long now)
{
	_cleanup_free_ char *frame = NULL;
	size_t len;

	frame = frame_of(doc, nonce, &len);
	assert_int_equal(probe_session_feed(s, frame, len, now), 0);
}

/* A session attached to one end of a socketpair (the other closed at once: the test feeds bytes by hand). */
static void start(struct probe_session *s, const struct probe_session_config *cfg)
{
	struct probe_session_config def = { .deadline_ms = T0 + 60000 };
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(probe_session_init(s, cfg ? cfg : &def), 0);
	assert_int_equal(probe_session_attach(s, sv[0], T0), 0);
	assert_int_equal(s->state, PROBE_SESSION_WAITING);
	close(sv[1]);
}

/* A session that took @doc as its answer at T0 + 1500. */
static void answered(struct probe_session *s, json_t *doc)
{
	start(s, NULL);
	feed_doc(s, doc, s->nonce, T0 + 1500);
	assert_int_equal(s->end, PROBE_END_REPORT);
	assert_non_null(s->report);
}

static void policy(struct probe_policy *p, const char *digest)
{
	probe_policy_init(p);
	snprintf(p->source, sizeof(p->source), "--digest");
	if (digest)
		assert_int_equal(probe_policy_allow(p, digest), 0);
}

static void assert_json(json_t *got, const char *want_text)
{
	_cleanup_json_ json_t *want = json_loads(want_text, JSON_REJECT_DUPLICATES, NULL);
	_cleanup_free_ char *g = NULL;

	assert_non_null(want);
	if (!json_equal(got, want)) {
		g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		fail_msg("got %s\nwant %s", g ? g : "NULL", want_text);
	}
}

/* Decided with the host's policy, no TPM: the outcome and the failed links, exactly. */
static void decide(const struct probe_session *s, const struct probe_policy *p, struct probe_verdict *v,
		   enum probe_outcome want, const char *want_links)
{
	assert_int_equal(probe_verdict_decide(s, p, NULL, v), 0);
	assert_int_equal(v->outcome, want);
	assert_string_equal(v->evidence, PROBE_EVIDENCE);
	assert_null(v->tpm);
	assert_false(v->quote_verified);
	assert_json(v->links, want_links);
}

/* probe_verdict_print() into memory, NUL-terminated; its length in *ret_len. */
static char *printed(const struct probe_session *s, const struct probe_policy *p, const struct probe_verdict *v,
		     size_t *ret_len)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	probe_verdict_print(f, s, p, v);
	assert_int_equal(fclose(f), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	if (ret_len)
		*ret_len = len;
	return out;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' lacks '%s'", hay, needle);
}

/* The last line of the printed verdict. */
static void assert_verdict_line(const char *out, const char *want)
{
	const char *l = strstr(out, "\nVerdict: ");

	assert_non_null(l);
	assert_string_equal(l + 1, want);
}

/* --- SEALED --- */

static void test_sealed(void **state)
{
	struct probe_session s;
	struct probe_policy p;
	struct probe_verdict v;
	_cleanup_json_ json_t *doc = template_doc();
	_cleanup_free_ char *out = NULL;

	(void)state;
	answered(&s, doc);
	policy(&p, "sha512:" DIGEST);
	decide(&s, &p, &v, PROBE_SEALED, "[]");
	assert_string_equal(v.reason, "");
	assert_string_equal(probe_outcome_name(v.outcome), "sealed");
	assert_string_equal(probe_outcome_title(v.outcome), "SEALED");
	out = printed(&s, &p, &v, NULL);
	assert_verdict_line(out, "Verdict: SEALED (self-reported: the guest's report, checked against the host's policy; "
				 "no TPM evidence) after 1.5 s\n");
	assert_contains(out, "Report:  from machine ?, boot ?, kernel ?\n");
	assert_contains(out, "  PASS  cmdline          composefs=22ea8a75");
	assert_contains(out, "Policy:  composefs sha512:22ea8a75c80babb6..., Secure Boot enforcing (--digest)\n");
	assert_null(strstr(out, "broken link"));
	probe_verdict_done(&v);
	assert_null(v.links);
	probe_session_done(&s);

	/* The bare hex form of the same digest allows it too; Secure Boot not required changes nothing here. */
	answered(&s, doc);
	policy(&p, DIGEST);
	p.require_secure_boot = false;
	decide(&s, &p, &v, PROBE_SEALED, "[]");
	probe_verdict_done(&v);
	probe_session_done(&s);
}

/* --- NOT SEALED: the link that broke --- */

static void test_digest_not_allowed(void **state)
{
	struct probe_session s;
	struct probe_policy p;
	struct probe_verdict v;
	_cleanup_json_ json_t *doc = template_doc();
	_cleanup_free_ char *out = NULL;

	(void)state;
	answered(&s, doc);
	policy(&p, "sha512:" OTHER);
	decide(&s, &p, &v, PROBE_UNSEALED,
	       "[{\"link\":\"policy:digest\",\"reason\":\"the reported kernel cmdline names no digest the policy allows\"},"
	       "{\"link\":\"policy:digest\",\"reason\":\"the root is mounted from a composefs image the policy does not "
	       "allow\"},"
	       "{\"link\":\"policy:digest\",\"reason\":\"the image measures to a digest the policy does not allow\"}]");
	out = printed(&s, &p, &v, NULL);
	assert_contains(out,
			"  broken link: policy:digest: the reported kernel cmdline names no digest the policy allows\n");
	assert_verdict_line(out, "Verdict: NOT SEALED (self-reported: the guest's report, checked against the host's "
				 "policy; no TPM evidence) after 1.5 s\n");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* No digest policy: never sealed, whatever the guest says. */
	answered(&s, doc);
	policy(&p, NULL);
	decide(&s, &p, &v, PROBE_UNSEALED,
	       "[{\"link\":\"policy:digest\",\"reason\":\"no digest policy: the host allows no composefs digest\"}]");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* The guest adds a second, foreign digest to its cmdline next to the allowed one. */
	{
		json_t *digests = json_object_get(check(doc, "cmdline"), "digests");
		json_t *extra = json_deep_copy(json_array_get(digests, 0));

		json_object_set_new(extra, "digest", json_string(OTHER));
		json_array_append_new(digests, extra);
	}
	answered(&s, doc);
	policy(&p, "sha512:" DIGEST);
	decide(&s, &p, &v, PROBE_UNSEALED,
	       "[{\"link\":\"policy:digest\",\"reason\":\"the reported kernel cmdline names a digest the policy does not "
	       "allow\"}]");
	probe_verdict_done(&v);
	probe_session_done(&s);
}

static void test_failing_check(void **state)
{
	struct probe_session s;
	struct probe_policy p;
	struct probe_verdict v;
	_cleanup_json_ json_t *doc = template_doc();

	(void)state;
	policy(&p, "sha512:" DIGEST);
	/* The guest's own verdict says sealed; the failing check decides. */
	json_object_set_new(check(doc, "root_mount"), "status", json_string("fail"));
	json_object_set_new(check(doc, "root_mount"), "reason", json_string("/ is not composefs"));
	answered(&s, doc);
	decide(&s, &p, &v, PROBE_UNSEALED, "[{\"link\":\"root_mount\",\"reason\":\"fail: / is not composefs\"}]");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* "skip" and "error" are not "pass" either. */
	json_object_set_new(check(doc, "root_mount"), "status", json_string("pass"));
	json_object_set_new(check(doc, "composefs_image"), "status", json_string("skip"));
	json_object_set_new(check(doc, "composefs_image"), "reason", json_string("not measured"));
	answered(&s, doc);
	decide(&s, &p, &v, PROBE_UNSEALED, "[{\"link\":\"composefs_image\",\"reason\":\"skip: not measured\"}]");
	probe_verdict_done(&v);
	probe_session_done(&s);
	json_object_set_new(check(doc, "composefs_image"), "status", json_string("pass"));

	/* lockdown is not a check the verdict rests on (sc_required_checks()). */
	json_object_set_new(check(doc, "lockdown"), "status", json_string("fail"));
	answered(&s, doc);
	decide(&s, &p, &v, PROBE_SEALED, "[]");
	probe_verdict_done(&v);
	probe_session_done(&s);
}

static void test_secure_boot(void **state)
{
	struct probe_session s;
	struct probe_policy p;
	struct probe_verdict v;
	_cleanup_json_ json_t *doc = template_doc();

	(void)state;
	/* Setup mode, with the check itself (the guest's word) still "pass". */
	json_object_set_new(check(doc, "secure_boot"), "mode", json_string("setup"));
	answered(&s, doc);
	policy(&p, "sha512:" DIGEST);
	decide(&s, &p, &v, PROBE_UNSEALED,
	       "[{\"link\":\"policy:secure_boot\",\"reason\":\"Secure Boot is not in user or deployed mode\"}]");
	probe_verdict_done(&v);
	/* --no-require-secure-boot: setup mode is accepted. */
	p.require_secure_boot = false;
	decide(&s, &p, &v, PROBE_SEALED, "[]");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* Deployed mode is enforcing; a missing mode is not. */
	json_object_set_new(check(doc, "secure_boot"), "mode", json_string("deployed"));
	answered(&s, doc);
	policy(&p, "sha512:" DIGEST);
	decide(&s, &p, &v, PROBE_SEALED, "[]");
	probe_verdict_done(&v);
	probe_session_done(&s);
	json_object_del(check(doc, "secure_boot"), "mode");
	answered(&s, doc);
	decide(&s, &p, &v, PROBE_UNSEALED,
	       "[{\"link\":\"policy:secure_boot\",\"reason\":\"Secure Boot is not in user or deployed mode\"}]");
	probe_verdict_done(&v);
	probe_session_done(&s);
}

/* --- what a guest's attacker sends --- */

static void test_attacker_reports(void **state)
{
	struct probe_session s;
	struct probe_policy p;
	struct probe_verdict v;
	_cleanup_json_ json_t *good = template_doc(), *bad = template_doc();
	_cleanup_free_ char *f1 = NULL, *f2 = NULL, *both = NULL;
	size_t l1, l2;

	(void)state;
	policy(&p, "sha512:" DIGEST);
	json_object_set_new(check(bad, "root_mount"), "status", json_string("fail"));
	json_object_set_new(check(bad, "root_mount"), "reason", json_string("tampered"));

	/* Two reports for our nonce in one write: the first is the answer, the second changes nothing. */
	start(&s, NULL);
	f1 = frame_of(bad, s.nonce, &l1);
	f2 = frame_of(good, s.nonce, &l2);
	both = malloc(l1 + l2);
	assert_non_null(both);
	memcpy(both, f1, l1);
	memcpy(both + l1, f2, l2);
	assert_int_equal(probe_session_feed(&s, both, l1 + l2, T0 + 1), 0);
	decide(&s, &p, &v, PROBE_UNSEALED, "[{\"link\":\"root_mount\",\"reason\":\"fail: tampered\"}]");
	probe_verdict_done(&v);
	/* ... nor does one after the answer. */
	assert_int_equal(probe_session_feed(&s, f2, l2, T0 + 2), 0);
	decide(&s, &p, &v, PROBE_UNSEALED, "[{\"link\":\"root_mount\",\"reason\":\"fail: tampered\"}]");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* A sealed report with a stale nonce (a replay), then the fresh one: the fresh one is judged. */
	start(&s, NULL);
	feed_doc(&s, good, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", T0 + 1);
	feed_doc(&s, bad, s.nonce, T0 + 2);
	assert_int_equal(s.stale, 1);
	decide(&s, &p, &v, PROBE_UNSEALED, "[{\"link\":\"root_mount\",\"reason\":\"fail: tampered\"}]");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* Only replays and unsolicited pushes of a sealed report: no report at all. */
	start(&s, NULL);
	feed_doc(&s, good, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", T0 + 1);
	feed_doc(&s, good, NULL, T0 + 2);
	probe_session_tick(&s, T0 + 60000);
	decide(&s, &p, &v, PROBE_NO_REPORT, "[]");
	assert_string_equal(v.reason, "no valid report within the deadline; last: report rejected: no nonce (unsolicited)");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* An extra check the verdict does not know: the report is refused, never judged. */
	start(&s, NULL);
	json_object_set_new(json_object_get(good, "checks"), "trust_me",
			    json_pack("{s:s, s:s}", "status", "pass", "reason", "all good"));
	feed_doc(&s, good, s.nonce, T0 + 1);
	assert_int_equal(s.rejected, 1);
	probe_session_tick(&s, T0 + 60000);
	decide(&s, &p, &v, PROBE_NO_REPORT, "[]");
	assert_string_equal(v.reason,
			    "no valid report within the deadline; last: report rejected: unknown check 'trust_me'");
	probe_verdict_done(&v);
	probe_session_done(&s);
	json_object_del(json_object_get(good, "checks"), "trust_me");

	/* The optional deep check, present and failing: once reported it is required. */
	json_object_set_new(json_object_get(good, "checks"), "objects",
			    json_pack("{s:s, s:s}", "status", "error", "reason", "incomplete"));
	answered(&s, good);
	decide(&s, &p, &v, PROBE_UNSEALED, "[{\"link\":\"objects\",\"reason\":\"error: incomplete\"}]");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* A dm-verity seal is not what the composefs digest policy covers: fail closed. */
	json_object_del(json_object_get(good, "checks"), "objects");
	json_object_set_new(good, "seal_kind", json_string("dm-verity"));
	answered(&s, good);
	decide(&s, &p, &v, PROBE_UNSEALED,
	       "[{\"link\":\"policy:digest\",\"reason\":\"a dm-verity root: the policy's composefs digests do not cover "
	       "it\"}]");
	probe_verdict_done(&v);
	probe_session_done(&s);
}

/* --- NO REPORT and its reason --- */

static void test_no_report(void **state)
{
	struct probe_session s;
	struct probe_policy p;
	struct probe_verdict v;
	_cleanup_free_ char *out = NULL;
	int sv[2];

	(void)state;
	policy(&p, "sha512:" DIGEST);

	/* Silence until the deadline. */
	start(&s, NULL);
	probe_session_tick(&s, T0 + 60000);
	assert_int_equal(s.end, PROBE_END_TIMEOUT);
	decide(&s, &p, &v, PROBE_NO_REPORT, "[]");
	assert_string_equal(v.reason, "no valid report within the deadline");
	out = printed(&s, &p, &v, NULL);
	assert_verdict_line(out, "Verdict: NO REPORT: no valid report within the deadline\n");
	assert_null(strstr(out, "Report:"));
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* The other end closed (QEMU went away). */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(probe_session_init(&s, &(struct probe_session_config){ .deadline_ms = T0 + 60000 }), 0);
	assert_int_equal(probe_session_attach(&s, sv[0], T0), 0);
	close(sv[1]);
	assert_int_equal(probe_session_io(&s, POLLIN | POLLHUP, T0 + 1), 0);
	assert_int_equal(s.end, PROBE_END_CLOSED);
	decide(&s, &p, &v, PROBE_NO_REPORT, "[]");
	assert_string_equal(v.reason, "the guest's socket closed (the VM or its QEMU went away)");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* Malformed reports (not JSON; a report with a field of the wrong type), then the deadline: the last named. */
	start(&s, NULL);
	{
		_cleanup_free_ char *frame = NULL;
		_cleanup_json_ json_t *doc = template_doc();
		size_t len;

		assert_int_equal(sc_wire_encode(SC_WIRE_REPORT, "{\"schema\":", 10, &frame, &len), 0);
		probe_session_feed(&s, frame, len, T0 + 1);
		assert_int_equal(s.rejected, 1);
		json_object_set_new(doc, "notes", json_string("not an array"));
		feed_doc(&s, doc, s.nonce, T0 + 2);
		assert_int_equal(s.rejected, 2);
	}
	probe_session_tick(&s, T0 + 60000);
	decide(&s, &p, &v, PROBE_NO_REPORT, "[]");
	assert_string_equal(v.reason, "no valid report within the deadline; last: report rejected: notes is not an array");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* Stopped by its owner: the owner's words. */
	start(&s, NULL);
	probe_session_stop(&s, PROBE_END_STOPPED, "interrupted by SIGTERM", T0 + 3);
	decide(&s, &p, &v, PROBE_NO_REPORT, "[]");
	assert_string_equal(v.reason, "interrupted by SIGTERM");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* A flood is misbehaviour, not silence: NOT SEALED with the protocol link (docs/threat-model.md T2). */
	start(&s, NULL);
	{
		char bad[SC_WIRE_HEADER_LEN + 2];

		memcpy(bad, "\x1eSC1Rzzzzzzzz00000000:x\n", sizeof(bad));
		for (int i = 0; i < 200 && s.state == PROBE_SESSION_WAITING; i++)
			probe_session_feed(&s, bad, sizeof(bad), T0);
	}
	assert_int_equal(s.end, PROBE_END_FLOOD);
	decide(&s, &p, &v, PROBE_UNSEALED,
	       "[{\"link\":\"protocol\",\"reason\":\"65 malformed frames (0 oversized): the guest is cut off\"}]");
	assert_string_equal(v.reason, "");
	probe_verdict_done(&v);
	probe_session_done(&s);
}

/* --- a VM with a TPM --- */

static void test_tpm_without_evidence(void **state)
{
	static const char why[] = "the VM has a TPM but its report came without evidence";
	struct probe_evidence_expect x = { 0 };
	struct probe_session s;
	struct probe_policy p;
	struct probe_verdict v;
	_cleanup_json_ json_t *doc = template_doc();
	_cleanup_free_ char *out = NULL;

	(void)state;
	answered(&s, doc);
	policy(&p, "sha512:" DIGEST);
	x.policy = &p;
	assert_int_equal(probe_verdict_decide(&s, &p, &x, &v), 0);
	assert_int_equal(v.outcome, PROBE_UNSEALED);
	assert_string_equal(v.evidence, PROBE_EVIDENCE);
	assert_false(v.quote_verified);
	assert_json(v.links,
		    "[{\"link\":\"tpm:evidence\",\"reason\":\"the VM has a TPM but its report came without evidence\"}]");
	assert_json(v.tpm, "[{\"link\":\"tpm:evidence\",\"status\":\"failed\",\"reason\":\"the VM has a TPM but its report "
			   "came without evidence\"}]");
	out = printed(&s, &p, &v, NULL);
	assert_contains(out, "TPM evidence (checked by the host, not the guest's word):\n  FAILED tpm:evidence     ");
	assert_contains(out, why);
	assert_verdict_line(out, "Verdict: NOT SEALED (the host checked the VM's TPM evidence: 0 of 1 links proven, the "
				 "first to fail tpm:evidence; the report is the guest's claim) after 1.5 s\n");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* A report that fails the policy too: both links, the policy's first. */
	json_object_set_new(check(doc, "secure_boot"), "mode", json_string("setup"));
	answered(&s, doc);
	assert_int_equal(probe_verdict_decide(&s, &p, &x, &v), 0);
	assert_int_equal(v.outcome, PROBE_UNSEALED);
	assert_json(v.links, "[{\"link\":\"policy:secure_boot\",\"reason\":\"Secure Boot is not in user or deployed mode\"},"
			     "{\"link\":\"tpm:evidence\",\"reason\":\"the VM has a TPM but its report came without "
			     "evidence\"}]");
	probe_verdict_done(&v);
	probe_session_done(&s);
}

/* One boot's real evidence (tests/fixtures/evidence/), as tests/unit/test-evidence.c loads it. */
struct real {
	char *report, *evidence;
	size_t report_len, evidence_len;
	char nonce[SC_NONCE_HEX_LEN + 1];
	struct probe_sb_reference sb;
	struct probe_boot_chain chain;
	struct probe_tpm_public ak;
};

static void real_load(struct real *f)
{
	_cleanup_free_ char *nonce = NULL;
	_cleanup_json_ json_t *ev = NULL;
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	struct probe_pe_cert db = { 0 };
	uint8_t *raw = NULL;
	size_t len;

	memset(f, 0, sizeof(*f));
	assert_int_equal(sc_read_file_capped(EVIDENCE_DIR "evidence.json", 1 << 20, &f->evidence, &f->evidence_len), 0);
	assert_int_equal(sc_read_file_capped(EVIDENCE_DIR "report.json", 1 << 20, &f->report, &f->report_len), 0);
	assert_int_equal(sc_read_file_capped(EVIDENCE_DIR "nonce", 128, &nonce, &len), 0);
	assert_true(len >= SC_NONCE_HEX_LEN);
	memcpy(f->nonce, nonce, SC_NONCE_HEX_LEN);
	f->nonce[SC_NONCE_HEX_LEN] = '\0';
	ev = json_loadb(f->evidence, f->evidence_len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(ev);
	assert_int_equal(probe_sb_reference_load(FIXTURES_DIR "/evidence", &f->sb, NULL, 0), 0);
	assert_int_equal(sc_base64_decode(json_string_value(json_object_get(ev, "ak_public")), 1024, &raw, &len), 0);
	assert_int_equal(probe_tpm2b_public_parse(raw, len, &f->ak, NULL, 0), 0);
	free(raw);
	/* The boot chain: the Authenticode digest OVMF measured into PCR 4, signed by db.crt (README.md there). */
	assert_int_equal(sc_base64_decode(json_string_value(json_object_get(ev, "eventlog")), 1 << 20, &raw, &len), 0);
	assert_int_equal(probe_eventlog_parse(raw, len, &log, NULL, 0), 0);
	free(raw);
	for (size_t i = 0; i < log->n_events; i++)
		if (log->events[i].pcr == 4 && log->events[i].type == PROBE_EV_EFI_BOOT_SERVICES_APPLICATION)
			memcpy(f->chain.apps[0].authenticode_sha256, log->events[i].digests[0], 32);
	snprintf(f->chain.apps[0].what, sizeof(f->chain.apps[0].what), "the sealed UKI");
	assert_int_equal(probe_cert_der(EVIDENCE_DIR "db.crt", &db.der, &db.len), 0);
	assert_int_equal(probe_sb_db_authority(&f->sb, &db, 1, &f->chain.apps[0].authority,
					       &f->chain.apps[0].authority_len),
			 0);
	free(db.der);
	f->chain.n = 1;
}

static void real_unload(struct real *f)
{
	free(f->report);
	free(f->evidence);
	probe_sb_reference_done(&f->sb);
}

/* The session as the probe ran it: our nonce the fixture's, its report, then its evidence frame. */
static void real_session(struct probe_session *s, const struct real *f, const char *evidence, size_t evidence_len)
{
	struct probe_session_config cfg = { .deadline_ms = T0 + 60000, .expect_evidence = true, .evidence_wait_ms = 5000 };
	_cleanup_free_ char *r = NULL, *e = NULL;
	size_t r_len, e_len;

	start(s, &cfg);
	memcpy(s->nonce, f->nonce, sizeof(s->nonce));
	assert_int_equal(sc_wire_encode(SC_WIRE_REPORT, f->report, f->report_len, &r, &r_len), 0);
	assert_int_equal(sc_wire_encode(SC_WIRE_EVIDENCE, evidence, evidence_len, &e, &e_len), 0);
	probe_session_feed(s, r, r_len, T0 + 1000);
	assert_non_null(s->report);
	probe_session_feed(s, e, e_len, T0 + 2000);
	assert_int_equal(s->end, PROBE_END_REPORT);
	assert_non_null(s->evidence);
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

static void test_tpm_real_evidence(void **state)
{
	static const char *const proven[] = { "tpm:binding", "tpm:quote", "tpm:eventlog", "tpm:secure_boot", "tpm:pcr4" };
	struct probe_session s;
	struct probe_policy p;
	struct probe_verdict v;
	struct real f;
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *out = NULL, *b64 = NULL;

	(void)state;
	real_load(&f);
	real_session(&s, &f, f.evidence, f.evidence_len);
	policy(&p, json_string_value(json_object_get(
			   json_array_get(json_object_get(check(s.report, "cmdline"), "digests"), 0), "digest")));
	{
		struct probe_evidence_expect x = {
			.ak_name = f.ak.name, .ak_name_len = f.ak.name_len, .policy = &p, .sb = &f.sb, .chain = &f.chain,
		};

		assert_int_equal(probe_verdict_decide(&s, &p, &x, &v), 0);
	}
	/* The host keeps no copy of that boot's UKI (the fixture's README): PCR 11, 9 and its cmdline are
	 * not proven, so the verdict is NOT SEALED, naming exactly the links that failed. */
	assert_int_equal(v.outcome, PROBE_UNSEALED);
	assert_string_equal(v.evidence, PROBE_EVIDENCE);
	assert_true(v.quote_verified);
	assert_int_equal(v.reset_count, 3);
	assert_int_equal(v.restart_count, 0);
	for (size_t i = 0; i < ELEMENTSOF(proven); i++)
		assert_string_equal(status_of(v.tpm, proven[i]), "proven");
	assert_int_equal(json_array_size(v.tpm), 9);
	assert_json(v.links, "[{\"link\":\"tpm:pcr11\",\"reason\":\"the host does not know which UKI it booted\"},"
			     "{\"link\":\"tpm:pcr9\",\"reason\":\"the host does not know which UKI it booted\"},"
			     "{\"link\":\"tpm:pcr12\",\"reason\":\"not verified: the host has no sealed UKI to judge the "
			     "boot by\"},"
			     "{\"link\":\"tpm:cmdline\",\"reason\":\"the host does not know which UKI it booted\"}]");

	/* The document keeps what was verified, byte for byte: the report's bytes and the evidence. */
	doc = probe_verdict_to_json(&s, 0, &p, &v);
	assert_non_null(doc);
	b64 = malloc(4 * ((f.report_len + 2) / 3) + 1);
	assert_non_null(b64);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)f.report, (int)f.report_len);
	assert_string_equal(json_string_value(json_object_get(doc, "report_base64")), b64);
	assert_true(json_equal(json_object_get(doc, "tpm_evidence"), s.evidence));
	assert_true(json_equal(json_object_get(doc, "tpm"), v.tpm));
	assert_string_equal(json_string_value(json_object_get(doc, "evidence")), "self-reported");
	out = printed(&s, &p, &v, NULL);
	assert_contains(out, "  PROVEN tpm:quote        ");
	assert_contains(out, "  FAILED tpm:pcr11        ");
	assert_verdict_line(out, "Verdict: NOT SEALED (the host checked the VM's TPM evidence: 5 of 9 links proven, the "
				 "first to fail tpm:pcr11; the report is the guest's claim) after 2.0 s\n");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* The same evidence with the quote's signature cut out, still bound to our nonce and report: the
	 * session takes it (it names both), the verdict finds it malformed. */
	{
		_cleanup_json_ json_t *ev = json_loadb(f.evidence, f.evidence_len, 0, NULL);
		_cleanup_free_ char *text = NULL;
		struct probe_evidence_expect x = {
			.ak_name = f.ak.name, .ak_name_len = f.ak.name_len, .policy = &p, .sb = &f.sb, .chain = &f.chain,
		};

		assert_non_null(ev);
		assert_int_equal(json_object_del(ev, "signature"), 0);
		text = json_dumps(ev, JSON_COMPACT);
		assert_non_null(text);
		real_session(&s, &f, text, strlen(text));
		assert_int_equal(probe_verdict_decide(&s, &p, &x, &v), 0);
		assert_int_equal(v.outcome, PROBE_UNSEALED);
		assert_false(v.quote_verified);
		{
			char want[300];

			snprintf(want, sizeof(want),
				 "[{\"link\":\"tpm:binding\",\"reason\":\"the evidence is malformed: signature is not "
				 "base64 of at most %u bytes\"}]",
				 PROBE_TPM_SIGNATURE_MAX);
			assert_json(v.links, want);
			snprintf(want, sizeof(want),
				 "[{\"link\":\"tpm:binding\",\"status\":\"failed\",\"reason\":\"the evidence is "
				 "malformed: signature is not base64 of at most %u bytes\"}]",
				 PROBE_TPM_SIGNATURE_MAX);
			assert_json(v.tpm, want);
		}
		probe_verdict_done(&v);
		probe_session_done(&s);
	}
	real_unload(&f);
}

/* --- the VM has a TPM, the host nothing to verify it with --- */

static void test_fail_unverifiable(void **state)
{
	static const char why[] = "watch keeps no TPM state";
	struct probe_session s;
	struct probe_policy p;
	struct probe_verdict v;
	_cleanup_json_ json_t *doc = template_doc();
	_cleanup_free_ char *out = NULL;

	(void)state;
	policy(&p, "sha512:" DIGEST);

	/* A report that would be SEALED: NOT SEALED, the one TPM link failed, never self-reported SEALED. */
	answered(&s, doc);
	decide(&s, &p, &v, PROBE_SEALED, "[]");
	probe_verdict_fail_unverifiable(&s, &v, why);
	assert_int_equal(v.outcome, PROBE_UNSEALED);
	assert_string_equal(v.evidence, PROBE_EVIDENCE);
	assert_json(v.tpm, "[{\"link\":\"tpm:evidence\",\"status\":\"failed\",\"reason\":\"watch keeps no TPM state\"}]");
	assert_json(v.links, "[{\"link\":\"tpm:evidence\",\"reason\":\"watch keeps no TPM state\"}]");
	out = printed(&s, &p, &v, NULL);
	assert_contains(out, "  broken link: tpm:evidence: watch keeps no TPM state\n");
	assert_verdict_line(out, "Verdict: NOT SEALED (the host checked the VM's TPM evidence: 0 of 1 links proven, the "
				 "first to fail tpm:evidence; the report is the guest's claim) after 1.5 s\n");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* A report that fails the policy keeps its link and gains the TPM's. */
	json_object_set_new(check(doc, "secure_boot"), "mode", json_string("setup"));
	answered(&s, doc);
	decide(&s, &p, &v, PROBE_UNSEALED,
	       "[{\"link\":\"policy:secure_boot\",\"reason\":\"Secure Boot is not in user or deployed mode\"}]");
	probe_verdict_fail_unverifiable(&s, &v, why);
	assert_int_equal(v.outcome, PROBE_UNSEALED);
	assert_json(v.tpm, "[{\"link\":\"tpm:evidence\",\"status\":\"failed\",\"reason\":\"watch keeps no TPM state\"}]");
	assert_json(v.links, "[{\"link\":\"policy:secure_boot\",\"reason\":\"Secure Boot is not in user or deployed mode\"},"
			     "{\"link\":\"tpm:evidence\",\"reason\":\"watch keeps no TPM state\"}]");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* No report: left as it is. */
	start(&s, NULL);
	probe_session_tick(&s, T0 + 60000);
	decide(&s, &p, &v, PROBE_NO_REPORT, "[]");
	probe_verdict_fail_unverifiable(&s, &v, why);
	assert_int_equal(v.outcome, PROBE_NO_REPORT);
	assert_string_equal(v.reason, "no valid report within the deadline");
	assert_null(v.tpm);
	assert_json(v.links, "[]");
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* A flood (NOT SEALED without a report): left as it is too. */
	start(&s, NULL);
	probe_session_stop(&s, PROBE_END_FLOOD, "cut off", T0 + 1);
	decide(&s, &p, &v, PROBE_UNSEALED, "[{\"link\":\"protocol\",\"reason\":\"cut off\"}]");
	probe_verdict_fail_unverifiable(&s, &v, why);
	assert_int_equal(v.outcome, PROBE_UNSEALED);
	assert_null(v.tpm);
	assert_json(v.links, "[{\"link\":\"protocol\",\"reason\":\"cut off\"}]");
	probe_verdict_done(&v);
	probe_session_done(&s);
}

/* --- the sealcheck.probe.v1 document --- */

static void assert_keys(json_t *doc, const char *want)
{
	char got[512] = "";
	const char *keys[32];
	size_t n = 0;
	const char *k;
	json_t *val;

	json_object_foreach(doc, k, val) {
		assert_true(n < ELEMENTSOF(keys));
		keys[n++] = k;
	}
	/* Sorted, so the comparison does not depend on jansson's order. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			const char *t = keys[j];

			keys[j] = keys[j - 1];
			keys[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		strncat(got, i ? "," : "", sizeof(got) - strlen(got) - 1);
		strncat(got, keys[i], sizeof(got) - strlen(got) - 1);
	}
	assert_string_equal(got, want);
}

static void test_to_json(void **state)
{
	struct probe_session s;
	struct probe_policy p;
	struct probe_verdict v;
	_cleanup_json_ json_t *tmpl = template_doc(), *doc = NULL;
	char want_policy[400];

	(void)state;
	policy(&p, "sha512:" DIGEST);
	snprintf(want_policy, sizeof(want_policy),
		 "{\"digests\":[\"sha512:%s\"],\"secure_boot\":true,\"source\":\"--digest\"}", DIGEST);

	/* SEALED: "reason" null, the report as validated, the counters. */
	start(&s, NULL);
	feed_doc(&s, tmpl, NULL, T0 + 1); /* the push at start: one stale report */
	feed_doc(&s, tmpl, s.nonce, T0 + 2500);
	decide(&s, &p, &v, PROBE_SEALED, "[]");
	doc = probe_verdict_to_json(&s, 0, &p, &v);
	assert_non_null(doc);
	assert_keys(doc, "bad_frames,evidence,failed_links,nonce,oversized_frames,policy,reason,rejected_reports,report,"
			 "schema,seconds,stale_reports,verdict");
	assert_true(json_is_null(json_object_get(doc, "reason")));
	assert_string_equal(json_string_value(json_object_get(doc, "schema")), "sealcheck.probe.v1");
	assert_string_equal(json_string_value(json_object_get(doc, "verdict")), "sealed");
	assert_string_equal(json_string_value(json_object_get(doc, "evidence")), "self-reported");
	assert_json(json_object_get(doc, "failed_links"), "[]");
	assert_true(json_equal(json_object_get(doc, "report"), s.report));
	assert_json(json_object_get(doc, "policy"), want_policy);
	assert_string_equal(json_string_value(json_object_get(doc, "nonce")), s.nonce);
	assert_int_equal(json_integer_value(json_object_get(doc, "rejected_reports")), 0);
	assert_int_equal(json_integer_value(json_object_get(doc, "stale_reports")), 1);
	assert_int_equal(json_integer_value(json_object_get(doc, "bad_frames")), 0);
	assert_int_equal(json_integer_value(json_object_get(doc, "oversized_frames")), 0);
	assert_true(json_real_value(json_object_get(doc, "seconds")) == 2.5);
	json_decref(TAKE_PTR(doc));

	/* Ended by a signal: its name. */
	doc = probe_verdict_to_json(&s, SIGTERM, &p, &v);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "signal")), "SIGTERM");
	assert_keys(doc, "bad_frames,evidence,failed_links,nonce,oversized_frames,policy,reason,rejected_reports,report,"
			 "schema,seconds,signal,stale_reports,verdict");
	json_decref(TAKE_PTR(doc));
	doc = probe_verdict_to_json(&s, SIGINT, &p, &v);
	assert_string_equal(json_string_value(json_object_get(doc, "signal")), "SIGINT");
	json_decref(TAKE_PTR(doc));
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* NO REPORT: "reason", report null, a bad frame counted, seconds from attach to the stop. */
	start(&s, NULL);
	probe_session_feed(&s, "\x1eSC1Rzzzzzzzz00000000:x\n", SC_WIRE_HEADER_LEN + 2, T0 + 1);
	probe_session_stop(&s, PROBE_END_STOPPED, "interrupted by SIGTERM", T0 + 3000);
	decide(&s, &p, &v, PROBE_NO_REPORT, "[]");
	doc = probe_verdict_to_json(&s, SIGTERM, &p, &v);
	assert_non_null(doc);
	assert_keys(doc, "bad_frames,evidence,failed_links,nonce,oversized_frames,policy,reason,rejected_reports,report,"
			 "schema,seconds,signal,stale_reports,verdict");
	assert_string_equal(json_string_value(json_object_get(doc, "verdict")), "no-report");
	assert_string_equal(json_string_value(json_object_get(doc, "reason")), "interrupted by SIGTERM");
	assert_true(json_is_null(json_object_get(doc, "report")));
	assert_int_equal(json_integer_value(json_object_get(doc, "bad_frames")), 1);
	assert_true(json_real_value(json_object_get(doc, "seconds")) == 3.0);
	assert_string_equal(json_string_value(json_object_get(doc, "signal")), "SIGTERM");
	json_decref(TAKE_PTR(doc));
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* NOT SEALED with a TPM: "tpm", the failed links; no report bytes without evidence. */
	answered(&s, tmpl);
	{
		struct probe_evidence_expect x = { .policy = &p };

		assert_int_equal(probe_verdict_decide(&s, &p, &x, &v), 0);
	}
	doc = probe_verdict_to_json(&s, 0, &p, &v);
	assert_non_null(doc);
	assert_keys(doc, "bad_frames,evidence,failed_links,nonce,oversized_frames,policy,reason,rejected_reports,report,"
			 "schema,seconds,stale_reports,tpm,verdict");
	assert_true(json_is_null(json_object_get(doc, "reason")));
	assert_string_equal(json_string_value(json_object_get(doc, "verdict")), "unsealed");
	assert_true(json_equal(json_object_get(doc, "tpm"), v.tpm));
	assert_true(json_equal(json_object_get(doc, "failed_links"), v.links));
	json_decref(TAKE_PTR(doc));
	probe_verdict_done(&v);
	probe_session_done(&s);

	/* No digest policy: an empty list, Secure Boot not required. */
	answered(&s, tmpl);
	policy(&p, NULL);
	p.require_secure_boot = false;
	decide(&s, &p, &v, PROBE_UNSEALED,
	       "[{\"link\":\"policy:digest\",\"reason\":\"no digest policy: the host allows no composefs digest\"}]");
	doc = probe_verdict_to_json(&s, 0, &p, &v);
	assert_json(json_object_get(doc, "policy"), "{\"digests\":[],\"secure_boot\":false,\"source\":\"--digest\"}");
	probe_verdict_done(&v);
	probe_session_done(&s);
}

/* --- a person's terminal: every guest string escaped --- */

static void assert_no_raw_controls(const char *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)out[i] < 0x20 && out[i] != '\n')
			fail_msg("raw control byte 0x%02x at %zu in:\n%s", (unsigned char)out[i], i, out);
	assert_null(memchr(out, 0x1b, len));
	assert_null(memchr(out, 0x7f, len));
	assert_null(strstr(out, "\xc2\x9b")); /* C1 CSI */
}

static void test_print_escapes(void **state)
{
	struct probe_session s;
	struct probe_policy p;
	struct probe_verdict v;
	_cleanup_json_ json_t *doc = template_doc();
	_cleanup_free_ char *out = NULL;
	json_t *sys = json_object_get(doc, "system");
	size_t len;

	(void)state;
	policy(&p, "sha512:" DIGEST);
	json_object_set_new(sys, "machine_id", json_string("\x1b[2J\x1b[1;1HSEALED\r"));
	json_object_set_new(sys, "boot_id", json_string("b\x07\x08\x7f"));
	json_object_set_new(sys, "kernel_release", json_string("6.1\xc2\x9b" "31m\n\t"));
	json_object_set_new(check(doc, "lockdown"), "reason", json_string("\x1b]0;owned\x07"));
	json_object_set_new(check(doc, "root_mount"), "status", json_string("fail"));
	json_object_set_new(check(doc, "root_mount"), "reason", json_string("\x1b[1A\x1b[2KVerdict: SEALED\xe2\x80\xae"));
	answered(&s, doc);
	decide(&s, &p, &v, PROBE_UNSEALED,
	       "[{\"link\":\"root_mount\",\"reason\":\"fail: \\u001b[1A\\u001b[2KVerdict: SEALED\\u202e\"}]");
	out = printed(&s, &p, &v, &len);
	assert_no_raw_controls(out, len);
	assert_contains(out, "Report:  from machine \\x1b[2J\\x1b[1;1HSEALED\\x0d, boot b\\x07\\x08\\x7f, kernel "
			     "6.1\\xc2\\x9b31m\\x0a\\x09\n");
	assert_contains(out, "  PASS  lockdown         \\x1b]0;owned\\x07\n");
	assert_contains(out, "  FAIL  root_mount       \\x1b[1A\\x1b[2KVerdict: SEALED\\u{202E}\n");
	assert_contains(out, "  broken link: root_mount: fail: \\x1b[1A\\x1b[2KVerdict: SEALED\\u{202E}\n");
	probe_verdict_done(&v);
	probe_session_done(&s);
	free(TAKE_PTR(out));

	/* NO REPORT: the reason names the guest's refused check key; escaped too. */
	json_object_set_new(json_object_get(doc, "checks"), "\x1b[2Jx",
			    json_pack("{s:s, s:s}", "status", "pass", "reason", ""));
	start(&s, NULL);
	feed_doc(&s, doc, s.nonce, T0 + 1);
	probe_session_tick(&s, T0 + 60000);
	decide(&s, &p, &v, PROBE_NO_REPORT, "[]");
	assert_string_equal(v.reason,
			    "no valid report within the deadline; last: report rejected: unknown check '\x1b[2Jx'");
	out = printed(&s, &p, &v, &len);
	assert_no_raw_controls(out, len);
	assert_verdict_line(out, "Verdict: NO REPORT: no valid report within the deadline; last: report rejected: unknown "
				 "check '\\x1b[2Jx'\n");
	probe_verdict_done(&v);
	probe_session_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sealed),
		cmocka_unit_test(test_digest_not_allowed),
		cmocka_unit_test(test_failing_check),
		cmocka_unit_test(test_secure_boot),
		cmocka_unit_test(test_attacker_reports),
		cmocka_unit_test(test_no_report),
		cmocka_unit_test(test_tpm_without_evidence),
		cmocka_unit_test(test_tpm_real_evidence),
		cmocka_unit_test(test_fail_unverifiable),
		cmocka_unit_test(test_to_json),
		cmocka_unit_test(test_print_escapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
