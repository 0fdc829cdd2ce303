/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TPM 2.0 structures the host verifies (TPM 2.0 Library Part 2): the AK's
 * TPMT_PUBLIC, a quote's TPMS_ATTEST and its TPMT_SIGNATURE, and the PCR
 * digest a quote covers.
 *
 * Every byte here came from the guest. The parsers are strict big-endian
 * readers: each size field is capped by the structure's maximum and by what
 * is left of the buffer, unknown algorithms and trailing bytes are errors,
 * and a parse either fills its result completely or fails. Functions return
 * 0 or a negative errno and put a NUL-terminated reason in @why (@why_size
 * bytes; @why may be NULL).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* TPM_ALG_ID values (Part 2, 6.3). */
#define PROBE_TPM_ALG_RSA 0x0001
#define PROBE_TPM_ALG_SHA1 0x0004
#define PROBE_TPM_ALG_SHA256 0x000B
#define PROBE_TPM_ALG_SHA384 0x000C
#define PROBE_TPM_ALG_SHA512 0x000D
#define PROBE_TPM_ALG_NULL 0x0010
#define PROBE_TPM_ALG_SM3_256 0x0012
#define PROBE_TPM_ALG_RSASSA 0x0014
#define PROBE_TPM_ALG_RSAPSS 0x0016
#define PROBE_TPM_ALG_ECDSA 0x0018
#define PROBE_TPM_ALG_ECC 0x0023
/* TPM_ECC_CURVE */
#define PROBE_TPM_ECC_NIST_P256 0x0003
#define PROBE_TPM_ECC_NIST_P384 0x0004
#define PROBE_TPM_ECC_NIST_P521 0x0005
/* TPMA_OBJECT bits */
#define PROBE_TPMA_FIXED_TPM (1u << 1)
#define PROBE_TPMA_ST_CLEAR (1u << 2)
#define PROBE_TPMA_FIXED_PARENT (1u << 4)
#define PROBE_TPMA_SENSITIVE_DATA_ORIGIN (1u << 5)
#define PROBE_TPMA_USER_WITH_AUTH (1u << 6)
#define PROBE_TPMA_RESTRICTED (1u << 16)
#define PROBE_TPMA_DECRYPT (1u << 17)
#define PROBE_TPMA_SIGN (1u << 18)

#define PROBE_TPM_GENERATED_VALUE 0xff544347u /* TPM_GENERATED_VALUE, "\xffTCG" */
#define PROBE_TPM_ST_ATTEST_QUOTE 0x8018

#define PROBE_TPM_HASH_MAX 64        /* sizeof(TPMU_HA) */
#define PROBE_TPM_NAME_MAX 66        /* nameAlg + digest (a handle Name is 4) */
#define PROBE_TPM_RSA_MAX_BYTES 512  /* RSA 4096 */
#define PROBE_TPM_ECC_MAX_BYTES 66   /* P-521 */
#define PROBE_TPM_PUBLIC_MAX 1024    /* cap on a TPMT_PUBLIC / TPM2B_PUBLIC input */
#define PROBE_TPM_ATTEST_MAX 1024    /* cap on a TPMS_ATTEST input (sizeof(TPMS_ATTEST) bound) */
#define PROBE_TPM_SIGNATURE_MAX 1024 /* cap on a TPMT_SIGNATURE input */
#define PROBE_TPM_PCR_BANKS_MAX 8    /* banks in one TPML_PCR_SELECTION */
#define PROBE_TPM_PCRS 24            /* PCRs 0-23 (a PC client TPM's) */

/* Digest size of a TPM hash algorithm, 0 if not one we know. */
size_t probe_tpm_hash_size(uint16_t alg);
/* "sha256", ... or NULL. */
const char *probe_tpm_hash_name(uint16_t alg);
/* The OpenSSL digest for a TPM hash algorithm, or NULL. */
const EVP_MD *probe_tpm_hash_md(uint16_t alg);
/* H_alg(data): @out gets probe_tpm_hash_size(alg) bytes. */
int probe_tpm_hash(uint16_t alg, const void *data, size_t len, uint8_t out[static PROBE_TPM_HASH_MAX]);

