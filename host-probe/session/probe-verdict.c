/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>


#include "probe-evidence.h"
#include "probe-tpm-state.h"
#include "probe-verdict.h"
#include "sc-base64.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-report.h"
#include "sc-term.h"

const char *probe_outcome_name(enum probe_outcome o)
{
	return o == PROBE_SEALED ? "sealed" : o == PROBE_UNSEALED ? "unsealed" : "no-report";
}

const char *probe_outcome_title(enum probe_outcome o)
{
	return o == PROBE_SEALED ? "SEALED" : o == PROBE_UNSEALED ? "NOT SEALED" : "NO REPORT";
}

static int add_tpm_links(const struct probe_session *s, const struct probe_evidence_expect *tpm,
			 struct probe_verdict *v)
{
	struct probe_evidence_expect x = *tpm;
	struct probe_tpm_attest q = { 0 };
	size_t i;
	json_t *l;
	bool all = true;

	if (!s->evidence) {
		v->tpm = json_pack("[{s:s, s:s, s:s}]", "link", "tpm:evidence", "status", "failed", "reason",
				   "the VM has a TPM but its report came without evidence");
	} else {
		x.nonce = s->nonce;
		x.report = (const uint8_t *)s->report_bytes;
		x.report_len = s->report_len;
		v->tpm = probe_evidence_verify(s->evidence, &x, &q);
		if (q.magic) {
			/* Set only for a quote that verified (probe_evidence_verify's ret_attest). */
			v->quote_verified = true;
			v->reset_count = q.reset_count;
			v->restart_count = q.restart_count;
		}
		if (v->tpm && x.counters_file && q.magic) {
			char why[256];
			int r = x.counters_mem ? probe_tpm_state_check_counters_mem(x.counters_file, &q, x.counters_mem,
										    sc_now_ms(), why, sizeof(why))
					       : probe_tpm_state_check_counters(x.counters_file, &q, why, sizeof(why));

			if (r == 1)
				snprintf(why, sizeof(why), "the first quote of this TPM state (reset %u, restart %u)",
					 q.reset_count, q.restart_count);
			else if (r == 0)
				snprintf(why, sizeof(why), "clock and counters moved forward since this VM's last quote");
			json_array_append_new(v->tpm, json_pack("{s:s, s:s, s:s}", "link", "tpm:counters", "status",
								r >= 0 ? "proven" : "failed", "reason", why));
		}
	}
	if (!v->tpm)
		return -ENOMEM;
	json_array_foreach(v->tpm, i, l) {
		const char *st = json_string_value(json_object_get(l, "status"));

		if (st && strcmp(st, "proven") == 0)
			continue;
		all = false;
		if (json_array_append_new(v->links, json_pack("{s:O, s:O}", "link", json_object_get(l, "link"),
							      "reason", json_object_get(l, "reason"))) < 0)
			return -ENOMEM;
	}
	if (all)
		v->evidence = PROBE_EVIDENCE_TPM;
	return 0;
}

int probe_verdict_decide(const struct probe_session *s, const struct probe_policy *p,
			 const struct probe_evidence_expect *tpm, struct probe_verdict *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->evidence = PROBE_EVIDENCE;
	if (s->end == PROBE_END_REPORT && s->report) {
		ret->links = probe_policy_check(p, s->report);
		if (!ret->links)
			return -ENOMEM;
		if (tpm && add_tpm_links(s, tpm, ret) < 0)
			return -ENOMEM;
		ret->outcome = json_array_size(ret->links) == 0 ? PROBE_SEALED : PROBE_UNSEALED;
		return 0;
	}
	ret->links = json_array();
	if (!ret->links)
		return -ENOMEM;
	if (s->end == PROBE_END_FLOOD) {
		/* A guest that floods is misbehaving, not merely silent (docs/threat-model.md T2). */
		ret->outcome = PROBE_UNSEALED;
		json_array_append_new(ret->links, json_pack("{s:s, s:s}", "link", "protocol", "reason", s->why));
		return 0;
	}
	ret->outcome = PROBE_NO_REPORT;
	snprintf(ret->reason, sizeof(ret->reason), "%s%s%s", s->why[0] ? s->why : probe_session_end_name(s->end),
		 s->last_reject[0] ? "; last: " : "", s->last_reject);
	return 0;
}

void probe_verdict_done(struct probe_verdict *v)
{
	if (v->links)
		json_decref(TAKE_PTR(v->links));
	if (v->tpm)
		json_decref(TAKE_PTR(v->tpm));
}

