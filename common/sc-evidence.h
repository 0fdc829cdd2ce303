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

/*
 * Binding a guest-made AK to the TPM's EK (credential activation, docs/evidence.md), for a VM whose AK
 * the host has not pinned. After the E frame, all bound to the session's nonce:
 *
 *   host  -> agent  'K'  the nonce (64 hex): "send your EK"
 *   agent -> host   'K'  {"schema": "sealcheck.ek.v1", "nonce": "<64 hex>",
 *                         "ek_public": "<base64 TPM2B_PUBLIC of the EK, TCG template L-1>",
 *                         "ek_cert": "<base64 DER from NV index 0x01c00002>" | null}
 *   host  -> agent  'C'  {"schema": "sealcheck.challenge.v1", "nonce": "<64 hex>",
 *                         "credential_blob": "<hex TPM2B_ID_OBJECT>", "secret": "<hex TPM2B_ENCRYPTED_SECRET>"}
 *                         (TPM2_MakeCredential(EK, AK Name, a random 32-byte secret), made in software)
 *   agent -> host   'A'  {"schema": "sealcheck.answer.v1", "nonce": "<64 hex>",
 *                         "answer": "<hex HMAC-SHA256(key = the secret ActivateCredential recovered, nonce)>"}
 *
 * An agent that does not know these frames ignores them (and a host that does not, sends none).
 */
#define SC_WIRE_EK 'K'        /* both ways: the host's request (payload: the nonce) and the agent's EK document */
#define SC_WIRE_CHALLENGE 'C' /* host -> agent */
#define SC_WIRE_ANSWER 'A'    /* agent -> host */
#define SC_EK_SCHEMA "sealcheck.ek.v1"
#define SC_CHALLENGE_SCHEMA "sealcheck.challenge.v1"
#define SC_ANSWER_SCHEMA "sealcheck.answer.v1"
#define SC_EVIDENCE_EK_CERT_MAX (8u * 1024u) /* an EK certificate, DER */
#define SC_EK_NV_INDEX_RSA 0x01c00002u       /* TCG EK Credential Profile: the RSA 2048 EK certificate */
#define SC_CREDENTIAL_BLOB_MAX 256u          /* TPM2B_ID_OBJECT, marshalled (134 bytes for SHA-256) */
#define SC_CREDENTIAL_SECRET_MAX 514u        /* TPM2B_ENCRYPTED_SECRET, marshalled (258 for RSA 2048) */
#define SC_CREDENTIAL_ANSWER_LEN 32u

/*
 * The EK template (TCG EK Credential Profile 2.x, RSA 2048 template L-1): nameAlg SHA-256, fixedTPM |
 * fixedParent | sensitiveDataOrigin | adminWithPolicy | restricted | decrypt (0x000300b2), authPolicy
 * policy A = PolicySecret(TPM_RH_ENDORSEMENT), AES-128-CFB, no scheme, 2048 bits, exponent 0,
 * unique 256 zero bytes: the key swtpm_setup --createek certifies (tpm2_createek -G rsa).
 */
#define SC_EK_ATTRIBUTES 0x000300b2u
#define SC_EK_POLICY_A                                                                                  \
	"\x83\x71\x97\x67\x44\x84\xb3\xf8\x1a\x90\xcc\x8d\x46\xa5\xd7\x24\xfd\x52\xd7\x6e\x06\x52\x0b\x64\xf2\xa1" \
	"\xda\x1b\x33\x14\x69\xaa"

/* The challenge frame's payload, parsed (strictly: known keys only, each of its type and within its cap). */
struct sc_credential_challenge {
	char nonce[65];
	uint8_t blob[SC_CREDENTIAL_BLOB_MAX]; /* TPM2B_ID_OBJECT, its size field included */
	size_t blob_len;
	uint8_t secret[SC_CREDENTIAL_SECRET_MAX]; /* TPM2B_ENCRYPTED_SECRET, its size field included */
	size_t secret_len;
};
/* 0, or -EBADMSG when @payload is not such a challenge. */
int sc_credential_challenge_parse(const void *payload, size_t len, struct sc_credential_challenge *ret);

/* The answer to a challenge: HMAC-SHA256(key = @secret, the nonce's 64 ASCII characters). 0 or -EINVAL. */
int sc_credential_answer(const uint8_t *secret, size_t secret_len, const char *nonce,
			 uint8_t out[SC_CREDENTIAL_ANSWER_LEN]);

/* The evidence's "report_sha256": lowercase hex of SHA-256(@report), into @out (65 bytes). */
void sc_evidence_report_sha256(const void *report, size_t len, char out[65]);

/* SHA-256(@nonce (64 ASCII hex) || SHA-256(@report, @len)) into @out. Returns 0 or -EINVAL/-ENOMEM. */
int sc_evidence_qualifying_data(const char *nonce, const void *report, size_t len, uint8_t out[32]);