/* TPMT_PUBLIC of an RSA or ECC key. */
struct probe_tpm_public {
	uint16_t type;     /* PROBE_TPM_ALG_RSA or PROBE_TPM_ALG_ECC */
	uint16_t name_alg; /* a known hash (never NULL: the key has a Name) */
	uint32_t attributes;
	uint8_t auth_policy[PROBE_TPM_HASH_MAX];
	uint16_t auth_policy_len;
	uint16_t symmetric;   /* TPMT_SYM_DEF_OBJECT.algorithm */
	uint16_t sym_bits, sym_mode;
	uint16_t scheme;      /* RSASSA, RSAPSS, ECDSA or NULL */
	uint16_t scheme_hash; /* its hashAlg when scheme is not NULL */
	/* RSA */
	uint16_t key_bits;
	uint32_t exponent;    /* 0 means 65537 */
	uint8_t modulus[PROBE_TPM_RSA_MAX_BYTES];
	uint16_t modulus_len;
	/* ECC */
	uint16_t curve;
	uint16_t kdf, kdf_hash;
	uint8_t x[PROBE_TPM_ECC_MAX_BYTES], y[PROBE_TPM_ECC_MAX_BYTES];
	uint16_t x_len, y_len;
	/* nameAlg || H_nameAlg(the TPMT_PUBLIC bytes parsed) */
	uint8_t name[PROBE_TPM_NAME_MAX];
	uint16_t name_len;
};

/* A TPMT_PUBLIC filling exactly @len bytes. -EBADMSG (malformed), -EMSGSIZE
 * (a size over its cap or past the end), -EOPNOTSUPP (an algorithm we do not take). */
int probe_tpm_public_parse(const uint8_t *buf, size_t len, struct probe_tpm_public *ret, char *why, size_t why_size);
/* A TPM2B_PUBLIC (size, then exactly that TPMT_PUBLIC), as tpm2_createak -u writes it. */
int probe_tpm2b_public_parse(const uint8_t *buf, size_t len, struct probe_tpm_public *ret, char *why, size_t why_size);

/*
 * probe_tpm_ak_check() - the attestation key rules go-attestation applies
 * (attest/activation.go, checkAKParameters): fixedTPM, fixedParent,
 * sensitiveDataOrigin, restricted, sign and not decrypt; no symmetric
 * algorithm; a signing scheme that fits the key (RSASSA/RSAPSS for RSA,
 * ECDSA for ECC) with SHA-256 or stronger; nameAlg SHA-256 or stronger;
 * RSA of at least 2048 bits with a modulus of exactly keyBits, or ECC
 * NIST P-256/P-384/P-521 with coordinates of the curve's size.
 * Returns 0 or -EPERM with @why.
 */
int probe_tpm_ak_check(const struct probe_tpm_public *pub, char *why, size_t why_size);

/* The key as an OpenSSL public key (*ret owned by the caller: EVP_PKEY_free). */
int probe_tpm_public_to_pkey(const struct probe_tpm_public *pub, EVP_PKEY **ret, char *why, size_t why_size);

/* TPML_PCR_SELECTION: banks in the order the TPM lists them, a bitmask of
 * PCRs 0-23 per bank (bit n = PCR n). */
struct probe_pcr_selection {
	size_t n_banks;
	struct {
		uint16_t hash;
		uint32_t mask;
	} banks[PROBE_TPM_PCR_BANKS_MAX];
};

/* Exactly the same banks in the same order with the same PCRs. */
bool probe_pcr_selection_equal(const struct probe_pcr_selection *a, const struct probe_pcr_selection *b);
/* Bytes of the values the selection covers (each PCR's digest, in selection
 * order); 0 when a bank's hash is unknown. */
size_t probe_pcr_selection_values_size(const struct probe_pcr_selection *sel);
/* Parse "sha256:0,1,2,7" (one bank; tpm2-tools' form). */
int probe_pcr_selection_from_string(const char *s, struct probe_pcr_selection *ret);
/* Where PCR @pcr of bank @hash is in @values (laid out in @sel's order): 0 and
 * *ret_value, or -ENOENT when @sel does not cover it, -EMSGSIZE when @values_len is not
 * the selection's size. */
int probe_pcr_value_at(const struct probe_pcr_selection *sel, const uint8_t *values, size_t values_len,
		       uint16_t hash, unsigned pcr, const uint8_t **ret_value);

/* TPMS_ATTEST of a quote. */
struct probe_tpm_attest {
	uint32_t magic;
	uint16_t type;
	uint8_t qualified_signer[PROBE_TPM_NAME_MAX];
	uint16_t qualified_signer_len;
	uint8_t extra_data[PROBE_TPM_HASH_MAX];
	uint16_t extra_data_len;
	uint64_t clock;
	uint32_t reset_count, restart_count;
	uint8_t safe;
	uint64_t firmware_version;
	struct probe_pcr_selection pcr_select;
	uint8_t pcr_digest[PROBE_TPM_HASH_MAX];
	uint16_t pcr_digest_len;
};

/* A TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE filling exactly @len bytes;
 * -EBADMSG also for a wrong magic or another type. */
