/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "probe-eventlog.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sc-endian.h"
#include "sc-macro.h"
#include "sc-why.h"

/* fail(r, why, why_size, fmt, ...): the reason into @why, @r returned (common/sc-why.h). */
#define fail sc_why

#define SPEC_ID_SIGNATURE "Spec ID Event03" /* with its NUL: 16 bytes */
#define STARTUP_LOCALITY_SIGNATURE "StartupLocality" /* with its NUL: 16 bytes */

void probe_eventlog_free(struct probe_eventlog *log)
{
	if (!log)
		return;
	free(log->buf);
	free(log->events);
	free(log);
}

int probe_eventlog_alg_index(const struct probe_eventlog *log, uint16_t alg)
{
	for (size_t i = 0; i < log->n_algs; i++)
		if (log->algs[i].alg == alg)
			return (int)i;
	return -ENOENT;
}

/* The first event: TCG_PCClientPCREvent (pcrIndex, eventType, SHA-1
 * digest, eventDataSize, event) carrying TCG_EfiSpecIDEvent. */
static int parse_spec_id(struct probe_eventlog *log, size_t *off, char *why, size_t why_size)
{
	const uint8_t *b = log->buf;
	size_t len = log->len, n, p;
	uint32_t data_len, n_algs;

	if (len < 32)
		return fail(-EMSGSIZE, why, why_size, "event log: truncated in the first event");
	if (sc_le32(b) != 0 || sc_le32(b + 4) != PROBE_EV_NO_ACTION)
		return fail(-EBADMSG, why, why_size, "event log: the first event is not an EV_NO_ACTION in PCR 0");
	for (int i = 0; i < 20; i++)
		if (b[8 + i])
			return fail(-EBADMSG, why, why_size, "event log: the Spec ID event's digest is not zero");
	data_len = sc_le32(b + 28);
	if (data_len > len - 32)
		return fail(-EMSGSIZE, why, why_size, "event log: the Spec ID event's size runs past the end");
	const uint8_t *e = b + 32;
	/* signature[16], platformClass, minor, major, errata, uintnSize, numberOfAlgorithms */
	if (data_len < 28 + 1)
		return fail(-EMSGSIZE, why, why_size, "event log: the Spec ID event is too short");
	if (memcmp(e, SPEC_ID_SIGNATURE, 16) != 0)
		return fail(-EBADMSG, why, why_size, "event log: no \"Spec ID Event03\" first (not crypto-agile)");
	log->platform_class = sc_le32(e + 16);
	if (e[20] != 0 || e[21] != 2)
		return fail(-EBADMSG, why, why_size, "event log: Spec ID version %u.%u, not 2.0", e[21], e[20]);
	log->spec_errata = e[22];
	log->uintn_size = e[23];
	if (log->uintn_size != 1 && log->uintn_size != 2)
		return fail(-EBADMSG, why, why_size, "event log: uintnSize %u", log->uintn_size);
	n_algs = sc_le32(e + 24);
	if (n_algs == 0 || n_algs > PROBE_EVENTLOG_ALGS_MAX)
		return fail(-EBADMSG, why, why_size, "event log: %u algorithms declared", n_algs);
	p = 28;
	n = (size_t)n_algs * 4;
	if (n + 1 > data_len - p)
		return fail(-EMSGSIZE, why, why_size, "event log: the algorithm list runs past the Spec ID event");
	log->n_algs = n_algs;
	for (size_t i = 0; i < n_algs; i++, p += 4) {
		uint16_t alg = sc_le16(e + p), size = sc_le16(e + p + 2);
		size_t known = probe_tpm_hash_size(alg);
		if (size == 0 || size > PROBE_TPM_HASH_MAX || (known && known != size))
			return fail(-EBADMSG, why, why_size, "event log: algorithm 0x%04x declared with %u-byte digests",
				    alg, size);
		for (size_t j = 0; j < i; j++)
			if (log->algs[j].alg == alg)
				return fail(-EBADMSG, why, why_size, "event log: algorithm 0x%04x declared twice", alg);
		log->algs[i].alg = alg;
		log->algs[i].size = size;
	}
	/* vendorInfoSize, vendorInfo: the rest of the event exactly. */
	if ((size_t)e[p] != data_len - p - 1)
		return fail(-EBADMSG, why, why_size, "event log: vendorInfoSize %u does not fill the Spec ID event", e[p]);
	*off = 32 + data_len;
	return 0;
}

