/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "probe-evidence.h"
#include "probe-eventlog.h"
#include "probe-pcr11.h"
#include "probe-pe.h"
#include "sc-evidence.h"
#include "sc-fileio.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-wire.h"

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int probe_base64_decode(const char *s, size_t max, uint8_t **ret, size_t *ret_len)
{
	size_t n = strlen(s), pad = 0, out_len, o = 0;
	_cleanup_free_ uint8_t *out = NULL;

	if (n % 4 != 0)
		return -EBADMSG;
	if (n && s[n - 1] == '=')
		pad = n >= 2 && s[n - 2] == '=' ? 2 : 1;
	out_len = n / 4 * 3 - pad;
	if (out_len > max)
		return -EMSGSIZE;
	out = malloc(out_len ? out_len : 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		uint32_t w;

		for (int k = 0; k < 4; k++) {
			bool padding = s[i + k] == '=' && i + 4 == n && k >= 4 - (int)pad;

			v[k] = padding ? 0 : b64_value((unsigned char)s[i + k]);
			if (v[k] < 0)
				return -EBADMSG;
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		for (int k = 0; k < 3 && o < out_len; k++)
			out[o++] = (uint8_t)(w >> (16 - 8 * k));
		/* Padding must encode zero bits (canonical form). */
		if (i + 4 == n && pad && (w & (pad == 2 ? 0xffffu : 0xffu)) != 0)
			return -EBADMSG;
	}
	*ret = TAKE_PTR(out);
	*ret_len = out_len;
	return 0;
}

int probe_cert_der(const char *path, uint8_t **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	const unsigned char *p;
	unsigned char *der = NULL;
	X509 *x = NULL;
	BIO *bio;
	size_t len;
	int r = sc_read_file_capped(path, 64 * 1024, &buf, &len), n;

	if (r < 0)
		return r;
	bio = BIO_new_mem_buf(buf, (int)len);
	if (!bio)
		return -ENOMEM;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!x) {
		p = (const unsigned char *)buf;
		x = d2i_X509(NULL, &p, (long)len);
	}
	if (!x)
		return -EBADMSG;
	n = i2d_X509(x, &der);
	X509_free(x);
	if (n <= 0)
		return -EBADMSG;
	*ret = malloc((size_t)n);
	if (!*ret) {
		OPENSSL_free(der);
		return -ENOMEM;
	}
	memcpy(*ret, der, (size_t)n);
	*ret_len = (size_t)n;
	OPENSSL_free(der);
	return 0;
}