int probe_tpm_attest_parse(const uint8_t *buf, size_t len, struct probe_tpm_attest *ret, char *why, size_t why_size);

/* TPMT_SIGNATURE: RSASSA, RSAPSS (sig) or ECDSA (r, s). */
struct probe_tpm_signature {
	uint16_t alg;
	uint16_t hash;
	uint8_t sig[PROBE_TPM_RSA_MAX_BYTES];
	uint16_t sig_len;
	uint8_t r[PROBE_TPM_ECC_MAX_BYTES], s[PROBE_TPM_ECC_MAX_BYTES];
	uint16_t r_len, s_len;
};

int probe_tpm_signature_parse(const uint8_t *buf, size_t len, struct probe_tpm_signature *ret, char *why, size_t why_size);

/*
 * probe_tpm_signature_verify() - @sig over H_sig.hash(@msg) by @pub: the
 * scheme must fit the key type (and be the key's own scheme when the key
 * fixes one), the hash must be SHA-256 or stronger. -EPERM with @why when
 * the scheme is refused or the signature does not verify.
 */
int probe_tpm_signature_verify(const struct probe_tpm_public *pub, const struct probe_tpm_signature *sig,
			       const uint8_t *msg, size_t msg_len, char *why, size_t why_size);

/* H_@hash(@values) == @digest (by length and bytes), @values laid out in @sel's
 * order and exactly probe_pcr_selection_values_size(@sel) long. 0 or -EPERM/-EMSGSIZE. */
int probe_pcr_digest_check(const struct probe_pcr_selection *sel, const uint8_t *values, size_t values_len,
			   uint16_t hash, const uint8_t *digest, size_t digest_len, char *why, size_t why_size);

/* The named step of probe_quote_verify() that failed. */
enum probe_quote_step {
	PROBE_QUOTE_OK = 0,
	PROBE_QUOTE_AK_PARSE,     /* the AK public area does not parse */
	PROBE_QUOTE_AK_POLICY,    /* the AK breaks the AK rules */
	PROBE_QUOTE_AK_NAME,      /* not the pinned AK (its Name differs) */
	PROBE_QUOTE_MAGIC,        /* not TPM_GENERATED_VALUE: not made by a TPM */
	PROBE_QUOTE_TYPE,         /* not TPM_ST_ATTEST_QUOTE */
	PROBE_QUOTE_ATTEST_PARSE, /* the TPMS_ATTEST does not parse */
	PROBE_QUOTE_SIG_PARSE,    /* the TPMT_SIGNATURE does not parse */
	PROBE_QUOTE_SIGNATURE,    /* scheme refused or signature invalid */
	PROBE_QUOTE_EXTRA_DATA,   /* qualifying data is not what the host expects (replay) */
	PROBE_QUOTE_CLOCK_SAFE,   /* clockInfo.safe is not set */
	PROBE_QUOTE_SELECTION,    /* the PCRs quoted are not exactly those asked for */
	PROBE_QUOTE_PCR_DIGEST,   /* the PCR values do not hash to pcrDigest */
};

const char *probe_quote_step_name(enum probe_quote_step step);

struct probe_quote_input {
	const uint8_t *ak_public; /* TPM2B_PUBLIC (as tpm2_createak -u writes it) */
	size_t ak_public_len;
	const uint8_t *expected_ak_name; /* the pinned AK's Name, or NULL to skip */
	size_t expected_ak_name_len;
	const uint8_t *attest; /* TPMS_ATTEST (tpm2_quote -m) */
	size_t attest_len;
	const uint8_t *signature; /* TPMT_SIGNATURE (tpm2_quote -s) */
	size_t signature_len;
	const uint8_t *expected_extra_data;
	size_t expected_extra_data_len;
	const struct probe_pcr_selection *expected_selection;
	const uint8_t *pcr_values; /* in expected_selection's order (tpm2_pcrread -o) */
	size_t pcr_values_len;
};

/*
 * probe_quote_verify() - every check of a quote, in order: the AK parses
 * and passes probe_tpm_ak_check() (and is the pinned one when a Name is
 * given); the TPMS_ATTEST has the magic and the quote type and parses; the
 * signature parses and verifies under the AK; extraData equals the
 * expected data; clockInfo.safe is set; the selection is exactly the
 * expected one; the PCR values hash to pcrDigest.
 * Returns PROBE_QUOTE_OK, or the step that failed with @why. @ret_attest
 * (may be NULL) gets the parsed quote (clock, counters) when it parsed.
 */
enum probe_quote_step probe_quote_verify(const struct probe_quote_input *in, struct probe_tpm_attest *ret_attest,
					 char *why, size_t why_size);
