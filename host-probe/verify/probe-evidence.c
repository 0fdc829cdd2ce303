/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "sc-endian.h"
#include "sc-openssl.h"
#include "probe-evidence.h"
#include "probe-eventlog.h"
#include "probe-pcr11.h"
#include "probe-pe.h"
#include "probe-tpm-state.h"
#include "probe-uki-ref.h"
#include "sc-base64.h"
#include "sc-cmdline.h"
#include "sc-evidence.h"
#include "sc-fileio.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-why.h"
#include "sc-wire.h"

int probe_cert_der_mem(const char *buf, size_t len, uint8_t **ret, size_t *ret_len)
{
	const unsigned char *p;
	unsigned char *der = NULL;
	_cleanup_(X509_freep) X509 *x = NULL;
	int n;

	if (len > 64 * 1024)
		return -EMSGSIZE;
	{
		_cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(buf, (int)len);

		if (!bio)
			return -ENOMEM;
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	}
	if (!x) {
		p = (const unsigned char *)buf;
		x = d2i_X509(NULL, &p, (long)len);
	}
	if (!x)
		return -EBADMSG;
	n = i2d_X509(x, &der);
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

int probe_cert_der(const char *path, uint8_t **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = sc_read_file_capped(path, 64 * 1024, &buf, &len);

	if (r < 0)
		return r;
	return probe_cert_der_mem(buf, len, ret, ret_len);
}

struct decoded {
	uint8_t *ak, *quote, *sig, *eventlog, *userlog;
	size_t ak_len, quote_len, sig_len, eventlog_len, userlog_len;
	bool has_userlog;
	uint8_t values[10 * 32];
	size_t values_len;
};

static void decoded_done(struct decoded *d)
{
	free(d->ak);
	free(d->quote);
	free(d->sig);
	free(d->eventlog);
	free(d->userlog);
}

/* The document's shape, strictly: known keys only, every field of its type and within its cap. */
static int decode(json_t *ev, struct decoded *d, char *why, size_t why_size)
{
	static const char *const keys[] = { "schema", "nonce", "report_sha256", "ak_public", "quote",
					    "signature", "pcrs", "eventlog", "userspace_log" };
	json_t *pcrs, *bank, *v;
	const char *k;

	if (!json_is_object(ev))
		return sc_why(-EBADMSG, why, why_size, "not a JSON object");
	json_object_foreach(ev, k, v) {
		bool known = false;

		for (size_t i = 0; i < ELEMENTSOF(keys); i++)
			known |= strcmp(k, keys[i]) == 0;
		if (!known)
			return sc_why(-EBADMSG, why, why_size, "unknown key");
	}
	if (!sc_json_get_str(ev, "schema") || strcmp(sc_json_get_str(ev, "schema"), SC_EVIDENCE_SCHEMA) != 0)
		return sc_why(-EBADMSG, why, why_size, "schema is not %s", SC_EVIDENCE_SCHEMA);
	if (!sc_json_get_str(ev, "ak_public") || sc_base64_decode(sc_json_get_str(ev, "ak_public"), PROBE_TPM_PUBLIC_MAX, &d->ak, &d->ak_len) < 0)
		return sc_why(-EBADMSG, why, why_size, "ak_public is not base64 of at most %u bytes",
		              PROBE_TPM_PUBLIC_MAX);
	if (!sc_json_get_str(ev, "quote") || sc_base64_decode(sc_json_get_str(ev, "quote"), PROBE_TPM_ATTEST_MAX, &d->quote, &d->quote_len) < 0)
		return sc_why(-EBADMSG, why, why_size, "quote is not base64 of at most %u bytes", PROBE_TPM_ATTEST_MAX);
	if (!sc_json_get_str(ev, "signature") ||
	    sc_base64_decode(sc_json_get_str(ev, "signature"), PROBE_TPM_SIGNATURE_MAX, &d->sig, &d->sig_len) < 0)
		return sc_why(-EBADMSG, why, why_size, "signature is not base64 of at most %u bytes",
		              PROBE_TPM_SIGNATURE_MAX);
	if (!sc_json_get_str(ev, "eventlog") ||
	    sc_base64_decode(sc_json_get_str(ev, "eventlog"), SC_EVIDENCE_EVENTLOG_MAX, &d->eventlog, &d->eventlog_len) < 0)
		return sc_why(-EBADMSG, why, why_size, "eventlog is not base64 of at most %u bytes",
		              SC_EVIDENCE_EVENTLOG_MAX);
	v = json_object_get(ev, "userspace_log");
	if (v && !json_is_null(v) && !json_is_string(v))
		return sc_why(-EBADMSG, why, why_size, "userspace_log is neither base64 nor null");
	if (json_is_string(v)) {
		if (sc_base64_decode(json_string_value(v), SC_EVIDENCE_USERLOG_MAX, &d->userlog, &d->userlog_len) < 0)
			return sc_why(-EBADMSG, why, why_size, "userspace_log is not base64 of at most %u bytes",
			              SC_EVIDENCE_USERLOG_MAX);
		d->has_userlog = true;
	}
	pcrs = json_object_get(ev, "pcrs");
	bank = json_object_get(pcrs, "sha256");
	if (!json_is_object(pcrs) || json_object_size(pcrs) != 1 || !json_is_object(bank))
		return sc_why(-EBADMSG, why, why_size, "pcrs is not {\"sha256\": {...}}");
	/* The values in selection order: PCRs ascending, as a TPML_PCR_SELECTION lists them. */
	d->values_len = 0;
	for (unsigned pcr = 0; pcr < 24; pcr++) {
		char name[4];

		if (!(SC_EVIDENCE_PCR_MASK & (1u << pcr)))
			continue;
		snprintf(name, sizeof(name), "%u", pcr);
		if (sc_hex_decode(sc_json_get_str(bank, name), d->values + d->values_len, 32) < 0)
			return sc_why(-EBADMSG, why, why_size, "pcrs.sha256.%u is not 64 hex characters", pcr);
		d->values_len += 32;
	}
	if (json_object_size(bank) != d->values_len / 32)
		return sc_why(-EBADMSG, why, why_size, "pcrs.sha256 holds PCRs not asked for");
	return 0;
}

static const uint8_t *pcr_value(const struct decoded *d, unsigned pcr)
{
	size_t idx = 0;

	for (unsigned i = 0; i < pcr; i++)
		idx += (SC_EVIDENCE_PCR_MASK >> i) & 1u;
	return d->values + idx * 32;
}

/* ---- PCR 11 and PCR 9, event by event ---- */

/* The event's data is @name as systemd-stub describes it: UTF-16LE or ASCII, NUL-terminated. */
static bool description_is(const struct probe_event *e, const char *name)
{
	size_t n = strlen(name);

	if (e->data_len == n + 1)
		return memcmp(e->data, name, n + 1) == 0;
	if (e->data_len != 2 * (n + 1))
		return false;
	for (size_t i = 0; i <= n; i++)
		if (e->data[2 * i] != (uint8_t)name[i] || e->data[2 * i + 1] != 0)
			return false;
	return true;
}

/* The description as printable ASCII (UTF-16LE or ASCII), for messages. */
/* The description as printable ASCII (UTF-16LE or ASCII), for messages. */
static void description_of(const struct probe_event *e, char *out, size_t out_size)
{
	bool utf16 = e->data_len >= 2 && e->data_len % 2 == 0 && e->data[1] == 0;
	size_t o = 0;

	for (size_t i = 0; i < e->data_len && o + 1 < out_size && o < 32; i += utf16 ? 2 : 1) {
		uint8_t c = e->data[i];

		if (c == 0 && (!utf16 || e->data[i + 1] == 0))
			break;
		out[o++] = c >= 0x20 && c < 0x7f && (!utf16 || e->data[i + 1] == 0) ? (char)c : '?';
	}
	out[o] = 0;
}

static int find_section(const struct probe_pcr11 *pred, const struct probe_event *e)
{
	for (unsigned i = 0; i < pred->n_events; i++)
		if (description_is(e, pred->events[i].name))
			return (int)i;
	return -1;
}

/* The firmware log's PCR 11 events are exactly @pred's: per section its name, then its content. */
int probe_evidence_pcr11_events(const struct probe_eventlog *log, const struct probe_pcr11 *pred, char *why, size_t why_size)
{
	int sha = probe_eventlog_alg_index(log, PROBE_TPM_ALG_SHA256);
	unsigned want = 0; /* index into the 2 * n_events expected events */

	if (sha < 0 || pred->bank != PROBE_BANK_SHA256)
		return sc_why(-EPERM, why, why_size, "PCR 11: the log has no sha256 bank");

	for (size_t i = 0; i < log->n_events; i++) {
		const struct probe_event *e = &log->events[i];
		const struct probe_pcr11_event *s;
		char desc[40];
		bool data_event;
		int at;

		if (e->pcr != 11 || e->type == PROBE_EV_NO_ACTION)
			continue;
		description_of(e, desc, sizeof(desc));
		if (want >= 2 * pred->n_events)
			return sc_why(-EPERM, why, why_size, "PCR 11: an event after the sealed UKI's last section (type %#x, \"%s\", log offset %zu)",
			              e->type, desc, e->offset);
		s = &pred->events[want / 2];
		data_event = want % 2 == 1;
		if (e->type != PROBE_EV_IPL)
			return sc_why(-EPERM, why, why_size, "PCR 11: the %s event of section %s is of type %#x, not EV_IPL",
			              data_event ? "content" : "name", s->name, e->type);
		if (!description_is(e, s->name)) {
			at = find_section(pred, e);
			if (at < 0)
				return sc_why(-EPERM, why, why_size, "PCR 11: section \"%s\" is measured, which the sealed UKI does not have (%s expected)",
				              desc, s->name);
			if ((unsigned)at > want / 2)
				return sc_why(-EPERM, why, why_size, "PCR 11: section %s is missing (the log measures %s next)",
				              s->name, pred->events[at].name);
			return sc_why(-EPERM, why, why_size, "PCR 11: section %s is measured again or out of order (%s expected)",
			              pred->events[at].name, s->name);
		}
		if (memcmp(e->digests[sha], data_event ? s->data_digest : s->name_digest, 32) != 0)
			return sc_why(-EPERM, why, why_size, "PCR 11: section %s: the %s digest is not the sealed UKI's",
			              s->name, data_event ? "content" : "name");
		want++;
	}
	if (want < 2 * pred->n_events)
		return sc_why(-EPERM, why, why_size, "PCR 11: section %s is missing from the log (%s event)",
		              pred->events[want / 2].name, want % 2 ? "content" : "name");
	return 0;
}

#define TAG_LOAD_OPTIONS 0x8F3B22EDu /* Linux drivers/firmware/efi/libstub: EFISTUB_EVT_LOAD_OPTIONS */
#define TAG_INITRD 0x8F3B22ECu       /* EFISTUB_EVT_INITRD */

struct pcr9_expect {
	uint32_t tag;
	const char *desc;
	uint8_t digest[32];
};

/*
 * What the kernel's EFI stub measures into PCR 9 for this UKI, in its order:
 * the LoadOptions systemd-stub hands it (the .cmdline up to its first NUL,
 * as UTF-16LE with a NUL, the size strsize16() gives), then the initrd (the
 * .initrd content as the stub serves it, zero-padded to VirtualSize: PCR 11's
 * content digest of .initrd).
 */
/*
 * The command line the stub passes from its .cmdline (systemd src/boot/util.c
 * mangle_stub_cmdline(), 252 and 257): up to the first NUL, control bytes and
 * DEL become spaces, leading and trailing ones dropped. Into @out (@len + 1
 * bytes); returns its length.
 */
static size_t stub_cmdline(const uint8_t *raw, size_t len, char *out)
{
	size_t o = 0, end = 0, i = 0;

	while (i < len && raw[i] != 0 && (raw[i] <= 0x20 || raw[i] == 0x7f))
		i++;
	for (; i < len && raw[i] != 0; i++) {
		if (raw[i] <= 0x20 || raw[i] == 0x7f) {
			out[o++] = ' ';
			continue;
		}
		out[o++] = (char)raw[i];
		end = o;
	}
	out[end] = 0;
	return end;
}

static int pcr9_expected(const uint8_t *cmdline, size_t cmdline_len, const struct probe_pcr11 *pred, struct pcr9_expect *out,
			 unsigned *ret_n, char *why, size_t why_size)
{
	unsigned n = 0;

	for (unsigned i = 0; i < pred->n_events; i++) {
		const struct probe_pcr11_event *ev = &pred->events[i];

		if (cmdline && strcmp(ev->name, ".cmdline") == 0) {
			_cleanup_free_ uint8_t *u16 = NULL;
			_cleanup_free_ char *mangled = NULL;
			size_t len = cmdline_len, chars;
			const uint8_t *raw;

			if (len > ev->size)
				len = (size_t)ev->size;
			if (len > 64 * 1024)
				return sc_why(-EPERM, why, why_size, "PCR 9: the .cmdline is over 64 KiB");
			mangled = malloc(len + 1);
			if (!mangled)
				return -ENOMEM;
			chars = stub_cmdline(cmdline, len, mangled);
			raw = (const uint8_t *)mangled;
			u16 = calloc(chars + 1, 2);
			if (!u16)
				return -ENOMEM;
			for (size_t c = 0; c < chars; c++) {
				if (raw[c] >= 0x80)
					return sc_why(-EPERM, why, why_size, "PCR 9: the .cmdline is not ASCII: the UTF-16 the stub makes of it is not predicted here");
				u16[2 * c] = raw[c];
			}
			out[n].tag = TAG_LOAD_OPTIONS;
			out[n].desc = "LOADED_IMAGE::LoadOptions";
			SHA256(u16, 2 * (chars + 1), out[n].digest);
			n++;
		}
	}
	if (pred->has_initrd) {
		/* What the stub passes (probe_pcr11_predict()): .initrd, or for 257 more, concatenated. */
		out[n].tag = TAG_INITRD;
		out[n].desc = "Linux initrd";
		memcpy(out[n].digest, pred->initrd_sha256, 32);
		n++;
	}
	*ret_n = n;
	return 0;
}

int probe_evidence_pcr9_events(const struct probe_eventlog *log, const uint8_t *cmdline, size_t cmdline_len,
			       const struct probe_pcr11 *pred, char *why, size_t why_size)
{
	int sha = probe_eventlog_alg_index(log, PROBE_TPM_ALG_SHA256), r;
	struct pcr9_expect want[2];
	unsigned k = 0, n_want = 0;

	if (sha < 0)
		return sc_why(-EPERM, why, why_size, "PCR 9: the log has no sha256 bank");
	r = pcr9_expected(cmdline, cmdline_len, pred, want, &n_want, why, why_size);
	if (r < 0)
		return r;

	for (size_t i = 0; i < log->n_events; i++) {
		const struct probe_event *e = &log->events[i];
		uint32_t tag, size;

		if (e->pcr != 9 || e->type == PROBE_EV_NO_ACTION)
			continue;
		if (e->type != PROBE_EV_EVENT_TAG || e->data_len < 8)
			return sc_why(-EPERM, why, why_size, "PCR 9: an event of type %#x (log offset %zu), not the kernel's tagged event",
			              e->type, e->offset);
		tag = (uint32_t)e->data[0] | (uint32_t)e->data[1] << 8 | (uint32_t)e->data[2] << 16 | (uint32_t)e->data[3] << 24;
		size = (uint32_t)e->data[4] | (uint32_t)e->data[5] << 8 | (uint32_t)e->data[6] << 16 | (uint32_t)e->data[7] << 24;
		if (size != e->data_len - 8)
			return sc_why(-EPERM, why, why_size, "PCR 9: a tagged event whose size (%u) is not its data's (log offset %zu)",
			              size, e->offset);
		if (tag != TAG_LOAD_OPTIONS && tag != TAG_INITRD)
			return sc_why(-EPERM, why, why_size, "PCR 9: an unknown tagged event %#x (log offset %zu)", tag,
			              e->offset);
		if (k >= n_want)
			return sc_why(-EPERM, why, why_size, "PCR 9: an extra \"%s\" event: the sealed UKI accounts for no more",
			              tag == TAG_INITRD ? "Linux initrd" : "LOADED_IMAGE::LoadOptions");
		if (tag != want[k].tag)
			return sc_why(-EPERM, why, why_size, "PCR 9: \"%s\" expected, the log has \"%s\" (missing or out of order)",
			              want[k].desc, tag == TAG_INITRD ? "Linux initrd" : "LOADED_IMAGE::LoadOptions");
		if (size != strlen(want[k].desc) + 1 || memcmp(e->data + 8, want[k].desc, size) != 0)
			return sc_why(-EPERM, why, why_size, "PCR 9: tagged event %#x is not described as \"%s\"", tag,
			              want[k].desc);
		if (memcmp(e->digests[sha], want[k].digest, 32) != 0)
			return sc_why(-EPERM, why, why_size, "PCR 9: \"%s\" is not the sealed UKI's %s", want[k].desc,
			              tag == TAG_INITRD ? ".initrd" : ".cmdline as the stub passes it");
		k++;
	}
	if (k < n_want)
		return sc_why(-EPERM, why, why_size, "PCR 9: \"%s\" is missing from the log", want[k].desc);
	return 0;
}

/* Guest bytes for a message: printable ASCII only, at most 48 characters. */
static void printable(const uint8_t *d, size_t n, char *out, size_t out_size)
{
	size_t o = 0;

	for (size_t i = 0; i < n && i < 48 && o + 1 < out_size; i++)
		out[o++] = d[i] >= 0x20 && d[i] < 0x7f && d[i] != '"' && d[i] != '\\' ? (char)d[i] : '?';
	out[o] = 0;
}

static bool data_is(const struct probe_event *e, const char *text)
{
	return e->data_len == strlen(text) && memcmp(e->data, text, e->data_len) == 0;
}

/* The event's sha256 digest is the hash of its data: its label and data are what was measured. */
static bool digest_of_data(const struct probe_eventlog *log, const struct probe_event *e)
{
	int a = probe_eventlog_alg_index(log, PROBE_TPM_ALG_SHA256);
	uint8_t h[PROBE_TPM_HASH_MAX];

	return a >= 0 && probe_tpm_hash(PROBE_TPM_ALG_SHA256, e->data, e->data_len, h) >= 0 &&
	       memcmp(h, e->digests[a], 32) == 0;
}

/* EDK2 logs "Exit Boot Services Invocation" in PCR 5 when the OS loader ends boot services. */
static int exit_boot_services_index(const struct probe_eventlog *log, size_t *ret)
{
	for (size_t i = 0; i < log->n_events; i++)
		if (log->events[i].pcr == 5 && log->events[i].type == PROBE_EV_EFI_ACTION &&
		    data_is(&log->events[i], "Exit Boot Services Invocation") && digest_of_data(log, &log->events[i])) {
			*ret = i;
			return 0;
		}
	return -ENOENT;
}

static void hex16(const uint8_t *b, char out[17])
{
	for (int i = 0; i < 8; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static const char *known_name(const struct probe_boot_chain *chain, const uint8_t *digest)
{
	for (unsigned i = 0; i < chain->n_known; i++)
		if (memcmp(chain->known[i].authenticode_sha256, digest, 32) == 0)
			return chain->known[i].what;
	return NULL;
}

int probe_evidence_pcr4_events(const struct probe_eventlog *log, const struct probe_boot_chain *chain, char *why,
			       size_t why_size)
{
	int a = probe_eventlog_alg_index(log, PROBE_TPM_ALG_SHA256);
	unsigned calling = 0, separators = 0, k = 0;
	size_t ebs = 0;
	char text[64], h[17], w[17];

	if (a < 0)
		return sc_why(-EPERM, why, why_size, "PCR 4: the log has no sha256 digests");
	if (exit_boot_services_index(log, &ebs) < 0)
		return sc_why(-EPERM, why, why_size, "PCR 5 has no \"Exit Boot Services Invocation\": the boot cannot be placed");
	for (size_t i = 0; i < log->n_events; i++) {
		const struct probe_event *e = &log->events[i];

		if (e->pcr != 4 || e->type == PROBE_EV_NO_ACTION)
			continue;
		if (i > ebs)
			return sc_why(-EPERM, why, why_size, "PCR 4: an event (type 0x%08x) after ExitBootServices, at offset %zu",
			              e->type, e->offset);
		/* Actions and the separator are measured as the hash of their data (PC Client PFP 10.4.4):
		 * a label that does not match its digest is not the event it claims to be. */
		if ((e->type == PROBE_EV_EFI_ACTION || e->type == PROBE_EV_SEPARATOR) && !digest_of_data(log, e))
			return sc_why(-EPERM, why, why_size, "PCR 4: the event at offset %zu (type 0x%08x): its sha256 digest is not the hash of its data",
			              e->offset, e->type);
		switch (e->type) {
		case PROBE_EV_EFI_ACTION:
			if (!data_is(e, "Calling EFI Application from Boot Option")) {
				printable(e->data, e->data_len, text, sizeof(text));
				return sc_why(-EPERM, why, why_size, "PCR 4: EV_EFI_ACTION \"%s\" (only one \"Calling EFI Application from Boot Option\" is expected)",
				              text);
			}
			if (++calling > 1 || separators)
				return sc_why(-EPERM, why, why_size, "PCR 4: a second boot attempt (\"Calling EFI Application from Boot Option\" again)");
			break;
		case PROBE_EV_SEPARATOR:
			if (e->data_len != 4 || sc_le32(e->data) != 0)
				return sc_why(-EPERM, why, why_size, "PCR 4: the separator's data is not 00000000");
			if (++separators > 1)
				return sc_why(-EPERM, why, why_size, "PCR 4: a second separator at offset %zu",
				              e->offset);
			if (!calling)
				return sc_why(-EPERM, why, why_size, "PCR 4: the separator before \"Calling EFI Application from Boot Option\"");
			break;
		case PROBE_EV_EFI_BOOT_SERVICES_APPLICATION:
			hex16(e->digests[a], h);
			if (!separators)
				return sc_why(-EPERM, why, why_size, "PCR 4: EFI application %s... started before the separator",
				              h);
			if (k >= chain->n)
				return sc_why(-EPERM, why, why_size, "PCR 4: an EFI application the host did not expect ran after %s: sha256 %s...%s%s",
				              chain->n ? chain->apps[chain->n - 1].what : "nothing", h,
				              known_name(chain, e->digests[a]) ? ", " : "", known_name(chain, e->digests[a]) ?: "");
			if (memcmp(e->digests[a], chain->apps[k].authenticode_sha256, 32) != 0) {
				hex16(chain->apps[k].authenticode_sha256, w);
				return sc_why(-EPERM, why, why_size, "PCR 4: the firmware started an EFI application the host did not build, sha256 %s...%s%s, where %s (%s...) was expected",
				              h, known_name(chain, e->digests[a]) ? " (" : "",
				              known_name(chain, e->digests[a]) ? known_name(chain, e->digests[a]) : "",
				              chain->apps[k].what, w);
			}
			k++;
			break;
		default:
			return sc_why(-EPERM, why, why_size, "PCR 4: event type 0x%08x at offset %zu not expected",
			              e->type, e->offset);
		}
	}
	if (!calling || !separators)
		return sc_why(-EPERM, why, why_size, "PCR 4: no %s",
		              !calling ? "\"Calling EFI Application from Boot Option\"" : "separator");
	if (k < chain->n)
		return sc_why(-EPERM, why, why_size, "PCR 4: %s was never started", chain->apps[k].what);
	return 0;
}

#define EV_EFI_GPT_EVENT 0x80000006u   /* TCG PC Client PFP: UEFI_GPT_DATA */
#define LOADER_CONF_TAG 0xf5bc582au    /* systemd src/fundamental/tpm2-pcr.h LOADER_CONF_EVENT_TAG_ID */

static bool sha256_of_data_is(const struct probe_event *e, const uint8_t want[32])
{
	uint8_t h[PROBE_TPM_HASH_MAX];

	return probe_tpm_hash(PROBE_TPM_ALG_SHA256, e->data, e->data_len, h) >= 0 && memcmp(h, want, 32) == 0;
}

static bool is_loader_conf_tag(const struct probe_event *e)
{
	static const uint8_t desc[] = { 'l', 0, 'o', 0, 'a', 0, 'd', 0, 'e', 0, 'r', 0, '.', 0, 'c', 0, 'o', 0, 'n', 0,
					'f', 0, 0, 0 };

	return e->data_len == 8 + sizeof(desc) && sc_le32(e->data) == LOADER_CONF_TAG &&
	       sc_le32(e->data + 4) == sizeof(desc) && memcmp(e->data + 8, desc, sizeof(desc)) == 0;
}

int probe_evidence_pcr5_events(const struct probe_eventlog *log, bool boot_loader, const struct probe_pcr5_expect *x,
			       char *why, size_t why_size)
{
	int a = probe_eventlog_alg_index(log, PROBE_TPM_ALG_SHA256);
	unsigned separators = 0, gpts = 0, confs = 0, ebs = 0, ebs_ok = 0, n = 0;

	if (a < 0)
		return sc_why(-EPERM, why, why_size, "PCR 5: the log has no sha256 digests");
	for (size_t i = 0; i < log->n_events; i++) {
		const struct probe_event *e = &log->events[i];

		if (e->pcr != 5 || e->type == PROBE_EV_NO_ACTION)
			continue;
		if (n++ == 0 && e->type != PROBE_EV_SEPARATOR)
			return sc_why(-EPERM, why, why_size, "PCR 5: the first event (type 0x%08x, offset %zu) is not the separator",
				      e->type, e->offset);
		if (ebs && !(e->type == PROBE_EV_EFI_ACTION && !ebs_ok &&
			     data_is(e, "Exit Boot Services Returned with Success") && digest_of_data(log, e)))
			return sc_why(-EPERM, why, why_size, "PCR 5: an event (type 0x%08x, offset %zu) after ExitBootServices",
				      e->type, e->offset);
		switch (e->type) {
		case PROBE_EV_SEPARATOR:
			if (separators++ || e->data_len != 4 || sc_le32(e->data) != 0 || !digest_of_data(log, e))
				return sc_why(-EPERM, why, why_size, "PCR 5: a second separator, or one that is not 00000000 (offset %zu)",
					      e->offset);
			break;
		case EV_EFI_GPT_EVENT:
			if (gpts++)
				return sc_why(-EPERM, why, why_size, "PCR 5: a second GPT event (offset %zu): a second disk was booted from",
					      e->offset);
			if (!digest_of_data(log, e) || e->data_len < 100 || memcmp(e->data, "EFI PART", 8) != 0)
				return sc_why(-EPERM, why, why_size, "PCR 5: the GPT event (offset %zu) is not a GPT, or its digest is not its data's",
					      e->offset);
			if (x && x->gpt_known && !sha256_of_data_is(e, x->gpt_sha256))
				return sc_why(-EPERM, why, why_size, "PCR 5: the GPT the firmware measured is not the disk's the host read");
			break;
		case PROBE_EV_EVENT_TAG:
			if (!boot_loader || !is_loader_conf_tag(e))
				return sc_why(-EPERM, why, why_size, "PCR 5: a tagged event (offset %zu) %s", e->offset,
					      boot_loader ? "that is not systemd-boot's loader.conf"
							  : "where no boot loader runs before the UKI");
			if (confs++)
				return sc_why(-EPERM, why, why_size, "PCR 5: loader.conf measured twice");
			if (x && !x->loader_conf)
				return sc_why(-EPERM, why, why_size, "PCR 5: a loader.conf was measured, the disk's ESP has none");
			if (x && memcmp(e->digests[a], x->loader_conf_sha256, 32) != 0)
				return sc_why(-EPERM, why, why_size, "PCR 5: the loader.conf systemd-boot read is not the one on the disk's ESP");
			break;
		case PROBE_EV_EFI_ACTION:
			if (data_is(e, "Exit Boot Services Invocation") && digest_of_data(log, e) && !ebs) {
				ebs++;
				break;
			}
			if (ebs && !ebs_ok) {
				ebs_ok++;
				break;
			}
			/* fall through */
		default:
			return sc_why(-EPERM, why, why_size, "PCR 5: event type 0x%08x at offset %zu not expected", e->type,
				      e->offset);
		}
	}
	if (!separators || !ebs)
		return sc_why(-EPERM, why, why_size, "PCR 5: no %s", !separators ? "separator" : "ExitBootServices");
	if (x && x->gpt_known && !gpts)
		return sc_why(-EPERM, why, why_size, "PCR 5: no GPT event: the firmware did not boot from the disk the host read");
	if (x && x->loader_conf && !confs)
		return sc_why(-EPERM, why, why_size, "PCR 5: systemd-boot did not measure the ESP's loader.conf: not the boot loader the host expected");
	return 0;
}

int probe_boot_chain_add(struct probe_boot_chain *chain, const char *what, const struct probe_pe *pe,
			 const struct probe_sb_reference *sb, char *why, size_t why_size)
{
	struct probe_pe_cert certs[PROBE_PE_SIGNER_CHAIN_MAX] = { { 0 } };
	struct probe_boot_app *app;
	char inner[200];
	int n, r;

	if (chain->n >= PROBE_BOOT_CHAIN_MAX)
		return -E2BIG;
	app = &chain->apps[chain->n];
	memset(app, 0, sizeof(*app));
	snprintf(app->what, sizeof(app->what), "%s", what);
	r = probe_pe_authenticode_sha256(pe, app->authenticode_sha256);
	if (r < 0)
		return sc_why(r, why, why_size, "%s: the Authenticode digest could not be computed", what);
	chain->n++;
	/* The UKI's own kernel: a stub that starts it with LoadImage makes the firmware measure it
	 * too (seen with Secure Boot off); named if it shows up, never expected. */
	for (unsigned i = 0; i < pe->n_sections && chain->n_known < PROBE_BOOT_CHAIN_MAX; i++)
		if (strcmp(pe->sections[i].name, ".linux") == 0) {
			const uint8_t *raw;
			size_t len;
			struct probe_pe kernel;

			probe_pe_section_raw(pe, &pe->sections[i], &raw, &len);
			if (probe_pe_parse(raw, len, &kernel, NULL, 0) >= 0 &&
			    probe_pe_authenticode_sha256(&kernel, chain->known[chain->n_known].authenticode_sha256) >= 0) {
				snprintf(chain->known[chain->n_known].what, sizeof(chain->known[0].what),
					 "%.30s's own .linux (its kernel) started as an EFI image", what);
				chain->n_known++;
			}
		}
	if (!sb)
		return 0;
	n = probe_pe_signer_chain(pe, certs, inner, sizeof(inner));
	if (n == -ENOENT)
		return sc_why(-ENOENT, why, why_size, "%s is not signed", what);
	if (n < 0)
		return sc_why(n, why, why_size, "%s: its signature: %s", what, inner);
	r = probe_sb_db_authority(sb, certs, (size_t)n, &app->authority, &app->authority_len);
	probe_pe_certs_free(certs, (size_t)n);
	if (r == -ENOENT)
		return sc_why(r, why, why_size, "%s is not signed by a certificate in the key directory's db", what);
	return r;
}

int probe_evidence_secureboot(const struct probe_eventlog *log, const struct probe_sb_reference *sb,
			      const struct probe_boot_chain *chain, char *why, size_t why_size)
{
	static const uint8_t db_guid[16] = { 0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45,
					     0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f };
	const uint8_t *want[PROBE_BOOT_CHAIN_MAX];
	size_t want_len[PROBE_BOOT_CHAIN_MAX], n_want = 0, ebs = 0;
	struct probe_secureboot m;
	const struct probe_efi_variable *vars[_PROBE_SB_VAR_MAX];
	int r;

	r = probe_eventlog_secureboot(log, &m, why, why_size);
	if (r < 0)
		return r;
	vars[PROBE_SB_PK] = &m.pk;
	vars[PROBE_SB_KEK] = &m.kek;
	vars[PROBE_SB_DB] = &m.db;
	vars[PROBE_SB_DBX] = &m.dbx;
	for (unsigned v = 0; v < _PROBE_SB_VAR_MAX; v++) {
		r = probe_sb_compare(sb, (enum probe_sb_var)v, vars[v]->data, vars[v]->data_len, why, why_size);
		if (r < 0)
			return r == -EBADMSG ? -EPERM : r;
	}
	if (m.n_pre_separator_authorities)
		return sc_why(-EPERM, why, why_size, "PCR 7: %zu authority event(s) before the separator: a driver or option ROM was verified by db",
		              m.n_pre_separator_authorities);
	/* The distinct db entries the chain is verified by, in the order first used. */
	for (unsigned i = 0; i < chain->n; i++) {
		bool seen = false;

		if (!chain->apps[i].authority)
			return sc_why(-EPERM, why, why_size, "PCR 7: %s is verified by no entry of the key directory's db",
			              chain->apps[i].what);
		for (size_t j = 0; j < n_want; j++)
			seen |= want_len[j] == chain->apps[i].authority_len &&
				memcmp(want[j], chain->apps[i].authority, want_len[j]) == 0;
		if (!seen) {
			want[n_want] = chain->apps[i].authority;
			want_len[n_want++] = chain->apps[i].authority_len;
		}
	}
	for (size_t i = 0; i < m.n_authorities || i < n_want; i++) {
		const struct probe_efi_variable *a = i < m.n_authorities ? &m.authorities[i] : NULL;

		if (!a)
			return sc_why(-EPERM, why, why_size, "PCR 7: %zu authority event(s) after the separator, the boot chain needs %zu",
			              m.n_authorities, n_want);
		if (i >= n_want)
			return sc_why(-EPERM, why, why_size, "PCR 7: an authority event the boot chain does not produce (%zu after the separator, %zu expected): something else was verified, or PCR 7 was extended from the OS",
			              m.n_authorities, n_want);
		if (memcmp(a->guid, db_guid, 16) != 0 || strcmp(a->name, "db") != 0 || a->data_len != want_len[i] ||
		    memcmp(a->data, want[i], want_len[i]) != 0)
			return sc_why(-EPERM, why, why_size, "PCR 7: authority event %zu is not the host's db entry that verifies the boot chain",
			              i + 1);
	}
	/* In the log's own order too: nothing in PCR 7 once boot services ended. */
	if (exit_boot_services_index(log, &ebs) < 0)
		return sc_why(-EPERM, why, why_size, "PCR 5 has no \"Exit Boot Services Invocation\": the boot cannot be placed");
	for (size_t i = ebs + 1; i < log->n_events; i++)
		if (log->events[i].pcr == 7 && log->events[i].type != PROBE_EV_NO_ACTION)
			return sc_why(-EPERM, why, why_size, "PCR 7: an event after ExitBootServices, at offset %zu",
			              log->events[i].offset);
	if (!m.secure_boot)
		return sc_why(-EPERM, why, why_size, "PCR 7: SecureBoot was not measured as enabled");
	return 0;
}

static void words_join(const char *const *w, unsigned n, char *out, size_t out_size)
{
	size_t o = 0;

	out[0] = 0;
	for (unsigned i = 0; i < n && o < out_size; i++)
		o += (size_t)snprintf(out + o, out_size - o, "%s%s", i ? ":" : "", w[i]);
}

/*
 * The sealed UKI's own .cmdline, read by the same parser and rules as the
 * guest's cmdline check (common/sc-cmdline.h): exactly one seal, composefs,
 * no "?" marker, no verity-off switch, no token given twice, one form only
 * (composefs.digest= and composefs= both present is refused here: which one
 * an initramfs reads is its choice, not ours), and every digest it names
 * allowed by the policy. What the UKI says; whether that UKI booted is for
 * tpm:secure_boot, tpm:pcr4 and tpm:pcr11.
 */
int probe_evidence_uki_cmdline(const struct probe_pe *pe, const struct probe_policy *policy, char *why, size_t why_size)
{
	_cleanup_(sc_seal_cmdline_done) struct sc_seal_cmdline c = { 0 };
	const uint8_t *raw = NULL;
	size_t len = 0;
	unsigned n_found = 0;
	char mangled[4097];
	char hex[SC_DIGEST_HEX_MAX + 1];

	for (unsigned i = 0; i < pe->n_sections; i++)
		if (strcmp(pe->sections[i].name, ".cmdline") == 0) {
			probe_pe_section_raw(pe, &pe->sections[i], &raw, &len);
			n_found++;
		}
	if (n_found == 0)
		return sc_why(-EPERM, why, why_size, "the sealed UKI has no .cmdline");
	if (n_found > 1)
		return sc_why(-EPERM, why, why_size, "the sealed UKI has %u .cmdline sections", n_found);
	if (len > 4096)
		return sc_why(-EPERM, why, why_size, "the sealed UKI's .cmdline is longer than 4 KiB");
	/* What the stub passes (PCR 9's LoadOptions are the same bytes): up to the first NUL, control
	 * bytes as spaces. Read as the kernel gets it, not as the section's raw bytes. */
	len = stub_cmdline(raw, len, mangled);
	/* The kernel strips a token's leading quote before it looks at the key ("composefs=X" is
	 * composefs=X to systemd and bootc): a sealed cmdline needs no quotes, so none is taken. */
	if (memchr(mangled, '"', len))
		return sc_why(-EPERM, why, why_size, "the sealed UKI's .cmdline has a double quote: its tokens could be read two ways");
	if (sc_seal_cmdline_parse(mangled, len, &c) < 0)
		return -ENOMEM;
	if (c.problem != SC_CMDLINE_OK)
		return sc_why(-EPERM, why, why_size, "the sealed UKI's .cmdline: %s", c.detail);
	if (c.kind != SC_SEAL_COMPOSEFS)
		return sc_why(-EPERM, why, why_size, "the sealed UKI's .cmdline seals with %s, not composefs",
		              sc_seal_kind_name(c.kind));
	for (size_t i = 0; i < c.n_params; i++)
		if (!c.params[i].used)
			return sc_why(-EPERM, why, why_size, "the sealed UKI's .cmdline names its digest both as composefs.digest= and composefs=: "
					"which one boots is the initramfs's choice");
	for (size_t i = 0; i < c.n_digests; i++) {
		bool allowed = false;

		for (unsigned k = 0; k < policy->n_allowed; k++)
			allowed |= sc_digest_equal(&policy->allowed[k], &c.digests[i].digest);
		if (!allowed) {
			sc_digest_to_hex(&c.digests[i].digest, hex);
			return sc_why(-EPERM, why, why_size, "the sealed UKI's .cmdline names %s:%.16s..., a digest the policy does not allow",
			              sc_hash_alg_name(c.digests[i].digest.alg), hex);
		}
	}
	sc_digest_to_hex(&c.digests[0].digest, hex);
	snprintf(why, why_size, "the sealed UKI's .cmdline names %s %s:%.16s...%s, allowed by the policy, verity required",
		 c.source, sc_hash_alg_name(c.digests[0].digest.alg), hex,
		 c.n_digests > 1 ? " (and its other composefs.digest= values)" : "");
	return 0;
}

/*
 * The log against the quoted PCRs: the firmware log for every PCR but 11;
 * for PCR 11 the firmware log's events, then the phase words: those of the
 * userspace log when the guest sent one (parsed strictly into @ul), else the
 * boot sequence prefix that matches (@ul gets those words; none may match).
 */
static int eventlog_link(const struct probe_eventlog *log, const struct decoded *d, struct probe_userlog *ul, char *why,
			 size_t why_size)
{
	struct probe_pcr_selection sel = { .n_banks = 1,
					   .banks = { { PROBE_TPM_ALG_SHA256, SC_EVIDENCE_PCR_MASK & ~(1u << 11) } } };
	uint8_t values[10 * 32], pcrs[PROBE_TPM_PCRS][PROBE_TPM_HASH_MAX], pcr11[32];
	char inner[400];
	size_t n = 0;
	int r;

	for (unsigned pcr = 0; pcr < 24; pcr++)
		if (sel.banks[0].mask & (1u << pcr)) {
			memcpy(values + n, pcr_value(d, pcr), 32);
			n += 32;
		}
	r = probe_eventlog_check_pcrs(log, PROBE_TPM_ALG_SHA256, &sel, values, n, why, why_size);
	if (r < 0)
		return r;
	r = probe_eventlog_replay(log, PROBE_TPM_ALG_SHA256, pcrs, why, why_size);
	if (r < 0)
		return r;
	if (d->has_userlog) {
		r = probe_userlog_parse(d->userlog, d->userlog_len, ul, inner, sizeof(inner));
		if (r < 0)
			return sc_why(r, why, why_size, "the userspace log: %s", inner);
		memcpy(pcr11, pcrs[11], 32);
		for (unsigned i = 0; i < ul->n_phases; i++)
			if (probe_pcr_extend(PROBE_BANK_SHA256, pcr11, ul->phase_sha256[i]) < 0)
				return -EIO;
		if (memcmp(pcr11, pcr_value(d, 11), 32) != 0)
			return sc_why(-EPERM, why, why_size, "PCR 11: the firmware log and then the userspace log's %u phase word(s) do not replay to the quoted value",
			              ul->n_phases);
		return 0;
	}
	/* No userspace log (systemd < 253 writes none): one of systemd's fixed boot phase paths (probe-pcr11.h). */
	r = probe_pcr11_match_boot_path(PROBE_BANK_SHA256, pcrs[11], pcr_value(d, 11), inner, sizeof(inner));
	if (r == -ENOENT)
		return sc_why(-EPERM, why, why_size, "the firmware log's PCR 11, no userspace log: %s", inner);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < probe_pcr11_boot_path((unsigned)r)->n_words; i++)
		ul->phases[ul->n_phases++] = probe_pcr11_boot_path((unsigned)r)->words[i];
	return 0;
}

/* tpm:pcr11, tpm:pcr9, tpm:pcr12 for the UKI the host booted; @log NULL when it did not replay. */
/* One verification of one evidence document: what each link needs from the others, and each link's outcome. */
struct verification {
	json_t *ev;
	const struct probe_evidence_expect *x;
	struct decoded d;
	struct probe_eventlog *log; /* parsed; log_ok once it replays to the quoted PCRs */
	bool log_ok;
	struct probe_userlog ul;
	struct probe_tpm_attest attest;
	/* The sealed UKI the host built: the caller's (x->uki), or read from x->uki_path into own. */
	const struct probe_uki_ref *uki;
	struct probe_uki_ref own;
	bool pe_ok;
	struct probe_boot_chain chain; /* what PCR 4 and PCR 7 must show, when chain_ok */
	bool chain_ok;
	char pe_why[600], sb_why[600];
	struct {
		bool said, proven;
		char reason[700];
	} link[_PROBE_LINK_MAX];
};

static const char *const link_names[_PROBE_LINK_MAX] = {
	[PROBE_LINK_BINDING] = "tpm:binding",	  [PROBE_LINK_QUOTE] = "tpm:quote",
	[PROBE_LINK_EVENTLOG] = "tpm:eventlog",	  [PROBE_LINK_SECURE_BOOT] = "tpm:secure_boot",
	[PROBE_LINK_PCR4] = "tpm:pcr4",		  [PROBE_LINK_PCR11] = "tpm:pcr11",
	[PROBE_LINK_PCR9] = "tpm:pcr9",		  [PROBE_LINK_PCR12] = "tpm:pcr12",
	[PROBE_LINK_CMDLINE] = "tpm:cmdline",
};

const char *probe_link_name(enum probe_link l)
{
	return (unsigned)l < _PROBE_LINK_MAX ? link_names[l] : NULL;
}

/*
 * A link's outcome, said once: its reason formatted, proven or failed. Said
 * again, it keeps its first reason and can only fail: a link never turns
 * proven after it was said failed (fail closed).
 */
_printf_(4, 5) static void say(struct verification *v, enum probe_link l, bool proven, const char *fmt, ...)
{
	va_list ap;

	if (v->link[l].said) {
		v->link[l].proven = v->link[l].proven && proven;
		return;
	}
	v->link[l].said = true;
	v->link[l].proven = proven;
	va_start(ap, fmt);
	(void)vsnprintf(v->link[l].reason, sizeof(v->link[l].reason), fmt, ap);
	va_end(ap);
}

static bool proven(const struct verification *v, enum probe_link l)
{
	return v->link[l].said && v->link[l].proven;
}

static void verification_done(struct verification *v)
{
	decoded_done(&v->d);
	probe_eventlog_free(v->log);
	probe_uki_ref_done(&v->own);
}

/* The evidence names our nonce and the report's bytes. False when it cannot be decoded at all. */
static bool link_binding(struct verification *v)
{
	char why[512], report_sha[65];

	if (decode(v->ev, &v->d, why, sizeof(why)) < 0) {
		say(v, PROBE_LINK_BINDING, false, "the evidence is malformed: %s", why);
		return false;
	}
	sc_evidence_report_sha256(v->x->report, v->x->report_len, report_sha);
	if (!sc_json_get_str(v->ev, "nonce") || strcmp(sc_json_get_str(v->ev, "nonce"), v->x->nonce) != 0)
		say(v, PROBE_LINK_BINDING, false, "the evidence names another nonce");
	else if (!sc_json_get_str(v->ev, "report_sha256") || strcmp(sc_json_get_str(v->ev, "report_sha256"), report_sha) != 0)
		say(v, PROBE_LINK_BINDING, false, "the evidence is for other report bytes than those received");
	else
		say(v, PROBE_LINK_BINDING, true, "the evidence names our nonce and the report received");
	return true;
}

/* The quote: what binds everything else to the TPM. -ENOMEM, else 0 (its outcome said). */
static int link_quote(struct verification *v)
{
	const struct probe_evidence_expect *x = v->x;
	/* The AK: the one pinned for this VM, else the one credential activation bound to the EK just now. */
	const struct probe_credential_state *cred = x->credential;
	bool activated = !x->ak_name && cred && cred->status == PROBE_CRED_PROVEN;
	const uint8_t *want = activated ? cred->ak_name : x->ak_name;
	size_t want_len = activated ? cred->ak_name_len : x->ak_name_len;
	struct probe_pcr_selection sel = { .n_banks = 1, .banks = { { PROBE_TPM_ALG_SHA256, SC_EVIDENCE_PCR_MASK } } };
	uint8_t extra[32];
	enum probe_quote_step step;
	char why[512];

	if (sc_evidence_qualifying_data(x->nonce, x->report, x->report_len, extra) < 0)
		return -ENOMEM;
	if (!want) {
		say(v, PROBE_LINK_QUOTE, false, "%s",
		    cred && cred->status == PROBE_CRED_FAILED ? cred->why
		    : cred && cred->status == PROBE_CRED_PENDING
			    ? "AK not bound to the EK: the credential challenge was not answered"
			    : "no attestation key is pinned for this VM: the host did not derive it");
		return 0;
	}
	{
		struct probe_quote_input in = {
			.ak_public = v->d.ak, .ak_public_len = v->d.ak_len,
			.expected_ak_name = want, .expected_ak_name_len = want_len,
			.attest = v->d.quote, .attest_len = v->d.quote_len,
			.signature = v->d.sig, .signature_len = v->d.sig_len,
			.expected_extra_data = extra, .expected_extra_data_len = sizeof(extra),
			.expected_selection = &sel,
			.pcr_values = v->d.values, .pcr_values_len = v->d.values_len,
		};

		step = probe_quote_verify(&in, &v->attest, why, sizeof(why));
	}
	if (step != PROBE_QUOTE_OK)
		say(v, PROBE_LINK_QUOTE, false, "%s: %s", probe_quote_step_name(step), why);
	else if (activated && x->ak_pin_file && probe_tpm_state_pin_ak(x->ak_pin_file, want, want_len, why, sizeof(why)) < 0)
		say(v, PROBE_LINK_QUOTE, false, "the AK was bound to the EK but could not be pinned: %s", why);
	else if (activated)
		say(v, PROBE_LINK_QUOTE, true,
		    "signed by the AK bound to %.160s by credential activation now%s; over our nonce and this report; PCRs "
		    "0-5,7,9,11,12 (reset %u, restart %u)",
		    cred->ek_trust, x->ak_pin_file ? " (pinned in ak.name)" : "", v->attest.reset_count,
		    v->attest.restart_count);
	else
		say(v, PROBE_LINK_QUOTE, true,
		    "signed by the pinned AK over our nonce and this report; PCRs 0-5,7,9,11,12 (reset %u, restart %u)",
		    v->attest.reset_count, v->attest.restart_count);
	return 0;
}

/* The firmware event log: guest data until it replays to the quoted PCRs. */
static void link_eventlog(struct verification *v)
{
	char why[512], words[200];
	int r = probe_eventlog_parse(v->d.eventlog, v->d.eventlog_len, &v->log, why, sizeof(why));

	if (r >= 0)
		r = eventlog_link(v->log, &v->d, &v->ul, why, sizeof(why));
	if (r < 0) {
		say(v, PROBE_LINK_EVENTLOG, false, "%s", why);
		return;
	}
	v->log_ok = true;
	if (v->d.has_userlog)
		say(v, PROBE_LINK_EVENTLOG, true,
		    "the firmware event log, then for PCR 11 the userspace log's %u phase word(s), replay to every quoted PCR",
		    v->ul.n_phases);
	else if (v->ul.n_phases == 0)
		say(v, PROBE_LINK_EVENTLOG, true, "the firmware event log replays to every quoted PCR");
	else {
		words_join(v->ul.phases, v->ul.n_phases, words, sizeof(words));
		say(v, PROBE_LINK_EVENTLOG, true,
		    "the firmware event log replays to every quoted PCR, PCR 11 then with the phase words %s (no userspace log)",
		    words);
	}
}

/* The UKI the host built: the boot chain PCR 4 and PCR 7 must show, and PCR 11, 9 and the cmdline. */
static void load_boot_chain(struct verification *v)
{
	const struct probe_evidence_expect *x = v->x;

	if (x->uki)
		v->uki = x->uki;
	else {
		probe_uki_ref_load(x->uki_path, x->bootloader_path, x->sb, &v->own);
		v->uki = &v->own;
	}
	v->pe_ok = v->uki->pe_ok;
	snprintf(v->pe_why, sizeof(v->pe_why), "%s", v->uki->pe_why);
	if (x->chain) {
		v->chain = *x->chain;
		v->chain_ok = v->chain.n > 0 && v->chain.n <= PROBE_BOOT_CHAIN_MAX &&
			      v->chain.n_known <= PROBE_BOOT_CHAIN_MAX;
		if (!v->chain_ok)
			snprintf(v->pe_why, sizeof(v->pe_why), "the host's boot chain has %u applications (1 to %d)",
				 v->chain.n, PROBE_BOOT_CHAIN_MAX);
	} else {
		v->chain = v->uki->chain;
		snprintf(v->sb_why, sizeof(v->sb_why), "%s", v->uki->sb_why);
		v->chain_ok = v->pe_ok && v->chain.n > 0;
	}
}

/* PCR 7. */
static void link_secure_boot(struct verification *v)
{
	char why[512];

	if (!v->log_ok)
		say(v, PROBE_LINK_SECURE_BOOT, false, "not verified: rests on tpm:eventlog, which failed");
	else if (!v->x->sb)
		say(v, PROBE_LINK_SECURE_BOOT, false, "the host has no Secure Boot key directory to compare PCR 7 with");
	else if (!v->chain_ok)
		say(v, PROBE_LINK_SECURE_BOOT, false, "%s", v->pe_why);
	else if (v->sb_why[0])
		say(v, PROBE_LINK_SECURE_BOOT, false, "%s", v->sb_why);
	else if (probe_evidence_secureboot(v->log, v->x->sb, &v->chain, why, sizeof(why)) < 0)
		say(v, PROBE_LINK_SECURE_BOOT, false, "%s", why);
	else
		say(v, PROBE_LINK_SECURE_BOOT, true,
		    "PCR 7: Secure Boot on; PK, KEK, db and dbx exactly the key directory's; the one authority event is "
		    "the host's db certificate that signed the UKI");
}

/* PCR 4. */
static void link_pcr4(struct verification *v)
{
	char why[512], h[17];

	if (!v->log_ok)
		say(v, PROBE_LINK_PCR4, false, "not verified: rests on tpm:eventlog, which failed");
	else if (!v->chain_ok)
		say(v, PROBE_LINK_PCR4, false, "%s", v->pe_why);
	else if (probe_evidence_pcr4_events(v->log, &v->chain, why, sizeof(why)) < 0)
		say(v, PROBE_LINK_PCR4, false, "%s", why);
	else if (probe_evidence_pcr5_events(v->log, v->chain.n > 1, v->x->pcr5, why, sizeof(why)) < 0)
		say(v, PROBE_LINK_PCR4, false, "%s", why);
	else {
		char apps[400];
		size_t o = 0;

		apps[0] = 0;
		for (unsigned i = 0; i < v->chain.n && o < sizeof(apps); i++) {
			hex16(v->chain.apps[i].authenticode_sha256, h);
			o += (size_t)snprintf(apps + o, sizeof(apps) - o, "%s%s (Authenticode sha256 %s...)",
					      i == 0 ? "" : i + 1 == v->chain.n ? ", then " : ", ", v->chain.apps[i].what, h);
		}
		say(v, PROBE_LINK_PCR4, true, "PCR 4: the firmware started %s, in this order, and no other EFI application; "
		    "PCR 5: %s, then ExitBootServices", apps,
		    v->x->pcr5 ? (v->x->pcr5->loader_conf ? "the disk's GPT and systemd-boot's loader.conf, as the host read them"
							 : "the disk's GPT, as the host read it")
			       : "the separator and at most the boot disk's GPT");
	}
}

/* PCR 11 and PCR 9 from the sealed UKI's sections (@pred), PCR 12 from the quote. */
static void link_pcr11(struct verification *v, const struct probe_pcr11 *pred, bool pred_ok, const char *pred_why)
{
	const struct probe_eventlog *log = v->log_ok ? v->log : NULL;
	char why[512], pwhy[512], names[160], words[200];
	size_t o = 0;
	/* No userspace log: the quoted PCR 11 must be the host's sections then one of systemd's boot phase paths. */
	int path = pred_ok && !v->d.has_userlog ? probe_pcr11_match_boot_path(PROBE_BANK_SHA256, pred->sections_value,
									       pcr_value(&v->d, 11), pwhy, sizeof(pwhy))
						: -1;

	if (!pred_ok)
		say(v, PROBE_LINK_PCR11, false, "%s", pred_why);
	else if (!log && path != -ENOENT)
		say(v, PROBE_LINK_PCR11, false, "not verified: rests on tpm:eventlog, which failed");
	else if (log && probe_evidence_pcr11_events(log, pred, why, sizeof(why)) < 0)
		say(v, PROBE_LINK_PCR11, false, "%s", why);
	else if (path == -ENOENT)
		say(v, PROBE_LINK_PCR11, false, "%s", pwhy);
	else if (memcmp(pcr_value(&v->d, 11), pred->value, 32) != 0)
		say(v, PROBE_LINK_PCR11, false,
		    "PCR 11 is not what the sealed UKI the host built measures to: another UKI booted");
	else {
		names[0] = 0;
		for (unsigned i = 0; i < pred->n_events && o < sizeof(names); i++)
			o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? " " : "", pred->events[i].name);
		words_join(v->ul.phases, v->ul.n_phases, words, sizeof(words));
		say(v, PROBE_LINK_PCR11, true,
		    "PCR 11 event by event: the sealed UKI's %u sections (%s), each name then content, in order (systemd-stub %u)%s%s%s",
		    pred->n_events, names, pred->stub_version,
		    v->d.has_userlog ? (v->ul.n_phases ? ", then the userspace log's phase words " : ", no phase words")
		    : v->ul.n_phases ? ", then the phase path \""
				     : ", no phase words",
		    words,
		    v->d.has_userlog  ? ""
		    : v->ul.n_phases ? "\" (no userspace log: one of systemd's boot phase paths)"
				     : " (no userspace log: the empty boot phase path)");
	}
}

static void link_pcr9(struct verification *v, const struct probe_pcr11 *pred, bool pred_ok)
{
	const uint8_t *cmdline = NULL;
	size_t cmdline_len = 0;
	char why[512];

	for (unsigned i = 0; i < v->uki->pe.n_sections; i++)
		if (strcmp(v->uki->pe.sections[i].name, ".cmdline") == 0)
			probe_pe_section_raw(&v->uki->pe, &v->uki->pe.sections[i], &cmdline, &cmdline_len);
	if (!pred_ok)
		say(v, PROBE_LINK_PCR9, false, "not verified: the sealed UKI's sections could not be hashed");
	else if (!v->log_ok)
		say(v, PROBE_LINK_PCR9, false, "not verified: rests on tpm:eventlog, which failed");
	else if (probe_evidence_pcr9_events(v->log, cmdline, cmdline_len, pred, why, sizeof(why)) < 0)
		say(v, PROBE_LINK_PCR9, false, "%s", why);
	else
		say(v, PROBE_LINK_PCR9, true, "PCR 9: the kernel measured %s%s%s, nothing else",
		    cmdline ? "the sealed UKI's .cmdline (as the stub passes it)" : "",
		    cmdline && pred->has_initrd ? " and " : "",
		    !pred->has_initrd	     ? ""
		    : pred->stub_version < 257 ? "its .initrd"
					     : "the initrd the stub makes of its sections (.initrd, then .osrel and the like as cpio archives)");
}

static void link_pcr12(struct verification *v)
{
	static const uint8_t zero[32];

	if (memcmp(pcr_value(&v->d, 12), zero, 32) != 0)
		say(v, PROBE_LINK_PCR12, false, "PCR 12 was extended: a cmdline override, credential or addon");
	else
		say(v, PROBE_LINK_PCR12, true, "PCR 12 untouched: no cmdline override");
}

/* What the UKI's .cmdline names, shown by the boot chain only: a failed premise leaves it unproven. */
static void link_cmdline(struct verification *v)
{
	char why[512];

	if (probe_evidence_uki_cmdline(&v->uki->pe, v->x->policy, why, sizeof(why)) < 0)
		say(v, PROBE_LINK_CMDLINE, false, "%s", why);
	else if (!proven(v, PROBE_LINK_SECURE_BOOT) || !proven(v, PROBE_LINK_PCR4) || !proven(v, PROBE_LINK_PCR11))
		say(v, PROBE_LINK_CMDLINE, false, "not proven: rests on %s, which failed (%s)",
		    probe_link_name(!proven(v, PROBE_LINK_SECURE_BOOT) ? PROBE_LINK_SECURE_BOOT
				    : !proven(v, PROBE_LINK_PCR4)	  ? PROBE_LINK_PCR4
									  : PROBE_LINK_PCR11),
		    why);
	else
		say(v, PROBE_LINK_CMDLINE, true, "%s (the boot chain proven by PCR 7, PCR 4 and PCR 11)", why);
}

/* The links from the sealed UKI the host booted: PCR 11, 9, 12 and the cmdline. */
static void uki_links(struct verification *v)
{
	struct probe_pcr11 pred;
	char why[512];
	bool pred_ok;

	if (!v->pe_ok) {
		say(v, PROBE_LINK_PCR11, false, "%s", v->pe_why);
		say(v, PROBE_LINK_PCR9, false, "%s", v->pe_why);
		say(v, PROBE_LINK_PCR12, false, "not verified: the host has no sealed UKI to judge the boot by");
		say(v, PROBE_LINK_CMDLINE, false, "%s", v->pe_why);
		return;
	}
	/* The sections hashed once (probe-uki-ref.h), this quote's phase words on a copy. */
	pred = v->uki->pred;
	if (!v->uki->pred_ok) {
		snprintf(why, sizeof(why), "%s", v->uki->pred_why);
		pred_ok = false;
	} else
		pred_ok = probe_pcr11_add_phases(&pred, v->ul.phases, v->ul.n_phases, why, sizeof(why)) >= 0;
	link_pcr11(v, &pred, pred_ok, why);
	link_pcr9(v, &pred, pred_ok);
	link_pcr12(v);
	link_cmdline(v);
}

/* Every link said, in the order of enum probe_link, as the links array of the verdict. */
static json_t *links_json(const struct verification *v)
{
	_cleanup_json_ json_t *links = json_array();

	if (!links)
		return NULL;
	for (int l = 0; l < _PROBE_LINK_MAX; l++)
		if (v->link[l].said &&
		    json_array_append_new(links, json_pack("{s:s, s:s, s:s}", "link", link_names[l], "status",
							   v->link[l].proven ? "proven" : "failed", "reason",
							   v->link[l].reason)) < 0)
			return NULL;
	return TAKE_PTR(links);
}

json_t *probe_evidence_verify(json_t *ev, const struct probe_evidence_expect *x, struct probe_tpm_attest *ret_attest)
{
	_cleanup_(verification_done) struct verification v = { .ev = ev, .x = x };

	if (!link_binding(&v))
		return links_json(&v); /* nothing else can be read from it */
	if (link_quote(&v) < 0)
		return NULL;
	if (!proven(&v, PROBE_LINK_QUOTE)) {
		/* Nothing below means anything without a verified quote. */
		for (int l = PROBE_LINK_QUOTE + 1; l < _PROBE_LINK_MAX; l++)
			say(&v, l, false, "not verified: rests on tpm:quote, which failed");
		return links_json(&v);
	}
	if (ret_attest)
		*ret_attest = v.attest;
	link_eventlog(&v);
	load_boot_chain(&v);
	link_secure_boot(&v);
	link_pcr4(&v);
	uki_links(&v);
	return links_json(&v);
}
