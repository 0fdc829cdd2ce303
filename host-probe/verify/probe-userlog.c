/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "probe-tpm.h"
#include "probe-userlog.h"
#include "sc-digest.h"
#include "sc-evidence.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-why.h"

/* One record's JSON object (already parsed), record number @n for messages. */
static int userlog_record(json_t *rec, unsigned n, struct probe_userlog *ul, char *why, size_t why_size)
{
	static const char *const keys[] = { "pcr", "digests", "content_type", "content" };
	static const char *const content_keys[] = { "string", "bootId", "timestamp", "eventType" };
	json_t *digests = json_object_get(rec, "digests"), *content = json_object_get(rec, "content"), *v, *d;
	const char *k, *word = NULL;
	json_int_t pcr;
	bool has_sha256 = false;
	size_t i;

	if (!json_is_object(rec))
		return sc_why(-EBADMSG, why, why_size, "record %u is not a JSON object", n);
	json_object_foreach(rec, k, v) {
		bool known = false;

		for (size_t j = 0; j < ELEMENTSOF(keys); j++)
			known |= strcmp(k, keys[j]) == 0;
		if (!known)
			return sc_why(-EBADMSG, why, why_size, "record %u has an unknown key \"%.32s\"", n, k);
	}
	v = json_object_get(rec, "pcr");
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= PROBE_TPM_PCRS)
		return sc_why(-EBADMSG, why, why_size, "record %u: \"pcr\" is not a PCR index 0-23", n);
	pcr = json_integer_value(v);
	if (!sc_json_get_str(rec, "content_type") || strcmp(sc_json_get_str(rec, "content_type"), "systemd") != 0)
		return sc_why(-EBADMSG, why, why_size, "record %u: content_type is not \"systemd\"", n);
	if (!json_is_object(content))
		return sc_why(-EBADMSG, why, why_size, "record %u: \"content\" is not an object", n);
	json_object_foreach(content, k, v) {
		bool known = false;

		for (size_t j = 0; j < ELEMENTSOF(content_keys); j++)
			known |= strcmp(k, content_keys[j]) == 0;
		if (!known)
			return sc_why(-EBADMSG, why, why_size, "record %u: content has an unknown key \"%.32s\"", n, k);
	}
	v = json_object_get(content, "string");
	if (v && !json_is_string(v))
		return sc_why(-EBADMSG, why, why_size, "record %u: content.string is not a string", n);
	v = json_object_get(content, "eventType");
	if (v && !json_is_string(v))
		return sc_why(-EBADMSG, why, why_size, "record %u: content.eventType is not a string", n);
	if (!json_is_array(digests) || json_array_size(digests) == 0 || json_array_size(digests) > _PROBE_BANK_MAX)
		return sc_why(-EBADMSG, why, why_size, "record %u: \"digests\" is not an array of 1-%d digests", n,
		              _PROBE_BANK_MAX);

	if (pcr == 11) {
		word = probe_pcr11_phase_word(sc_json_get_str(content, "string"));
		if (!word)
			return sc_why(-EPERM, why, why_size, "record %u: a PCR 11 measurement that is not a systemd-pcrphase word (\"%.40s\")",
			              n, sc_json_get_str(content, "string") ?: "(none)");
		if (sc_json_get_str(content, "eventType") && strcmp(sc_json_get_str(content, "eventType"), "phase") != 0)
			return sc_why(-EPERM, why, why_size, "record %u: phase word %s with eventType \"%.32s\"", n,
			              word, sc_json_get_str(content, "eventType"));
		if (ul->n_phases >= PROBE_PCR11_MAX_PHASES)
			return sc_why(-EMSGSIZE, why, why_size, "more than %u PCR 11 records", PROBE_PCR11_MAX_PHASES);
	} else if (SC_EVIDENCE_PCR_MASK & (1u << pcr)) {
		return sc_why(-EPERM, why, why_size, "record %u measures into PCR %u, which the quote covers and systemd never extends from userspace",
		              n, (unsigned)pcr);
	}

	json_array_foreach(digests, i, d) {
		uint8_t got[PROBE_PCR_DIGEST_MAX], want[PROBE_PCR_DIGEST_MAX];
		const char *alg = sc_json_get_str(d, "hashAlg");
		enum probe_bank bank;

		if (!json_is_object(d) || json_object_size(d) != 2 || !alg || !sc_json_get_str(d, "digest"))
			return sc_why(-EBADMSG, why, why_size, "record %u: digest %zu is not {\"hashAlg\", \"digest\"}",
			              n, i);
		/* systemd writes the lowercase names; nothing else is taken. */
		if (probe_bank_from_name(alg, &bank) < 0 || strcmp(alg, probe_bank_name(bank)) != 0)
			return sc_why(-EBADMSG, why, why_size, "record %u: unknown hashAlg \"%.16s\"", n, alg);
		for (size_t m = 0; m < i; m++)
			if (strcmp(alg, sc_json_get_str(json_array_get(digests, m), "hashAlg")) == 0)
				return sc_why(-EBADMSG, why, why_size, "record %u: two %s digests", n, alg);
		if (sc_hex_decode(sc_json_get_str(d, "digest"), got, probe_bank_size(bank)) < 0)
			return sc_why(-EBADMSG, why, why_size, "record %u: the %s digest is not %zu lowercase hex bytes",
			              n, alg, probe_bank_size(bank));
		if (!word)
			continue;
		if (probe_bank_hash(bank, word, strlen(word), want) < 0)
			return sc_why(-EIO, why, why_size, "hashing failed");
		if (memcmp(got, want, probe_bank_size(bank)) != 0)
			return sc_why(-EPERM, why, why_size, "record %u: the %s digest of phase word %s is not H(\"%s\")",
			              n, alg, word, word);
		if (bank == PROBE_BANK_SHA256) {
			has_sha256 = true;
			memcpy(ul->phase_sha256[ul->n_phases], got, 32);
		}
	}
	if (word) {
		if (!has_sha256)
			return sc_why(-EPERM, why, why_size, "record %u: phase word %s has no sha256 digest", n, word);
		ul->phases[ul->n_phases++] = word;
	} else
		ul->n_ignored++;
	return 0;
}