static int parse_event2(struct probe_eventlog *log, size_t *off, struct probe_event *ev, char *why, size_t why_size)
{
	const uint8_t *b = log->buf;
	size_t o = *off, left = log->len - *off;
	uint32_t count;

	ev->offset = o;
	if (left < 12)
		return fail(-EMSGSIZE, why, why_size, "event log: truncated event header at offset %zu", o);
	ev->pcr = sc_le32(b + o);
	ev->type = sc_le32(b + o + 4);
	count = sc_le32(b + o + 8);
	o += 12, left -= 12;
	if (ev->pcr >= PROBE_TPM_PCRS)
		return fail(-EBADMSG, why, why_size, "event log: PCR index %u at offset %zu", ev->pcr, ev->offset);
	if (count != log->n_algs)
		return fail(-EBADMSG, why, why_size, "event log: %u digests at offset %zu, %zu algorithms declared", count,
			    ev->offset, log->n_algs);
	memset(ev->digests, 0, sizeof(ev->digests));
	for (uint32_t i = 0; i < count; i++) {
		int k;
		if (left < 2)
			return fail(-EMSGSIZE, why, why_size, "event log: truncated digest at offset %zu", o);
		uint16_t alg = sc_le16(b + o);
		k = probe_eventlog_alg_index(log, alg);
		if (k < 0)
			return fail(-EBADMSG, why, why_size, "event log: undeclared algorithm 0x%04x at offset %zu", alg, o);
		if (ev->digests[k])
			return fail(-EBADMSG, why, why_size, "event log: algorithm 0x%04x twice in one event at offset %zu",
				    alg, o);
		o += 2, left -= 2;
		if (left < log->algs[k].size)
			return fail(-EMSGSIZE, why, why_size, "event log: truncated digest at offset %zu", o);
		ev->digests[k] = b + o;
		o += log->algs[k].size, left -= log->algs[k].size;
	}
	if (left < 4)
		return fail(-EMSGSIZE, why, why_size, "event log: truncated eventSize at offset %zu", o);
	ev->data_len = sc_le32(b + o);
	o += 4, left -= 4;
	if (ev->data_len > PROBE_EVENTLOG_EVENT_DATA_MAX)
		return fail(-EMSGSIZE, why, why_size, "event log: eventSize %u over %d at offset %zu", ev->data_len,
			    PROBE_EVENTLOG_EVENT_DATA_MAX, ev->offset);
	if (ev->data_len > left)
		return fail(-EMSGSIZE, why, why_size, "event log: event data runs past the end at offset %zu", ev->offset);
	ev->data = b + o;
	*off = o + ev->data_len;
	return 0;
}

