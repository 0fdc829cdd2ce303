/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Verifying a report's TPM evidence (common/sc-evidence.h, docs/evidence.md)
 * on the host, link by link, each a named link of the verdict:
 *
 *   tpm:binding      the evidence names our nonce and the report bytes received
 *   tpm:quote        signature under the pinned AK, qualifying data = the binding,
 *                    clock safe, exactly the PCRs asked for, their digest
 *   tpm:eventlog     the firmware log replays to exactly the quoted PCRs
 *   tpm:secure_boot  PCR 7: Secure Boot on, PK/KEK/db the host enrolled, the UKI
 *                    verified by the host's db certificate
 *   tpm:pcr11        PCR 11 equals the host's prediction for the sealed UKI it built
 *   tpm:pcr12        PCR 12 is untouched: no cmdline override or addon
 *   tpm:cmdline      that UKI's own .cmdline names a digest the policy allows
 *
 * Only once every link is proven does the host know, without trusting the
 * guest, that Secure Boot ran with its keys, the signed UKI it built booted
 * and so its composefs= digest is the one the kernel got. What the guest
 * says after that (verity mount, image digest, objects) stays its claim,
 * made by a verified boot chain (docs/threat-model.md).
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "probe-policy.h"
#include "probe-tpm.h"

#define PROBE_EVIDENCE_MAX_CERTS 8

struct probe_evidence_expect {
	const char *nonce;
	const uint8_t *report; /* the R frame's payload bytes, as received */
	size_t report_len;
	const uint8_t *ak_name; /* the AK the host derived from the TPM it owns; NULL: none pinned (fails) */
	size_t ak_name_len;
	const char *uki_path;   /* the sealed UKI the host built (for PCR 11 and its .cmdline); NULL: not known (fails) */
	const struct probe_policy *policy;
	/* The host's enrolled keys, DER: each must be in the PCR 7 measurement of its variable. */
	const uint8_t *pk, *kek, *db;
	size_t pk_len, kek_len, db_len;
	const char *counters_file; /* the VM's last quote's clock and counters (probe_quote_counters_check()), or NULL */
};

/*
 * probe_evidence_verify() - every link above for the evidence document
 * @ev (the E frame's JSON, already parsed). Returns an array of
 * {"link", "status" ("proven" or "failed"), "reason"} in the order above,
 * or NULL on ENOMEM. @ret_attest (may be NULL) gets the quote's clock and
 * counters when the quote verified.
 */
json_t *probe_evidence_verify(json_t *ev, const struct probe_evidence_expect *x, struct probe_tpm_attest *ret_attest);

/*
 * probe_quote_counters_check() - Keylime's check_quote_timing across the
 * quotes of one VM: resetCount and restartCount never decrease, and while
 * both stay the same the clock only goes forward. The last quote's values
 * are kept in @state_file ("clock reset restart"), replaced atomically when
 * this quote passes. Returns 1 (first quote of this TPM state), 0 (newer
 * than the last), -EPERM with @why (went back), or another negative errno.
 */
int probe_quote_counters_check(const char *state_file, const struct probe_tpm_attest *q, char *why, size_t why_size);

/* Strict base64 (RFC 4648, padded, no whitespace) of at most @max decoded bytes; malloc'd. 0 or -EBADMSG/-EMSGSIZE. */
int probe_base64_decode(const char *s, size_t max, uint8_t **ret, size_t *ret_len);

/* A PEM or DER certificate file as DER, malloc'd (at most 64 KiB). 0 or a negative errno. */
int probe_cert_der(const char *path, uint8_t **ret, size_t *ret_len);
