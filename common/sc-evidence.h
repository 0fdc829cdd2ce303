/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TPM evidence for a report: what the agent sends after the report frame
 * and the host verifies (docs/evidence.md). Shared so both sides agree on
 * every byte.
 *
 * The agent answers a nonce with a report frame ('R', the JSON exactly as
 * sent) and, when the VM has a TPM, an evidence frame ('E') right after it:
 *
 *   {"schema": "sealcheck.evidence.v1",
 *    "nonce": "<the host's nonce, 64 hex>",
 *    "report_sha256": "<hex of SHA-256 over the R frame's payload bytes>",
 *    "ak_public": "<base64 TPM2B_PUBLIC of the attestation key>",
 *    "quote": "<base64 TPMS_ATTEST>",
 *    "signature": "<base64 TPMT_SIGNATURE>",
 *    "pcrs": {"sha256": {"0": "<hex>", ..., "12": "<hex>"}},
 *    "eventlog": "<base64 binary_bios_measurements>",
 *    "userspace_log": "<base64 /run/log/systemd/tpm2-measure.log>" | null}
 *
 * The quote's qualifying data (extraData) is
 *   SHA-256(nonce as its 64 ASCII characters || SHA-256(report bytes)),
 * so a valid quote cannot be moved under another report or another nonce.
 *
 * The attestation key is a primary key of the endorsement hierarchy made
 * from the fixed template below (TPM2_CreatePrimary(TPM_RH_ENDORSEMENT)): a
 * TPM derives the same key from its endorsement seed every time, so the
 * host that owns the TPM (its swtpm) can derive it before the guest ever
 * runs and pin its Name, and counters in quotes are not obfuscated (an AK of
 * the endorsement hierarchy, as Keylime requires).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SC_EVIDENCE_SCHEMA "sealcheck.evidence.v1"
#define SC_WIRE_EVIDENCE 'E'

/* The PCRs quoted, sha256 bank. */
#define SC_EVIDENCE_PCR_MASK                                                                             \
	((1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 7) | (1u << 9) | \
	 (1u << 11) | (1u << 12))

/* Caps on what the evidence may carry (decoded bytes). */
#define SC_EVIDENCE_EVENTLOG_MAX (128u * 1024u)
#define SC_EVIDENCE_USERLOG_MAX (32u * 1024u)

/*
 * The AK template (TPMT_PUBLIC): RSA 2048, nameAlg SHA-256, attributes
 * fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted |
 * sign (0x00050072), empty authPolicy, symmetric NULL, scheme RSASSA with
 * SHA-256, exponent 0 (65537), unique empty. tpm2-tools: `tpm2_createprimary
 * -C e -G rsa2048:rsassa-sha256:null -g sha256 -a
 * 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign'`.
 */
#define SC_AK_ATTRIBUTES 0x00050072u
#define SC_AK_TOOLS_ALG "rsa2048:rsassa-sha256:null"
#define SC_AK_TOOLS_ATTRS "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign"

/* The evidence's "report_sha256": lowercase hex of SHA-256(@report), into @out (65 bytes). */
void sc_evidence_report_sha256(const void *report, size_t len, char out[65]);

/* SHA-256(@nonce (64 ASCII hex) || SHA-256(@report, @len)) into @out. Returns 0 or -EINVAL/-ENOMEM. */
int sc_evidence_qualifying_data(const char *nonce, const void *report, size_t len, uint8_t out[32]);
