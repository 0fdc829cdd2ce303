/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Binding a guest-made attestation key to the TPM's endorsement key, on the
 * host (docs/evidence.md, "Trust in the attestation key"): for a VM whose AK
 * Name the host has not pinned, the EK the agent names must be certified by
 * a CA the host trusts (its certificate chains to --tpm-ek-ca) or be the EK
 * the host recorded, and the host then makes a credential for the AK's Name
 * to that EK (TPM2_MakeCredential, here in software with OpenSSL). Only the
 * TPM holding the EK's private key, with an object of exactly that Name
 * loaded, recovers the secret (TPM2_ActivateCredential), and the agent's
 * answer is HMAC-SHA256(secret, nonce) (common/sc-evidence.h). Right answer:
 * the AK is pinned (ak.name) and later boots compare Names.
 *
 * As go-attestation's ActivationParameters.Generate (attest/activation.go)
 * and Keylime's registrar (keylime/registrar_common.py: the EK certificate's
 * chain, then MakeCredential to the EK for the AK's Name). Every byte of the EK document came from the guest.
 * Functions return 0 or a negative errno with a NUL-terminated reason in @why.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe-tpm.h"
#include "sc-evidence.h"

#define PROBE_CREDENTIAL_SECRET_LEN 32

/*
 * probe_kdfa() - KDFa (TPM 2.0 Part 1, 11.4.10.2) with HMAC-@hash: @bits / 8
 * bytes (@bits a multiple of 8, at most 1024) of
 * HMAC(@key, [i]32 || @label || 0x00 || @u || @v || [@bits]32), i = 1, 2, ...
 */
int probe_kdfa(uint16_t hash, const uint8_t *key, size_t key_len, const char *label, const uint8_t *u, size_t u_len,
	       const uint8_t *v, size_t v_len, unsigned bits, uint8_t *out);

/*
 * probe_credential_wrap() - the symmetric half of TPM2_MakeCredential with a
 * given @seed (Part 1, 24.4; Part 3, 12.6): symKey = KDFa(nameAlg, seed,
 * "STORAGE", @name, -, the EK's AES keyBits), encIdentity = AES-CFB(symKey,
 * IV 0, TPM2B_DIGEST(@secret)), HMACkey = KDFa(nameAlg, seed, "INTEGRITY", -,
 * -, digest bits), outerHMAC = HMAC(HMACkey, encIdentity || @name). @blob gets
 * the marshalled TPM2B_ID_OBJECT (TPM2B_DIGEST(outerHMAC) || encIdentity).
 */
int probe_credential_wrap(const struct probe_tpm_public *ek, const uint8_t *seed, size_t seed_len,
			  const uint8_t *name, size_t name_len, const uint8_t *secret, size_t secret_len,
			  uint8_t blob[static SC_CREDENTIAL_BLOB_MAX], size_t *blob_len, char *why, size_t why_size);

/*
 * probe_credential_seal_seed() - @seed encrypted to the RSA EK: RSA-OAEP with
 * the EK's nameAlg and the label "IDENTITY\0", as a marshalled
 * TPM2B_ENCRYPTED_SECRET in @out.
 */
int probe_credential_seal_seed(const struct probe_tpm_public *ek, const uint8_t *seed, size_t seed_len,
			       uint8_t out[static SC_CREDENTIAL_SECRET_MAX], size_t *out_len, char *why, size_t why_size);

/* Both, with a fresh random seed of the nameAlg's size. */
struct probe_credential {
	uint8_t blob[SC_CREDENTIAL_BLOB_MAX];
	size_t blob_len;
	uint8_t secret[SC_CREDENTIAL_SECRET_MAX];
	size_t secret_len;
};
int probe_credential_make(const struct probe_tpm_public *ek, const uint8_t *name, size_t name_len,
			  const uint8_t *secret, size_t secret_len, struct probe_credential *ret, char *why,
			  size_t why_size);

/*
 * probe_ek_public_check() - @ek is the default RSA EK (TCG EK Credential
 * Profile template L-1: the attributes, policy A, AES-128-CFB, no scheme,
 * 2048 bits): a restricted decryption key whose credentials only the TPM can
 * open. -EPERM with @why otherwise.
 */