void probe_verdict_fail_unverifiable(const struct probe_session *s, struct probe_verdict *v, const char *why)
{
	if (s->end != PROBE_END_REPORT || !s->report || !v->links)
		return;
	if (v->tpm)
		json_decref(v->tpm);
	v->tpm = json_pack("[{s:s, s:s, s:s}]", "link", "tpm:evidence", "status", "failed", "reason", why);
	if (!v->tpm ||
	    json_array_append_new(v->links, json_pack("{s:s, s:s}", "link", "tpm:evidence", "reason", why)) < 0) {
		/* Out of memory: no verdict rather than one without this link. */
		probe_verdict_done(v);
		memset(v, 0, sizeof(*v));
		v->outcome = PROBE_NO_REPORT;
		snprintf(v->reason, sizeof(v->reason), "out of memory");
		return;
	}
	v->outcome = PROBE_UNSEALED;
	v->evidence = PROBE_EVIDENCE;
}

static double seconds(const struct probe_session *s)
{
	if (!s->connected_ms || s->ended_ms < s->connected_ms)
		return 0;
	return (double)(s->ended_ms - s->connected_ms) / 1000.0;
}

static json_t *policy_json(const struct probe_policy *p)
{
	json_t *digests = json_array();
	char buf[SC_DIGEST_HEX_MAX + 8];

	for (unsigned i = 0; digests && i < p->n_allowed; i++)
		json_array_append_new(digests, json_string(sc_digest_to_string(&p->allowed[i], buf)));
	return json_pack("{s:o?, s:b, s:s}", "digests", digests, "secure_boot", p->require_secure_boot, "source",
			 p->source);
}

json_t *probe_verdict_to_json(const struct probe_session *s, int signal, const struct probe_policy *p,
			      const struct probe_verdict *v)
{
	_cleanup_json_ json_t *out = NULL;

	out = json_pack("{s:s, s:s, s:s, s:s?, s:O, s:O, s:o, s:s, s:i, s:i, s:i, s:i, s:f}", "schema",
			"sealcheck.probe.v1", "verdict", probe_outcome_name(v->outcome), "evidence", v->evidence ?: PROBE_EVIDENCE,
			"reason", v->outcome == PROBE_NO_REPORT ? v->reason : NULL, "failed_links", v->links, "report",
			s->report ? s->report : json_null(), "policy", policy_json(p), "nonce", s->nonce,
			"rejected_reports", s->rejected, "stale_reports", s->stale, "bad_frames", s->dec.bad_frames,
			"oversized_frames", s->dec.oversized, "seconds", seconds(s));
	if (out && v->tpm)
		json_object_set(out, "tpm", v->tpm);
	if (out && s->evidence && s->report_bytes) {
		/* What was verified, byte for byte, for audit and for re-verification. */
		_cleanup_free_ char *b64 = NULL;
		size_t b64_len;

		if (sc_base64_encode(s->report_bytes, s->report_len, &b64, &b64_len) == 0)
			json_object_set_new(out, "report_base64", json_stringn(b64, b64_len));
		json_object_set(out, "tpm_evidence", s->evidence);
	}
	if (out && signal) {
		char name[32];

		snprintf(name, sizeof(name), "SIG%s", sigabbrev_np(signal) ?: "?");
		json_object_set_new(out, "signal", json_string(name));
	}
	return TAKE_PTR(out);
}

/* A guest string on a person's terminal: escaped, and "?" when absent. */
static void put(FILE *f, const char *s)
{
	if (!s)
		fputs("?", f);
	else
		(void)sc_term_fput(f, s, strlen(s), 0);
}

static const char *tag(const char *status)
{
	static const char *const known[][2] = {
		{ "pass", "PASS" }, { "fail", "FAIL" }, { "error", "ERROR" }, { "skip", "SKIP" }
	};

	for (size_t i = 0; status && i < ELEMENTSOF(known); i++)
		if (strcmp(status, known[i][0]) == 0)
			return known[i][1];
	return "?";
}

/* The guest's bootc deployment (system.deployment, validated by sc_report_validate()): its own claim, escaped. */
static void print_deployment(FILE *f, json_t *d)
{
	json_t *image = json_object_get(d, "image"), *staged = json_object_get(d, "staged");

	if (!json_is_object(d))
		return;
	fputs("Image:   ", f);
	if (json_is_object(image)) {
		put(f, sc_json_get_str(image, "image"));
		fputs(" @ ", f);
		put(f, sc_json_get_str(d, "image_digest") ?: "(no manifest digest)");
	} else {
		fputs("unknown: ", f);
		put(f, sc_json_get_str(d, "origin_error") ?: "no image in the deployment's origin");
	}
	fputs(" (the guest's claim)\n", f);
	if (json_is_true(json_object_get(d, "soft_reboot"))) {
		fputs("         soft-rebooted: the command line names ", f);
		put(f, sc_json_get_str(d, "cmdline_verity"));
		fputs(", the root is ", f);
		put(f, sc_json_get_str(d, "verity"));
		fputc('\n', f);
	}
	if (json_is_object(staged)) {
		fputs("         staged for the next boot: ", f);
		put(f, sc_json_get_str(staged, "verity"));
		fputc('\n', f);
	}
}

