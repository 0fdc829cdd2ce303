/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd's userspace measurement log, as a guest sends it in its evidence
 * (used only to replay the systemd-pcrphase words into PCR 11, probe-evidence.c) (/run/log/systemd/tpm2-measure.log,
 * systemd 253+ src/shared/tpm2-util.c tpm2_userspace_log()): RFC 7464
 * JSON-SEQ, each record RS (0x1e), one JSON object, LF:
 *   {"pcr":11,"digests":[{"hashAlg":"sha256","digest":"<hex>"},...],
 *    "content_type":"systemd","content":{"string":"sysinit","bootId":"<32 hex>",
 *    "timestamp":<usec>,"eventType":"phase"}}
 * Parsed strictly: at most SC_EVIDENCE_USERLOG_MAX bytes, PROBE_USERLOG_RECORDS_MAX
 * records of at most PROBE_USERLOG_RECORD_MAX bytes, only those keys, known
 * hash names with digests of their size, content_type "systemd". A PCR 11
 * record must be a systemd-pcrphase word (enter-initrd, leave-initrd, sysinit,
 * ready, shutdown, final; eventType "phase" if given) whose every digest is
 * H(word); a record for another quoted PCR (0-5, 7, 9, 12) is refused (nothing
 * of systemd's belongs there); records for PCRs the quote does not cover (13,
 * 15, ...) are checked for shape and counted, not used.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "probe-pcr11.h"

#define PROBE_USERLOG_RECORDS_MAX 128 /* a real record is ~250 bytes: 32 KiB holds ~130 */
#define PROBE_USERLOG_RECORD_MAX 4096

struct probe_userlog {
	unsigned n_phases;                               /* PCR 11 records, in order */
	const char *phases[PROBE_PCR11_MAX_PHASES];       /* static strings: the known words */
	uint8_t phase_sha256[PROBE_PCR11_MAX_PHASES][32]; /* H(word), checked */
	unsigned n_records, n_ignored;                    /* all records; those for unquoted PCRs */
};

/* 0, or -EBADMSG/-EMSGSIZE/-EPERM with @why naming the record. @len 0 is an empty log (no records). */
int probe_userlog_parse(const uint8_t *buf, size_t len, struct probe_userlog *ret, char *why, size_t why_size);