int probe_ek_public_check(const struct probe_tpm_public *ek, char *why, size_t why_size);

/*
 * probe_ek_cert_check() - the EK certificate (@der) chains to a certificate
 * of @ca_bundle (a PEM file of CA certificates, each a trust anchor; X.509
 * path validation by OpenSSL, with the TCG's critical subjectAltName and
 * other unknown critical TCG extensions of the EK certificate itself
 * accepted, as go-attestation does) and certifies exactly @ek's public key.
 * @expect_cn (may be NULL): the certificate's subject CN must be exactly
 * this: libvirt's swtpm_setup has swtpm-localca certify each domain's EK
 * for "--vmid <name>:<uuid>" as CN=<name>:<uuid>, so the EK of another
 * domain under the same local CA is refused (a guest relaying its
 * neighbour's TPM). "<name>:" (a trailing colon) asks for CN=<name>:<uuid>
 * with any UUID, when the host knows the VM by name only. @issuer (may be NULL) gets the issuer's name, for the
 * verdict. -EPERM with @why when it does not; -EBADMSG when it is no
 * certificate.
 */
int probe_ek_cert_check(const uint8_t *der, size_t der_len, const char *ca_bundle, const struct probe_tpm_public *ek,
			const char *expect_cn, char *issuer, size_t issuer_size, char *why, size_t why_size);

/* How the host trusts a VM's EK and AK (the front ends' options). */
struct probe_credential_config {
	const uint8_t *pinned_name; /* the AK Name pinned for this VM (ak.name): no challenge when it is set */
	size_t pinned_name_len;
	const char *ek_ca_file;     /* --tpm-ek-ca: the EK certificate must chain to one of these */
	const char *ek_cert_cn;     /* ... and name this VM: subject CN "<name>:<uuid>" (libvirt's), or with "<name>:"
				     * a CN of that name and any UUID (the UUID not known to the host); NULL: not checked */
	const uint8_t *ek_public;   /* or: the EK's TPM2B_PUBLIC the host recorded (ek.pub) */
	size_t ek_public_len;
	const char *pin_file;       /* where the AK Name is pinned once proven (ak.name), or NULL */
};

enum probe_credential_status {
	PROBE_CRED_NONE = 0, /* not asked: an AK is pinned, or no credential configuration */
	PROBE_CRED_PENDING,  /* the challenge is out; no answer yet */
	PROBE_CRED_PROVEN,   /* the agent recovered the secret: the AK is in the TPM of the trusted EK */
	PROBE_CRED_FAILED,   /* why says which check failed */
};

struct probe_credential_state {
	enum probe_credential_status status;
	char why[400];
	uint8_t ak_name[PROBE_TPM_NAME_MAX]; /* the AK the challenge is for */
	size_t ak_name_len;
	uint8_t answer[SC_CREDENTIAL_ANSWER_LEN]; /* the answer expected */
	char ek_trust[200];                       /* how the EK was trusted, for the verdict */
};

/*
 * probe_credential_challenge() - for the agent's EK document (@ek_doc, the K
 * frame's payload, @ek_len bytes) answering @nonce, and the AK of @evidence
 * (its "ak_public"): the AK passes probe_tpm_ak_check() and has exactly the
 * AK template's attributes (sc-evidence.h: no adminWithPolicy) and no authPolicy, the EK passes
 * probe_ek_public_check() and is trusted by @cfg (chain to the CA, or equal
 * to the recorded EK), then the C frame's JSON (malloc'd, *@ret_len bytes)
 * with a credential for the AK's Name and a fresh random secret. @st is
 * PENDING after; FAILED with why (and -EPERM/-EBADMSG returned) when any
 * check fails.
 */
int probe_credential_challenge(const struct probe_credential_config *cfg, const char *nonce, json_t *evidence,
			       const void *ek_doc, size_t ek_len, struct probe_credential_state *st, char **ret,
			       size_t *ret_len);

/*
 * probe_credential_check_answer() - the A frame's payload against the
 * pending challenge: PROVEN when it names @nonce and its answer equals the
 * one expected (compared in constant time), else FAILED. Returns 0 when
 * proven, -EPERM otherwise.
 */
int probe_credential_check_answer(struct probe_credential_state *st, const char *nonce, const void *payload, size_t len);