static int link_add(json_t *links, const char *link, bool proven, const char *reason)
{
	return json_array_append_new(links, json_pack("{s:s, s:s, s:s}", "link", link, "status",
						      proven ? "proven" : "failed", "reason", reason));
}

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static bool hex_to_bytes(const char *hex, uint8_t *out, size_t n)
{
	if (!hex || strlen(hex) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;

		for (int k = 0; k < 2; k++) {
			char c = hex[2 * i + (size_t)k];

			if (c >= '0' && c <= '9')
				v = v << 4 | (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = v << 4 | (unsigned)(c - 'a' + 10);
			else
				return false;
		}
		out[i] = (uint8_t)v;
	}
	return true;
}

static bool contains(const uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t needle_len)
{
	return needle && needle_len && hay && hay_len >= needle_len && memmem(hay, hay_len, needle, needle_len);
}

struct decoded {
	uint8_t *ak, *quote, *sig, *eventlog;
	size_t ak_len, quote_len, sig_len, eventlog_len;
	uint8_t values[10 * 32];
	size_t values_len;
};

static void decoded_done(struct decoded *d)
{
	free(d->ak);
	free(d->quote);
	free(d->sig);
	free(d->eventlog);
}

/* The document's shape, strictly: known keys only, every field of its type and within its cap. */
static int decode(json_t *ev, struct decoded *d, char *why, size_t why_size)
{
	static const char *const keys[] = { "schema", "nonce", "report_sha256", "ak_public", "quote",
					    "signature", "pcrs", "eventlog", "userspace_log" };
	json_t *pcrs, *bank, *v;
	const char *k;

	if (!json_is_object(ev))
		return snprintf(why, why_size, "not a JSON object"), -EBADMSG;
	json_object_foreach(ev, k, v) {
		bool known = false;

		for (size_t i = 0; i < ELEMENTSOF(keys); i++)
			known |= strcmp(k, keys[i]) == 0;
		if (!known)
			return snprintf(why, why_size, "unknown key"), -EBADMSG;
	}
	if (!str(ev, "schema") || strcmp(str(ev, "schema"), SC_EVIDENCE_SCHEMA) != 0)
		return snprintf(why, why_size, "schema is not %s", SC_EVIDENCE_SCHEMA), -EBADMSG;
	if (!str(ev, "ak_public") || probe_base64_decode(str(ev, "ak_public"), PROBE_TPM_PUBLIC_MAX, &d->ak, &d->ak_len) < 0)
		return snprintf(why, why_size, "ak_public is not base64 of at most %u bytes", PROBE_TPM_PUBLIC_MAX), -EBADMSG;
	if (!str(ev, "quote") || probe_base64_decode(str(ev, "quote"), PROBE_TPM_ATTEST_MAX, &d->quote, &d->quote_len) < 0)
		return snprintf(why, why_size, "quote is not base64 of at most %u bytes", PROBE_TPM_ATTEST_MAX), -EBADMSG;
	if (!str(ev, "signature") ||
	    probe_base64_decode(str(ev, "signature"), PROBE_TPM_SIGNATURE_MAX, &d->sig, &d->sig_len) < 0)
		return snprintf(why, why_size, "signature is not base64 of at most %u bytes", PROBE_TPM_SIGNATURE_MAX),
		       -EBADMSG;
	if (!str(ev, "eventlog") ||
	    probe_base64_decode(str(ev, "eventlog"), SC_EVIDENCE_EVENTLOG_MAX, &d->eventlog, &d->eventlog_len) < 0)
		return snprintf(why, why_size, "eventlog is not base64 of at most %u bytes", SC_EVIDENCE_EVENTLOG_MAX),
		       -EBADMSG;
	v = json_object_get(ev, "userspace_log");
	if (v && !json_is_null(v) && !json_is_string(v))
		return snprintf(why, why_size, "userspace_log is neither base64 nor null"), -EBADMSG;
	pcrs = json_object_get(ev, "pcrs");
	bank = json_object_get(pcrs, "sha256");
	if (!json_is_object(pcrs) || json_object_size(pcrs) != 1 || !json_is_object(bank))
		return snprintf(why, why_size, "pcrs is not {\"sha256\": {...}}"), -EBADMSG;
	/* The values in selection order: PCRs ascending, as a TPML_PCR_SELECTION lists them. */
	d->values_len = 0;
	for (unsigned pcr = 0; pcr < 24; pcr++) {
		char name[4];

		if (!(SC_EVIDENCE_PCR_MASK & (1u << pcr)))
			continue;
		snprintf(name, sizeof(name), "%u", pcr);
		if (!hex_to_bytes(str(bank, name), d->values + d->values_len, 32))
			return snprintf(why, why_size, "pcrs.sha256.%u is not 64 hex characters", pcr), -EBADMSG;
		d->values_len += 32;
	}
	if (json_object_size(bank) != d->values_len / 32)
		return snprintf(why, why_size, "pcrs.sha256 holds PCRs not asked for"), -EBADMSG;
	return 0;
}

static const uint8_t *pcr_value(const struct decoded *d, unsigned pcr)
{
	size_t idx = 0;

	for (unsigned i = 0; i < pcr; i++)
		idx += (SC_EVIDENCE_PCR_MASK >> i) & 1u;
	return d->values + idx * 32;
}

/* composefs=<hex> (or composefs.digest=) in the UKI's own .cmdline, allowed by the policy, never "?". */
static int cmdline_link(const struct probe_pe *pe, const struct probe_policy *policy, char *why, size_t why_size)
{
	char text[4097];
	bool found = false;

	for (unsigned i = 0; i < pe->n_sections; i++) {
		const uint8_t *raw;
		size_t len;

		if (strcmp(pe->sections[i].name, ".cmdline") != 0)
			continue;
		probe_pe_section_raw(pe, &pe->sections[i], &raw, &len);
		if (len >= sizeof(text))
			return snprintf(why, why_size, "the UKI's .cmdline is longer than 4 KiB"), -EPERM;
		memcpy(text, raw, len);
		text[len] = '\0';
		found = true;
	}
	if (!found)
		return snprintf(why, why_size, "the booted UKI has no .cmdline"), -EPERM;
	for (char *save = NULL, *tok = strtok_r(text, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		const char *v = NULL;
		struct probe_policy one;

		if (strncmp(tok, "composefs=", 10) == 0)
			v = tok + 10;
		else if (strncmp(tok, "composefs.digest=", 17) == 0)
			v = tok + 17;
		if (!v)
			continue;
		if (v[0] == '?')
			return snprintf(why, why_size, "the UKI's .cmdline makes verity optional (composefs=?)"), -EPERM;
		probe_policy_init(&one);
		if (probe_policy_allow(&one, v) < 0)
			return snprintf(why, why_size, "the UKI's .cmdline has a malformed composefs digest"), -EPERM;
		for (unsigned k = 0; k < policy->n_allowed; k++)
			if (sc_digest_equal(&policy->allowed[k], &one.allowed[0]))
				return snprintf(why, why_size, "the sealed UKI's .cmdline (proven by PCR 11) names an allowed digest"), 0;
		return snprintf(why, why_size, "the booted UKI's .cmdline names a digest the policy does not allow"), -EPERM;
	}
	return snprintf(why, why_size, "the booted UKI's .cmdline names no composefs digest"), -EPERM;
}

json_t *probe_evidence_verify(json_t *ev, const struct probe_evidence_expect *x, struct probe_tpm_attest *ret_attest)
{
	_cleanup_json_ json_t *links = json_array();
	_cleanup_(decoded_done) struct decoded d = { 0 };
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	struct probe_pcr_selection sel = { .n_banks = 1, .banks = { { PROBE_TPM_ALG_SHA256, SC_EVIDENCE_PCR_MASK } } };
	struct probe_tpm_attest attest;
	uint8_t extra[32], report_sha[32], want_sha[32];
	char why[512], buf[600];
	bool quote_ok = false, log_ok = false;
	int r;

	if (!links)
		return NULL;
#define LINK(name, ok, reason)                                   \
	do {                                                     \
		if (link_add(links, name, ok, reason) < 0)       \
			return NULL;                             \
	} while (0)

	r = decode(ev, &d, why, sizeof(why));
	if (r < 0) {
		snprintf(buf, sizeof(buf), "the evidence is malformed: %s", why);
		LINK("tpm:binding", false, buf);
		return TAKE_PTR(links);
	}
	SHA256(x->report, x->report_len, report_sha);
	if (!str(ev, "nonce") || strcmp(str(ev, "nonce"), x->nonce) != 0)
		LINK("tpm:binding", false, "the evidence names another nonce");
	else if (!hex_to_bytes(str(ev, "report_sha256"), want_sha, 32) || memcmp(want_sha, report_sha, 32) != 0)
		LINK("tpm:binding", false, "the evidence is for other report bytes than those received");
	else
		LINK("tpm:binding", true, "the evidence names our nonce and the report received");

	/* The quote: what binds everything else to the TPM. */
	if (sc_evidence_qualifying_data(x->nonce, x->report, x->report_len, extra) < 0)
		return NULL;
	{
		struct probe_quote_input in = {
			.ak_public = d.ak, .ak_public_len = d.ak_len,
			.expected_ak_name = x->ak_name, .expected_ak_name_len = x->ak_name_len,
			.attest = d.quote, .attest_len = d.quote_len,
			.signature = d.sig, .signature_len = d.sig_len,
			.expected_extra_data = extra, .expected_extra_data_len = sizeof(extra),
			.expected_selection = &sel,
			.pcr_values = d.values, .pcr_values_len = d.values_len,
		};
		enum probe_quote_step step;

		if (!x->ak_name) {
			LINK("tpm:quote", false, "no attestation key is pinned for this VM: the host did not derive it");
		} else {
			step = probe_quote_verify(&in, &attest, why, sizeof(why));
			if (step == PROBE_QUOTE_OK) {
				quote_ok = true;
				if (ret_attest)
					*ret_attest = attest;
				snprintf(buf, sizeof(buf),
					 "signed by the pinned AK over our nonce and this report; PCRs 0-5,7,9,11,12 "
					 "(reset %u, restart %u)",
					 attest.reset_count, attest.restart_count);
				LINK("tpm:quote", true, buf);
			} else {
				snprintf(buf, sizeof(buf), "%s: %s", probe_quote_step_name(step), why);
				LINK("tpm:quote", false, buf);
			}
		}
	}
	if (!quote_ok) {
		/* Nothing below means anything without a verified quote. */
		static const char *const rest[] = { "tpm:eventlog", "tpm:secure_boot", "tpm:pcr11", "tpm:pcr12",
						    "tpm:cmdline" };

		for (size_t i = 0; i < ELEMENTSOF(rest); i++)
			LINK(rest[i], false, "not verified: the quote did not verify");
		return TAKE_PTR(links);
	}

	/* The firmware event log: guest data until it replays to the quoted PCRs. */
	r = probe_eventlog_parse(d.eventlog, d.eventlog_len, &log, why, sizeof(why));
	if (r >= 0)
		r = probe_eventlog_check_pcrs(log, PROBE_TPM_ALG_SHA256, &sel, d.values, d.values_len, why, sizeof(why));
	if (r < 0) {
		snprintf(buf, sizeof(buf), "%s", why);
		LINK("tpm:eventlog", false, buf);
	} else {
		log_ok = true;
		LINK("tpm:eventlog", true, "the firmware event log replays to every quoted PCR");
	}

	/* PCR 7. */
	if (!log_ok)
		LINK("tpm:secure_boot", false, "not verified: the event log did not replay");
	else {
		struct probe_secureboot sb;
		bool authority = false;

		r = probe_eventlog_secureboot(log, &sb, why, sizeof(why));
		for (size_t i = 0; r >= 0 && i < sb.n_authorities; i++)
			authority |= contains(sb.authorities[i].data, sb.authorities[i].data_len, x->db, x->db_len);
		if (r < 0)
			LINK("tpm:secure_boot", false, why);
		else if (!sb.secure_boot)
			LINK("tpm:secure_boot", false, "PCR 7: SecureBoot was not measured as enabled");
		else if (!contains(sb.pk.data, sb.pk.data_len, x->pk, x->pk_len) ||
			 !contains(sb.kek.data, sb.kek.data_len, x->kek, x->kek_len) ||
			 !contains(sb.db.data, sb.db.data_len, x->db, x->db_len))
			LINK("tpm:secure_boot", false, "PCR 7: PK, KEK or db is not what the host enrolled");
		else if (!authority)
			LINK("tpm:secure_boot", false, "PCR 7: the UKI was not verified by the host's db certificate");
		else if (sb.dbx.data_len == 0)
			LINK("tpm:secure_boot", false, "PCR 7: dbx was measured empty");
		else
			LINK("tpm:secure_boot", true,
			     "PCR 7: Secure Boot on, the host's PK, KEK and db, the UKI verified by the host's db certificate");
	}

	/* PCR 11 and the cmdline, from the UKI the host booted. */
	if (!x->uki_path) {
		LINK("tpm:pcr11", false, "the host does not know which UKI it booted");
		LINK("tpm:pcr12", false, "not verified");
		LINK("tpm:cmdline", false, "the host does not know which UKI it booted");
	} else {
		struct probe_pe pe;
		struct probe_pcr11 pred;

		r = probe_pe_load(x->uki_path, &pe, why, sizeof(why));
		if (r >= 0) {
			r = probe_pcr11_predict(&pe, PROBE_BANK_SHA256, 0, NULL, 0, &pred, why, sizeof(why));
			if (r < 0)
				LINK("tpm:pcr11", false, why);
			else if (memcmp(pcr_value(&d, 11), pred.sections_value, 32) != 0)
				LINK("tpm:pcr11", false, "PCR 11 is not what the sealed UKI the host built measures to: another UKI booted");
			else {
				snprintf(buf, sizeof(buf), "PCR 11 equals the prediction for the sealed UKI the host built (%u sections, systemd-stub %u)",
					 pred.n_events, pred.stub_version);
				LINK("tpm:pcr11", true, buf);
			}
			{
				static const uint8_t zero[32];

				if (memcmp(pcr_value(&d, 12), zero, 32) != 0)
					LINK("tpm:pcr12", false, "PCR 12 was extended: a cmdline override, credential or addon");
				else
					LINK("tpm:pcr12", true, "PCR 12 untouched: no cmdline override");
			}
			r = cmdline_link(&pe, x->policy, why, sizeof(why));
			LINK("tpm:cmdline", r >= 0, why);
			probe_pe_done(&pe);
		} else {
			snprintf(buf, sizeof(buf), "%s: %s", x->uki_path, why);
			LINK("tpm:pcr11", false, buf);
			LINK("tpm:pcr12", false, "not verified");
			LINK("tpm:cmdline", false, buf);
		}
	}
#undef LINK
	return TAKE_PTR(links);
}

int probe_quote_counters_check(const char *state_file, const struct probe_tpm_attest *q, char *why, size_t why_size)
{
	_cleanup_free_ char *buf = NULL, *tmp = NULL;
	unsigned long long clock = 0;
	unsigned reset = 0, restart = 0;
	bool first = false;
	size_t len;
	FILE *f;
	int r = sc_read_file_capped(state_file, 256, &buf, &len);

	if (r == -ENOENT)
		first = true;
	else if (r < 0)
		return snprintf(why, why_size, "%s: %s", state_file, strerror(-r)), r;
	else if (sscanf(buf, "%llu %u %u", &clock, &reset, &restart) != 3)
		return snprintf(why, why_size, "%s: not \"clock reset restart\"", state_file), -EBADMSG;
	if (!first) {
		if (q->reset_count < reset)
			return snprintf(why, why_size, "resetCount went back from %u to %u", reset, q->reset_count), -EPERM;
		if (q->reset_count == reset && q->restart_count < restart)
			return snprintf(why, why_size, "restartCount went back from %u to %u", restart, q->restart_count),
			       -EPERM;
		if (q->reset_count == reset && q->restart_count == restart && q->clock <= clock)
			return snprintf(why, why_size, "the TPM clock did not advance (%llu after %llu)",
					(unsigned long long)q->clock, clock),
			       -EPERM;
	}
	if (asprintf(&tmp, "%s.new", state_file) < 0)
		return -ENOMEM;
	f = fopen(tmp, "we");
	if (!f)
		return snprintf(why, why_size, "%s: %s", tmp, strerror(errno)), -errno;
	fprintf(f, "%llu %u %u\n", (unsigned long long)q->clock, q->reset_count, q->restart_count);
	if (fclose(f) != 0 || rename(tmp, state_file) < 0)
		return snprintf(why, why_size, "%s: %s", state_file, strerror(errno)), -errno;
	return first ? 1 : 0;
}