void probe_verdict_print(FILE *f, const struct probe_session *s, const struct probe_policy *p,
			 const struct probe_verdict *v)
{
	json_t *report = s->report, *checks = json_object_get(report, "checks"), *sys = json_object_get(report, "system"),
	       *l;
	char hex[SC_DIGEST_HEX_MAX + 8];
	size_t i;

	if (report) {
		fputs("Report:  from machine ", f);
		put(f, sc_json_get_str(sys, "machine_id"));
		fputs(", boot ", f);
		put(f, sc_json_get_str(sys, "boot_id"));
		fputs(", kernel ", f);
		put(f, sc_json_get_str(sys, "kernel_release"));
		fprintf(f, "\nNonce:   %.16s... echoed (fresh); %u stale or unsolicited report(s) ignored\n", s->nonce,
			s->stale);
		print_deployment(f, json_object_get(sys, "deployment"));
	}
	fputs("Policy:  ", f);
	for (unsigned k = 0; k < p->n_allowed; k++)
		fprintf(f, "%s%.23s...", k ? ", " : "composefs ", sc_digest_to_string(&p->allowed[k], hex));
	fprintf(f, "%s%s (%s)\n", p->n_allowed ? "" : "no digest", p->require_secure_boot ? ", Secure Boot enforcing" : "",
		p->source);
	/* The checks in our order, whatever order the guest sent them in. */
	for (unsigned id = 0; report && id < _SC_CHECK_MAX; id++) {
		json_t *c = json_object_get(checks, sc_check_key(id));

		if (!c)
			continue;
		fprintf(f, "  %-5s %-16s ", tag(sc_json_get_str(c, "status")), sc_check_key(id));
		put(f, sc_json_get_str(c, "reason"));
		fputc('\n', f);
	}
	if (v->tpm) {
		fputs("TPM evidence (checked by the host, not the guest's word):\n", f);
		json_array_foreach(v->tpm, i, l) {
			const char *st = sc_json_get_str(l, "status");

			fprintf(f, "  %-6s %-16s ", st && strcmp(st, "proven") == 0 ? "PROVEN" : "FAILED", sc_json_get_str(l, "link") ?: "?");
			put(f, sc_json_get_str(l, "reason"));
			fputc('\n', f);
		}
	}
	json_array_foreach(v->links, i, l) {
		fputs("  broken link: ", f);
		put(f, sc_json_get_str(l, "link"));
		fputs(": ", f);
		put(f, sc_json_get_str(l, "reason"));
		fputc('\n', f);
	}
	if (v->outcome == PROBE_NO_REPORT) {
		fprintf(f, "\nVerdict: %s: ", probe_outcome_title(v->outcome));
		put(f, v->reason);
		fputc('\n', f);
	} else if (v->evidence && strcmp(v->evidence, PROBE_EVIDENCE_TPM) == 0)
		fprintf(f,
			"\nVerdict: %s (the VM's TPM proves Secure Boot with the host's keys, the UKI the host built and its "
			"composefs= digest; root mount, image and objects are claimed by that verified boot chain) after %.1f s\n",
			probe_outcome_title(v->outcome), seconds(s));
	else if (v->tpm) {
		/* Evidence came and was checked: say what the TPM showed, never "no TPM evidence". */
		size_t proven = 0, total = json_array_size(v->tpm);
		const char *first = NULL;

		json_array_foreach(v->tpm, i, l) {
			if (strcmp(sc_json_get_str(l, "status") ?: "", "proven") == 0)
				proven++;
			else if (!first)
				first = sc_json_get_str(l, "link");
		}
		fprintf(f, "\nVerdict: %s (the host checked the VM's TPM evidence: %zu of %zu links proven, the first to fail ",
			probe_outcome_title(v->outcome), proven, total);
		put(f, first ?: "?");
		fprintf(f, "; the report is the guest's claim) after %.1f s\n", seconds(s));
	} else
		fprintf(f, "\nVerdict: %s (%s: the guest's report, checked against the host's policy; no TPM evidence) after %.1f s\n",
			probe_outcome_title(v->outcome), PROBE_EVIDENCE, seconds(s));
}