int probe_userlog_parse(const uint8_t *buf, size_t len, struct probe_userlog *ret, char *why, size_t why_size)
{
	struct probe_userlog ul = { 0 };
	size_t off = 0;

	if (len > SC_EVIDENCE_USERLOG_MAX)
		return sc_why(-EMSGSIZE, why, why_size, "the userspace log is over %u bytes", SC_EVIDENCE_USERLOG_MAX);
	while (off < len) {
		_cleanup_json_ json_t *rec = NULL;
		const uint8_t *end;
		size_t rlen;
		int r;

		if (buf[off] != 0x1e)
			return sc_why(-EBADMSG, why, why_size, "record %u (byte %zu) does not start with RS (0x1e)",
			              ul.n_records, off);
		if (ul.n_records >= PROBE_USERLOG_RECORDS_MAX)
			return sc_why(-EMSGSIZE, why, why_size, "more than %u records", PROBE_USERLOG_RECORDS_MAX);
		off++;
		end = memchr(buf + off, 0x1e, len - off);
		rlen = end ? (size_t)(end - (buf + off)) : len - off;
		if (rlen > PROBE_USERLOG_RECORD_MAX)
			return sc_why(-EMSGSIZE, why, why_size, "record %u is over %u bytes", ul.n_records,
			              PROBE_USERLOG_RECORD_MAX);
		if (rlen < 2 || buf[off + rlen - 1] != '\n')
			return sc_why(-EBADMSG, why, why_size, "record %u does not end with LF (truncated?)",
			              ul.n_records);
		if (memchr(buf + off, 0, rlen))
			return sc_why(-EBADMSG, why, why_size, "record %u holds a NUL byte", ul.n_records);
		rec = json_loadb((const char *)buf + off, rlen - 1, JSON_REJECT_DUPLICATES, NULL);
		if (!rec)
			return sc_why(-EBADMSG, why, why_size, "record %u is not one JSON text", ul.n_records);
		r = userlog_record(rec, ul.n_records, &ul, why, why_size);
		if (r < 0)
			return r;
		ul.n_records++;
		off += rlen;
	}
	*ret = ul;
	return 0;
}