int probe_eventlog_parse(const uint8_t *buf, size_t len, struct probe_eventlog **ret, char *why, size_t why_size)
{
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	size_t off = 0, cap = 0;
	bool pcr0_extended = false;
	int k;

	if (!buf || len == 0)
		return fail(-EMSGSIZE, why, why_size, "event log: empty");
	if (len > PROBE_EVENTLOG_MAX)
		return fail(-EMSGSIZE, why, why_size, "event log: %zu bytes, over the %d cap", len, PROBE_EVENTLOG_MAX);
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	log->buf = malloc(len);
	if (!log->buf)
		return -ENOMEM;
	memcpy(log->buf, buf, len);
	log->len = len;
	k = parse_spec_id(log, &off, why, why_size);
	if (k < 0)
		return k;
	while (off < len) {
		struct probe_event ev;
		if (log->n_events >= PROBE_EVENTLOG_EVENTS_MAX)
			return fail(-EMSGSIZE, why, why_size, "event log: over %d events", PROBE_EVENTLOG_EVENTS_MAX);
		k = parse_event2(log, &off, &ev, why, why_size);
		if (k < 0)
			return k;
		if (ev.type == PROBE_EV_NO_ACTION && ev.data_len >= 16 &&
		    memcmp(ev.data, STARTUP_LOCALITY_SIGNATURE, 16) == 0) {
			/* TCG_EfiStartupLocalityEvent: signature[16], StartupLocality. */
			if (ev.pcr != 0 || ev.data_len != 17 || log->has_startup_locality || pcr0_extended)
				return fail(-EBADMSG, why, why_size,
					    "event log: a StartupLocality event that is not the first for PCR 0 (offset %zu)",
					    ev.offset);
			log->has_startup_locality = true;
			log->startup_locality = ev.data[16];
		}
		if (ev.pcr == 0 && ev.type != PROBE_EV_NO_ACTION)
			pcr0_extended = true;
		if (log->n_events == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct probe_event *n;
			if (ncap > PROBE_EVENTLOG_EVENTS_MAX)
				ncap = PROBE_EVENTLOG_EVENTS_MAX;
			n = reallocarray(log->events, ncap, sizeof(*n));
			if (!n)
				return -ENOMEM;
			log->events = n;
			cap = ncap;
		}
		log->events[log->n_events++] = ev;
	}
	*ret = TAKE_PTR(log);
	return 0;
}

int probe_eventlog_replay(const struct probe_eventlog *log, uint16_t alg,
			  uint8_t pcrs[PROBE_TPM_PCRS][PROBE_TPM_HASH_MAX], char *why, size_t why_size)
{
	const EVP_MD *md = probe_tpm_hash_md(alg);
	size_t size = probe_tpm_hash_size(alg);
	int idx = probe_eventlog_alg_index(log, alg);

	if (idx < 0)
		return fail(-ENOENT, why, why_size, "event log: no %s bank declared",
			    probe_tpm_hash_name(alg) ? probe_tpm_hash_name(alg) : "such");
	if (!md)
		return fail(-EOPNOTSUPP, why, why_size, "event log: cannot replay algorithm 0x%04x", alg);
	memset(pcrs, 0, (size_t)PROBE_TPM_PCRS * PROBE_TPM_HASH_MAX);
	if (log->has_startup_locality)
		pcrs[0][size - 1] = log->startup_locality;
	for (size_t i = 0; i < log->n_events; i++) {
		const struct probe_event *ev = &log->events[i];
		uint8_t buf[2 * PROBE_TPM_HASH_MAX];
		unsigned n = 0;
		if (ev->type == PROBE_EV_NO_ACTION)
			continue;
		memcpy(buf, pcrs[ev->pcr], size);
		memcpy(buf + size, ev->digests[idx], size);
		if (EVP_Digest(buf, 2 * size, pcrs[ev->pcr], &n, md, NULL) != 1 || n != size)
			return fail(-EIO, why, why_size, "event log: hashing failed");
	}
	return 0;
}

int probe_eventlog_check_pcrs(const struct probe_eventlog *log, uint16_t alg, const struct probe_pcr_selection *sel,
			      const uint8_t *values, size_t values_len, char *why, size_t why_size)
{
	uint8_t pcrs[PROBE_TPM_PCRS][PROBE_TPM_HASH_MAX];
	size_t size = probe_tpm_hash_size(alg);
	bool any = false;
	int k = probe_eventlog_replay(log, alg, pcrs, why, why_size);
	if (k < 0)
		return k;
	for (unsigned i = 0; i < PROBE_TPM_PCRS; i++) {
		const uint8_t *v;
		k = probe_pcr_value_at(sel, values, values_len, alg, i, &v);
		if (k == -ENOENT)
			continue;
		if (k < 0)
			return fail(k, why, why_size, "PCR values do not fit their selection");
		any = true;
		if (memcmp(v, pcrs[i], size) != 0)
			return fail(-EPERM, why, why_size, "the event log does not replay to the quoted PCR %u (%s)", i,
				    probe_tpm_hash_name(alg));
	}
	if (!any)
		return fail(-ENOENT, why, why_size, "no %s PCRs quoted", probe_tpm_hash_name(alg));
	return 0;
}

