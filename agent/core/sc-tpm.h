/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest's TPM evidence (common/sc-evidence.h): the attestation key, a
 * quote over the host's binding and the PCR values it covers, through
 * tpm2-tss ESAPI. libtss2-esys, libtss2-mu and libtss2-tctildr (which loads
 * the TCTI, libtss2-tcti-device for /dev/tpmrm0) are loaded with dlopen on
 * first use (sc-dlopen.h): a guest without a TPM never maps them, and one
 * without the libraries runs as before, saying why there is no evidence.
 *
 * The TPM is live state: it is never looked for under a fixture --root
 * (only the event logs are read under the root), unless a TCTI is named.
 * Functions return 0 or a negative errno with a NUL-terminated reason in
 * @why (@why_size bytes). None prints: tpm2-tss's own logging is turned off
 * (TSS2_LOG=all+none) unless the environment already sets TSS2_LOG.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sc-fileio.h"
#include "sc-macro.h"

/* The TCTIs tried, in order, when none is named. */
#define SC_TPM_TCTI_DEFAULT "device:/dev/tpmrm0"
#define SC_TPM_TCTI_FALLBACK "device:/dev/tpm0"

#define SC_TPM_PCRS 24
#define SC_TPM_SHA256_LEN 32
#define SC_TPM_BLOB_MAX 2048 /* each marshalled structure (a quote's TPMS_ATTEST is ~150 bytes) */

struct sc_tpm; /* an ESAPI context over one TCTI */

/*
 * sc_tpm_open() - connect to the TPM through @tcti ("device:/dev/tpmrm0",
 * "swtpm:host=127.0.0.1,port=2321", anything Tss2_TctiLdr_Initialize takes),
 * or when @tcti is NULL the first of SC_TPM_TCTI_DEFAULT and
 * SC_TPM_TCTI_FALLBACK whose device exists. -ENODEV when there is no TPM
 * device, -EOPNOTSUPP when a library or symbol is missing, -EIO when the
 * TCTI or ESAPI refuses.
 */
int sc_tpm_open(const char *tcti, struct sc_tpm **ret, char *why, size_t why_size);
void sc_tpm_close(struct sc_tpm *t);
static inline void sc_tpm_closep(struct sc_tpm **t)
{
	if (*t)
		sc_tpm_close(*t);
}
#define _cleanup_tpm_ _cleanup_(sc_tpm_closep)

/*
 * sc_tpm_create_ak() - TPM2_CreatePrimary(TPM_RH_ENDORSEMENT) with the AK
 * template of sc-evidence.h: the same key every time on one TPM. *@ret_handle
 * is the loaded key's ESYS_TR (sc_tpm_flush() it); @public gets its
 * TPM2B_PUBLIC marshalled (*@public_len bytes, at most SC_TPM_BLOB_MAX).
 */
int sc_tpm_create_ak(struct sc_tpm *t, uint32_t *ret_handle, uint8_t public[static SC_TPM_BLOB_MAX],
		     size_t *public_len, char *why, size_t why_size);
int sc_tpm_flush(struct sc_tpm *t, uint32_t handle);

/*
 * sc_tpm_pcr_read() - the sha256 values of the PCRs in @mask (bit n = PCR
 * n) into @values[n], however many TPM2_PCR_Read calls that takes (a TPM
 * returns at most 8 digests per call).
 */
int sc_tpm_pcr_read(struct sc_tpm *t, uint32_t mask, uint8_t values[SC_TPM_PCRS][SC_TPM_SHA256_LEN], char *why,
		    size_t why_size);

/* One quote with everything the host needs to check it. */
struct sc_tpm_quote {
	uint8_t ak_public[SC_TPM_BLOB_MAX]; /* TPM2B_PUBLIC */
	size_t ak_public_len;
	uint8_t attest[SC_TPM_BLOB_MAX]; /* TPMS_ATTEST (the TPM2B_ATTEST's bytes) */
	size_t attest_len;
	uint8_t signature[SC_TPM_BLOB_MAX]; /* TPMT_SIGNATURE */
	size_t signature_len;
	uint32_t pcr_mask; /* the sha256 PCRs quoted, with their values */
	uint8_t pcrs[SC_TPM_PCRS][SC_TPM_SHA256_LEN];
};

/*
 * sc_tpm_quote() - TPM2_Quote with the AK (created here and flushed after)
 * over the sha256 PCRs of @pcr_mask, scheme RSASSA-SHA256, with
 * @qualifying (32 bytes) as its qualifying data. The PCRs are read before
 * and after the quote and must be equal and hash to the quote's pcrDigest;
 * if a PCR was extended meanwhile the whole is done once more, then
 * -EAGAIN.
 */
int sc_tpm_quote(struct sc_tpm *t, const uint8_t qualifying[static 32], uint32_t pcr_mask, struct sc_tpm_quote *ret,
		 char *why, size_t why_size);

/*
 * sc_tpm_create_ek() - TPM2_CreatePrimary(TPM_RH_ENDORSEMENT) with the default EK template (TCG EK
 * Credential Profile, RSA 2048 template L-1, sc-evidence.h): the key the TPM's EK certificate
 * certifies. As sc_tpm_create_ak(): *@ret_handle to flush, its TPM2B_PUBLIC in @public.
 */