static const uint8_t efi_global_guid[16] = {0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
					    0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c};
static const uint8_t efi_image_security_guid[16] = {0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45,
						    0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f};

int probe_efi_variable_parse(const uint8_t *buf, size_t len, struct probe_efi_variable *ret)
{
	struct probe_efi_variable v = {0};
	uint64_t name_len, data_len;
	/* VariableName GUID, UnicodeNameLength (UINT64), VariableDataLength (UINT64). */
	if (len < 32)
		return -EMSGSIZE;
	memcpy(v.guid, buf, 16);
	name_len = sc_le64(buf + 16);
	data_len = sc_le64(buf + 24);
	if (name_len == 0 || name_len > sizeof(v.name) - 1)
		return -EBADMSG;
	if (name_len * 2 > len - 32 || data_len != len - 32 - name_len * 2)
		return -EBADMSG;
	for (size_t i = 0; i < name_len; i++) {
		uint16_t c = sc_le16(buf + 32 + 2 * i);
		if (c < 0x20 || c > 0x7e)
			return -EBADMSG;
		v.name[i] = (char)c;
	}
	v.data = buf + 32 + name_len * 2;
	v.data_len = (size_t)data_len;
	*ret = v;
	return 0;
}

static bool var_is(const struct probe_efi_variable *v, const uint8_t guid[16], const char *name)
{
	return memcmp(v->guid, guid, 16) == 0 && strcmp(v->name, name) == 0;
}