int sc_tpm_create_ek(struct sc_tpm *t, uint32_t *ret_handle, uint8_t public[static SC_TPM_BLOB_MAX],
		     size_t *public_len, char *why, size_t why_size);

/*
 * sc_tpm_read_ek_cert() - the EK certificate (DER) in NV index SC_EK_NV_INDEX_RSA, malloc'd, at most
 * SC_EVIDENCE_EK_CERT_MAX bytes; read with the index's own (empty) auth, else the owner's. -ENOENT
 * when the TPM has no such index.
 */
int sc_tpm_read_ek_cert(struct sc_tpm *t, uint8_t **ret, size_t *ret_len, char *why, size_t why_size);

/*
 * sc_tpm_activate() - TPM2_ActivateCredential: @ak (ADMIN role, its empty auth) is the object the
 * credential names, @ek (USER role, a policy session satisfying policy A: PolicySecret(TPM_RH_ENDORSEMENT))
 * decrypts the seed. @blob and @secret are the marshalled TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET.
 * The recovered secret goes to @out (*@out_len bytes, at most 64). -EPERM when the TPM refuses it
 * (the credential is for another key or another TPM).
 */
int sc_tpm_activate(struct sc_tpm *t, uint32_t ak, uint32_t ek, const uint8_t *blob, size_t blob_len,
		    const uint8_t *secret, size_t secret_len, uint8_t out[static 64], size_t *out_len, char *why,
		    size_t why_size);

/* The EK as the 'K' frame names it: what does not change while the TPM's endorsement seed does not. */
struct sc_ek {
	uint8_t public[SC_TPM_BLOB_MAX]; /* TPM2B_PUBLIC, marshalled */
	size_t public_len;
	uint8_t *cert; /* DER, malloc'd, at most SC_EVIDENCE_EK_CERT_MAX bytes; NULL when the TPM has none */
	size_t cert_len;
};
void sc_ek_done(struct sc_ek *ek);

/*
 * sc_ek_read() - the EK made with sc_tpm_create_ek() (flushed after) and its certificate when the TPM
 * has one. @tcti as for sc_evidence_collect(). sc_ek_done() it, also after an error.
 */
int sc_ek_read(const struct sc_paths *paths, const char *tcti, struct sc_ek *ret, char *why, size_t why_size);

/* sc_ek_document() - the JSON text of sc-evidence.h for @ek answering @nonce (compact, malloc'd). 0, -EINVAL or -ENOMEM. */
int sc_ek_document(const struct sc_ek *ek, const char *nonce, char **ret, size_t *ret_len);

/*
 * sc_ek_collect() - the agent's 'K' frame answering the host's request for @nonce: sc_ek_read() then
 * sc_ek_document().
 */
int sc_ek_collect(const struct sc_paths *paths, const char *tcti, const char *nonce, char **ret, size_t *ret_len,
		  char *why, size_t why_size);

/*
 * sc_credential_respond() - the 'A' frame for challenge @c: AK and EK made again (the same keys:
 * primaries of fixed templates), TPM2_ActivateCredential, the answer sc_credential_answer() over
 * the recovered secret and @c's nonce. With @corrupt (tests only: the agent passes false) one bit
 * of the answer is flipped, as an agent that could not activate would have to guess.
 */
struct sc_credential_challenge;
int sc_credential_respond(const struct sc_paths *paths, const char *tcti, const struct sc_credential_challenge *c,
			  bool corrupt, char **ret, size_t *ret_len, char *why, size_t why_size);

/*
 * sc_evidence_to_json() - the "sealcheck.evidence.v1" document of
 * sc-evidence.h for @report (the R frame's payload bytes as sent) answering
 * @nonce: @eventlog (may be empty when the firmware left none) and @userlog
 * (NULL: JSON null). Returns 0, -EINVAL (bad nonce), or -ENOMEM.
 */
int sc_evidence_to_json(const char *nonce, const void *report, size_t report_len, const struct sc_tpm_quote *q,
			const void *eventlog, size_t eventlog_len, const void *userlog, size_t userlog_len,
			json_t **ret);

/*
 * sc_evidence_read_logs() - the firmware event log
 * (/sys/kernel/security/tpm0/binary_bios_measurements, capped at
 * SC_EVIDENCE_EVENTLOG_MAX) and systemd's userspace log
 * (/run/log/systemd/tpm2-measure.log, SC_EVIDENCE_USERLOG_MAX) under the
 * root. A missing file gives NULL (length 0); -EFBIG when one is over its cap.
 */
int sc_evidence_read_logs(const struct sc_paths *paths, char **ret_eventlog, size_t *ret_eventlog_len,
			  char **ret_userlog, size_t *ret_userlog_len, char *why, size_t why_size);

/*
 * sc_evidence_collect() - everything for one answer: open the TPM (@tcti as
 * sc_tpm_open(), except that without @tcti a fixture root has no TPM:
 * -ENODEV), quote over SC_EVIDENCE_PCR_MASK with
 * sc_evidence_qualifying_data(@nonce, @report), read the logs, and the E
 * frame's JSON text (compact) in *@ret (malloc'd, *@ret_len bytes).
 */
int sc_evidence_collect(const struct sc_paths *paths, const char *tcti, const char *nonce, const void *report,
			size_t report_len, char **ret, size_t *ret_len, char *why, size_t why_size);