int probe_eventlog_secureboot(const struct probe_eventlog *log, struct probe_secureboot *ret, char *why,
			      size_t why_size)
{
	struct probe_secureboot sb = {0};
	bool seen_sb = false, seen_pk = false, seen_kek = false, seen_db = false, seen_dbx = false;
	size_t separators = 0;

	for (size_t i = 0; i < log->n_events; i++) {
		const struct probe_event *ev = &log->events[i];
		struct probe_efi_variable v;

		if (ev->pcr != 7 || ev->type == PROBE_EV_NO_ACTION)
			continue;
		/* Every digest we can compute is the hash of the event data. */
		for (size_t a = 0; a < log->n_algs; a++) {
			uint8_t h[PROBE_TPM_HASH_MAX];
			if (!probe_tpm_hash_md(log->algs[a].alg))
				continue;
			if (probe_tpm_hash(log->algs[a].alg, ev->data, ev->data_len, h) < 0)
				return fail(-EIO, why, why_size, "hashing failed");
			if (memcmp(h, ev->digests[a], log->algs[a].size) != 0)
				return fail(-EPERM, why, why_size,
					    "PCR 7 event at offset %zu: its %s digest is not the hash of its data", ev->offset,
					    probe_tpm_hash_name(log->algs[a].alg));
		}
		switch (ev->type) {
		case PROBE_EV_SEPARATOR:
			if (ev->data_len != 4 || sc_le32(ev->data) != 0)
				return fail(-EPERM, why, why_size, "PCR 7 separator at offset %zu: data is not 00000000%s",
					    ev->offset,
					    ev->data_len == 4 && sc_le32(ev->data) == 0xffffffffu ? " (a firmware error)" : "");
			if (++separators > 1)
				return fail(-EPERM, why, why_size, "PCR 7: a second separator at offset %zu", ev->offset);
			break;
		case PROBE_EV_EFI_ACTION:
			if (ev->data_len == strlen("DMA Protection Disabled") &&
			    memcmp(ev->data, "DMA Protection Disabled", ev->data_len) == 0) {
				sb.dma_protection_disabled = true;
				break;
			}
			return fail(-EPERM, why, why_size, "PCR 7: EV_EFI_ACTION \"%.*s\" at offset %zu not allowed",
				    (int)(ev->data_len > 40 ? 40 : ev->data_len), (const char *)ev->data, ev->offset);
		case PROBE_EV_EFI_VARIABLE_DRIVER_CONFIG: {
			struct probe_efi_variable *slot = NULL;
			bool *seen = NULL;
			if (probe_efi_variable_parse(ev->data, ev->data_len, &v) < 0)
				return fail(-EBADMSG, why, why_size, "PCR 7 event at offset %zu: malformed UEFI_VARIABLE_DATA",
					    ev->offset);
			if (separators)
				return fail(-EPERM, why, why_size, "PCR 7: %s measured after the separator", v.name);
			if (var_is(&v, efi_global_guid, "SecureBoot")) {
				if (seen_sb)
					return fail(-EPERM, why, why_size, "PCR 7: SecureBoot measured twice");
				seen_sb = true;
				if (v.data_len != 1)
					return fail(-EPERM, why, why_size, "PCR 7: SecureBoot is %zu bytes, not 1", v.data_len);
				sb.secure_boot = v.data[0] == 1;
				break;
			} else if (var_is(&v, efi_global_guid, "PK"))
				slot = &sb.pk, seen = &seen_pk;
			else if (var_is(&v, efi_global_guid, "KEK"))
				slot = &sb.kek, seen = &seen_kek;
			else if (var_is(&v, efi_image_security_guid, "db"))
				slot = &sb.db, seen = &seen_db;
			else if (var_is(&v, efi_image_security_guid, "dbx"))
				slot = &sb.dbx, seen = &seen_dbx;
			else
				return fail(-EPERM, why, why_size, "PCR 7: unexpected variable %s measured", v.name);
			if (*seen)
				return fail(-EPERM, why, why_size, "PCR 7: %s measured twice", v.name);
			*seen = true;
			*slot = v;
			break;
		}
		case PROBE_EV_EFI_VARIABLE_AUTHORITY:
			if (probe_efi_variable_parse(ev->data, ev->data_len, &v) < 0)
				return fail(-EBADMSG, why, why_size, "PCR 7 event at offset %zu: malformed UEFI_VARIABLE_DATA",
					    ev->offset);
			if (!separators) {
				sb.n_pre_separator_authorities++;
				break;
			}
			if (sb.n_authorities >= PROBE_SECUREBOOT_AUTHORITIES_MAX)
				return fail(-EPERM, why, why_size, "PCR 7: over %d authority events",
					    PROBE_SECUREBOOT_AUTHORITIES_MAX);
			sb.authorities[sb.n_authorities++] = v;
			break;
		default:
			return fail(-EPERM, why, why_size, "PCR 7: event type 0x%08x at offset %zu not allowed", ev->type,
				    ev->offset);
		}
	}
	if (separators != 1)
		return fail(-EPERM, why, why_size, "PCR 7: no separator");
	if (!seen_sb || !seen_pk || !seen_kek || !seen_db || !seen_dbx)
		return fail(-EPERM, why, why_size, "PCR 7: %s not measured",
			    !seen_sb ? "SecureBoot" : !seen_pk ? "PK" : !seen_kek ? "KEK" : !seen_db ? "db" : "dbx");
	if (!sb.secure_boot)
		return fail(-EPERM, why, why_size, "PCR 7: SecureBoot is not 1: Secure Boot was off");
	if (sb.pk.data_len == 0 || sb.kek.data_len == 0 || sb.db.data_len == 0)
		return fail(-EPERM, why, why_size, "PCR 7: %s is empty",
			    sb.pk.data_len == 0 ? "PK" : sb.kek.data_len == 0 ? "KEK" : "db");
	if (sb.n_authorities == 0)
		return fail(-EPERM, why, why_size, "PCR 7: no authority verified the boot application");
	*ret = sb;
	return 0;
}
