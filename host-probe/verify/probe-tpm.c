/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sc-openssl.h"
#include "probe-tpm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "sc-macro.h"
#include "sc-why.h"

/* fail(r, why, why_size, fmt, ...): the reason into @why, @r returned (common/sc-why.h). */
#define fail sc_why

/* A big-endian reader that never reads past its end. */
struct rd {
	const uint8_t *p;
	size_t left;
	const char *what; /* the field being read, for @why */
};

static int rd_u8(struct rd *r, uint8_t *v)
{
	if (r->left < 1)
		return -EMSGSIZE;
	*v = r->p[0];
	r->p++, r->left--;
	return 0;
}

static int rd_u16(struct rd *r, uint16_t *v)
{
	if (r->left < 2)
		return -EMSGSIZE;
	*v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2, r->left -= 2;
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
	if (r->left < 4)
		return -EMSGSIZE;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4, r->left -= 4;
	return 0;
}

static int rd_u64(struct rd *r, uint64_t *v)
{
	uint32_t hi, lo;
	if (r->left < 8)
		return -EMSGSIZE;
	(void)rd_u32(r, &hi);
	(void)rd_u32(r, &lo);
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* A TPM2B: 16-bit size, at most @cap bytes, copied into @out. */
static int rd_2b(struct rd *r, uint8_t *out, size_t cap, uint16_t *len)
{
	uint16_t n;
	if (rd_u16(r, &n) < 0)
		return -EMSGSIZE;
	if (n > cap || n > r->left)
		return -EMSGSIZE;
	memcpy(out, r->p, n);
	*len = n;
	r->p += n, r->left -= n;
	return 0;
}

#define READ(rd, fn, dst, name)                          \
	do {                                             \
		(rd)->what = (name);                     \
		if (fn((rd), (dst)) < 0)                 \
			return -EMSGSIZE;                \
	} while (0)
#define READ2B(rd, out, cap, len, name)                        \
	do {                                                   \
		(rd)->what = (name);                           \
		if (rd_2b((rd), (out), (cap), (len)) < 0)      \
			return -EMSGSIZE;                      \
	} while (0)

/* The TPM hash algorithms we know: one table for names, sizes and digests. */
static const struct {
	uint16_t alg;
	size_t size;
	const char *name;
	const EVP_MD *(*md)(void);
} hashes[] = {
	{ PROBE_TPM_ALG_SHA1, 20, "sha1", EVP_sha1 },
	{ PROBE_TPM_ALG_SHA256, 32, "sha256", EVP_sha256 },
	{ PROBE_TPM_ALG_SHA384, 48, "sha384", EVP_sha384 },
	{ PROBE_TPM_ALG_SHA512, 64, "sha512", EVP_sha512 },
};

static int hash_index(uint16_t alg)
{
	for (size_t i = 0; i < ELEMENTSOF(hashes); i++)
		if (hashes[i].alg == alg)
			return (int)i;
	return -1;
}

size_t probe_tpm_hash_size(uint16_t alg)
{
	int i = hash_index(alg);

	return i < 0 ? 0 : hashes[i].size;
}

const char *probe_tpm_hash_name(uint16_t alg)
{
	int i = hash_index(alg);

	return i < 0 ? NULL : hashes[i].name;
}

const EVP_MD *probe_tpm_hash_md(uint16_t alg)
{
	int i = hash_index(alg);

	return i < 0 ? NULL : hashes[i].md();
}

int probe_tpm_hash(uint16_t alg, const void *data, size_t len, uint8_t out[static PROBE_TPM_HASH_MAX])
{
	const EVP_MD *md = probe_tpm_hash_md(alg);
	unsigned n = 0;
	if (!md)
		return -EOPNOTSUPP;
	if (EVP_Digest(data, len, out, &n, md, NULL) != 1 || n != probe_tpm_hash_size(alg))
		return -EIO;
	return 0;
}

/* A hash strong enough to sign or name with. */
static bool hash_strong(uint16_t alg)
{
	return alg == PROBE_TPM_ALG_SHA256 || alg == PROBE_TPM_ALG_SHA384 || alg == PROBE_TPM_ALG_SHA512;
}

static size_t curve_bytes(uint16_t curve)
{
	switch (curve) {
	case PROBE_TPM_ECC_NIST_P256:
		return 32;
	case PROBE_TPM_ECC_NIST_P384:
		return 48;
	case PROBE_TPM_ECC_NIST_P521:
		return 66;
	default:
		return 0;
	}
}

static int parse_public(struct rd *r, struct probe_tpm_public *p, char *why, size_t why_size)
{
	READ(r, rd_u16, &p->type, "type");
	if (p->type != PROBE_TPM_ALG_RSA && p->type != PROBE_TPM_ALG_ECC)
		return fail(-EOPNOTSUPP, why, why_size, "TPMT_PUBLIC: type 0x%04x is neither RSA nor ECC", p->type);
	READ(r, rd_u16, &p->name_alg, "nameAlg");
	if (probe_tpm_hash_size(p->name_alg) == 0)
		return fail(-EOPNOTSUPP, why, why_size, "TPMT_PUBLIC: nameAlg 0x%04x unknown", p->name_alg);
	READ(r, rd_u32, &p->attributes, "objectAttributes");
	READ2B(r, p->auth_policy, PROBE_TPM_HASH_MAX, &p->auth_policy_len, "authPolicy");
	if (p->auth_policy_len != 0 && p->auth_policy_len != probe_tpm_hash_size(p->name_alg))
		return fail(-EBADMSG, why, why_size, "TPMT_PUBLIC: authPolicy of %u bytes for nameAlg %s",
			    p->auth_policy_len, probe_tpm_hash_name(p->name_alg));
	/* TPMT_SYM_DEF_OBJECT */
	READ(r, rd_u16, &p->symmetric, "symmetric");
	if (p->symmetric != PROBE_TPM_ALG_NULL) {
		READ(r, rd_u16, &p->sym_bits, "symmetric.keyBits");
		READ(r, rd_u16, &p->sym_mode, "symmetric.mode");
	}
	/* TPMT_RSA_SCHEME / TPMT_ECC_SCHEME: only the signing schemes an AK may
	 * have, whose details are one hashAlg. */
	READ(r, rd_u16, &p->scheme, "scheme");
	switch (p->scheme) {
	case PROBE_TPM_ALG_NULL:
		break;
	case PROBE_TPM_ALG_RSASSA:
	case PROBE_TPM_ALG_RSAPSS:
		if (p->type != PROBE_TPM_ALG_RSA)
			return fail(-EBADMSG, why, why_size, "TPMT_PUBLIC: an RSA scheme on an ECC key");
		READ(r, rd_u16, &p->scheme_hash, "scheme.hashAlg");
		break;
	case PROBE_TPM_ALG_ECDSA:
		if (p->type != PROBE_TPM_ALG_ECC)
			return fail(-EBADMSG, why, why_size, "TPMT_PUBLIC: ECDSA on an RSA key");
		READ(r, rd_u16, &p->scheme_hash, "scheme.hashAlg");
		break;
	default:
		return fail(-EOPNOTSUPP, why, why_size, "TPMT_PUBLIC: scheme 0x%04x not taken", p->scheme);
	}
	if (p->scheme != PROBE_TPM_ALG_NULL && probe_tpm_hash_size(p->scheme_hash) == 0)
		return fail(-EOPNOTSUPP, why, why_size, "TPMT_PUBLIC: scheme hash 0x%04x unknown", p->scheme_hash);

	if (p->type == PROBE_TPM_ALG_RSA) {
		READ(r, rd_u16, &p->key_bits, "keyBits");
		READ(r, rd_u32, &p->exponent, "exponent");
		READ2B(r, p->modulus, PROBE_TPM_RSA_MAX_BYTES, &p->modulus_len, "unique.rsa");
		if (p->key_bits == 0 || p->key_bits % 8 || p->key_bits / 8 != p->modulus_len)
			return fail(-EBADMSG, why, why_size, "TPMT_PUBLIC: a %u-byte modulus for keyBits %u",
				    p->modulus_len, p->key_bits);
		if (p->exponent == 1 || (p->exponent != 0 && !(p->exponent & 1)))
			return fail(-EBADMSG, why, why_size, "TPMT_PUBLIC: RSA exponent %u", p->exponent);
	} else {
		READ(r, rd_u16, &p->curve, "curveID");
		READ(r, rd_u16, &p->kdf, "kdf");
		if (p->kdf != PROBE_TPM_ALG_NULL)
			READ(r, rd_u16, &p->kdf_hash, "kdf.hashAlg");
		READ2B(r, p->x, PROBE_TPM_ECC_MAX_BYTES, &p->x_len, "unique.ecc.x");
		READ2B(r, p->y, PROBE_TPM_ECC_MAX_BYTES, &p->y_len, "unique.ecc.y");
		if (curve_bytes(p->curve) == 0)
			return fail(-EOPNOTSUPP, why, why_size, "TPMT_PUBLIC: curve 0x%04x not taken", p->curve);
		if (p->x_len != curve_bytes(p->curve) || p->y_len != curve_bytes(p->curve))
			return fail(-EBADMSG, why, why_size, "TPMT_PUBLIC: point of %u+%u bytes on a %zu-byte curve",
				    p->x_len, p->y_len, curve_bytes(p->curve));
	}
	return 0;
}

int probe_tpm_public_parse(const uint8_t *buf, size_t len, struct probe_tpm_public *ret, char *why, size_t why_size)
{
	struct probe_tpm_public p = {0};
	struct rd r = {buf, len, "type"};
	uint8_t h[PROBE_TPM_HASH_MAX];
	int k;

	if (!buf || len > PROBE_TPM_PUBLIC_MAX)
		return fail(-EMSGSIZE, why, why_size, "TPMT_PUBLIC: %zu bytes, over the %d cap", len, PROBE_TPM_PUBLIC_MAX);
	k = parse_public(&r, &p, why, why_size);
	if (k == -EMSGSIZE)
		return fail(k, why, why_size, "TPMT_PUBLIC: %s truncated or over its cap", r.what);
	if (k < 0)
		return k;
	if (r.left != 0)
		return fail(-EBADMSG, why, why_size, "TPMT_PUBLIC: %zu bytes after the structure", r.left);
	k = probe_tpm_hash(p.name_alg, buf, len, h);
	if (k < 0)
		return fail(k, why, why_size, "TPMT_PUBLIC: hashing the Name failed");
	p.name[0] = (uint8_t)(p.name_alg >> 8);
	p.name[1] = (uint8_t)p.name_alg;
	memcpy(p.name + 2, h, probe_tpm_hash_size(p.name_alg));
	p.name_len = (uint16_t)(2 + probe_tpm_hash_size(p.name_alg));
	*ret = p;
	return 0;
}

int probe_tpm2b_public_parse(const uint8_t *buf, size_t len, struct probe_tpm_public *ret, char *why, size_t why_size)
{
	size_t n;
	if (!buf || len < 2)
		return fail(-EMSGSIZE, why, why_size, "TPM2B_PUBLIC: truncated at size");
	n = (size_t)buf[0] << 8 | buf[1];
	if (n != len - 2)
		return fail(-EBADMSG, why, why_size, "TPM2B_PUBLIC: size %zu for %zu bytes", n, len - 2);
	return probe_tpm_public_parse(buf + 2, n, ret, why, why_size);
}

int probe_tpm_ak_check(const struct probe_tpm_public *p, char *why, size_t why_size)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} need[] = {
		{PROBE_TPMA_FIXED_TPM, "fixedTPM"},
		{PROBE_TPMA_FIXED_PARENT, "fixedParent"},
		{PROBE_TPMA_SENSITIVE_DATA_ORIGIN, "sensitiveDataOrigin"},
		{PROBE_TPMA_RESTRICTED, "restricted"},
		{PROBE_TPMA_SIGN, "sign"},
	};
	for (size_t i = 0; i < ELEMENTSOF(need); i++)
		if (!(p->attributes & need[i].bit))
			return fail(-EPERM, why, why_size, "AK: %s not set (attributes 0x%08x)", need[i].name, p->attributes);
	if (p->attributes & PROBE_TPMA_DECRYPT)
		return fail(-EPERM, why, why_size, "AK: decrypt set: not a signing-only key");
	if (p->symmetric != PROBE_TPM_ALG_NULL)
		return fail(-EPERM, why, why_size, "AK: a symmetric algorithm on a signing key");
	if (!hash_strong(p->name_alg))
		return fail(-EPERM, why, why_size, "AK: nameAlg %s is weaker than sha256",
			    probe_tpm_hash_name(p->name_alg));
	if (p->scheme == PROBE_TPM_ALG_NULL)
		return fail(-EPERM, why, why_size, "AK: a restricted signing key without a scheme");
	if (!hash_strong(p->scheme_hash))
		return fail(-EPERM, why, why_size, "AK: scheme hash %s is weaker than sha256",
			    probe_tpm_hash_name(p->scheme_hash));
	if (p->type == PROBE_TPM_ALG_RSA) {
		if (p->key_bits < 2048)
			return fail(-EPERM, why, why_size, "AK: RSA %u bits, under 2048", p->key_bits);
		if (p->scheme != PROBE_TPM_ALG_RSASSA && p->scheme != PROBE_TPM_ALG_RSAPSS)
			return fail(-EPERM, why, why_size, "AK: RSA key with scheme 0x%04x", p->scheme);
	} else {
		if (curve_bytes(p->curve) == 0)
			return fail(-EPERM, why, why_size, "AK: curve 0x%04x is not NIST P-256 or larger", p->curve);
		if (p->scheme != PROBE_TPM_ALG_ECDSA)
			return fail(-EPERM, why, why_size, "AK: ECC key with scheme 0x%04x", p->scheme);
	}
	return 0;
}

int probe_tpm_public_to_pkey(const struct probe_tpm_public *p, EVP_PKEY **ret, char *why, size_t why_size)
{
	_cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	_cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	_cleanup_(BIGNUM_freep) BIGNUM *n = NULL;
	_cleanup_(BIGNUM_freep) BIGNUM *e = NULL;
	/* OSSL_PARAM_BLD keeps a pointer to the point until _to_param(). */
	uint8_t point[1 + 2 * PROBE_TPM_ECC_MAX_BYTES];
	EVP_PKEY *key = NULL;
	const char *type;

	if (!bld)
		return fail(-ENOMEM, why, why_size, "out of memory");
	if (p->type == PROBE_TPM_ALG_RSA) {
		type = "RSA";
		n = BN_bin2bn(p->modulus, p->modulus_len, NULL);
		e = BN_new();
		if (!n || !e || !BN_set_word(e, p->exponent ? p->exponent : 65537) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			return fail(-ENOMEM, why, why_size, "out of memory");
	} else {
		const char *group = p->curve == PROBE_TPM_ECC_NIST_P256 ? "prime256v1"
				    : p->curve == PROBE_TPM_ECC_NIST_P384 ? "secp384r1"
				    : p->curve == PROBE_TPM_ECC_NIST_P521 ? "secp521r1"
									  : NULL;
		size_t cb = curve_bytes(p->curve);
		if (!group || p->x_len != cb || p->y_len != cb)
			return fail(-EOPNOTSUPP, why, why_size, "AK: curve 0x%04x not taken", p->curve);
		type = "EC";
		point[0] = 0x04;
		memcpy(point + 1, p->x, cb);
		memcpy(point + 1 + cb, p->y, cb);
		if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * cb))
			return fail(-ENOMEM, why, why_size, "out of memory");
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (!params || !ctx)
		return fail(-ENOMEM, why, why_size, "out of memory");
	if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1 || !key)
		return fail(-EBADMSG, why, why_size, "AK: OpenSSL refuses the %s key", type);
	if (p->type == PROBE_TPM_ALG_ECC) {
		/* The point must be on the curve. */
		_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
		if (!c || EVP_PKEY_public_check(c) != 1) {
			EVP_PKEY_free(key);
			return fail(-EBADMSG, why, why_size, "AK: the ECC point is not on the curve");
		}
	}
	*ret = key;
	return 0;
}

static int parse_selection(struct rd *r, struct probe_pcr_selection *sel, char *why, size_t why_size)
{
	uint32_t count;
	READ(r, rd_u32, &count, "pcrSelect.count");
	if (count > PROBE_TPM_PCR_BANKS_MAX)
		return fail(-EBADMSG, why, why_size, "TPML_PCR_SELECTION: %u banks, over %d", count,
			    PROBE_TPM_PCR_BANKS_MAX);
	sel->n_banks = count;
	for (uint32_t i = 0; i < count; i++) {
		uint8_t size, b;
		uint32_t mask = 0;
		READ(r, rd_u16, &sel->banks[i].hash, "pcrSelect.hash");
		if (probe_tpm_hash_size(sel->banks[i].hash) == 0)
			return fail(-EOPNOTSUPP, why, why_size, "TPML_PCR_SELECTION: bank 0x%04x unknown",
				    sel->banks[i].hash);
		for (uint32_t j = 0; j < i; j++)
			if (sel->banks[j].hash == sel->banks[i].hash)
				return fail(-EBADMSG, why, why_size, "TPML_PCR_SELECTION: bank %s twice",
					    probe_tpm_hash_name(sel->banks[i].hash));
		READ(r, rd_u8, &size, "pcrSelect.sizeofSelect");
		if (size > 4)
			return fail(-EBADMSG, why, why_size, "TPMS_PCR_SELECTION: sizeofSelect %u", size);
		for (uint8_t j = 0; j < size; j++) {
			READ(r, rd_u8, &b, "pcrSelect.pcrSelect");
			mask |= (uint32_t)b << (8 * j);
		}
		if (mask >> PROBE_TPM_PCRS)
			return fail(-EBADMSG, why, why_size, "TPMS_PCR_SELECTION: a PCR past %d", PROBE_TPM_PCRS - 1);
		sel->banks[i].mask = mask;
	}
	return 0;
}

static int parse_attest(struct rd *r, struct probe_tpm_attest *a, char *why, size_t why_size)
{
	READ(r, rd_u32, &a->magic, "magic");
	if (a->magic != PROBE_TPM_GENERATED_VALUE)
		return fail(-EBADMSG, why, why_size, "TPMS_ATTEST: magic 0x%08x is not TPM_GENERATED_VALUE", a->magic);
	READ(r, rd_u16, &a->type, "type");
	if (a->type != PROBE_TPM_ST_ATTEST_QUOTE)
		return fail(-EBADMSG, why, why_size, "TPMS_ATTEST: type 0x%04x is not TPM_ST_ATTEST_QUOTE", a->type);
	READ2B(r, a->qualified_signer, PROBE_TPM_NAME_MAX, &a->qualified_signer_len, "qualifiedSigner");
	READ2B(r, a->extra_data, PROBE_TPM_HASH_MAX, &a->extra_data_len, "extraData");
	READ(r, rd_u64, &a->clock, "clockInfo.clock");
	READ(r, rd_u32, &a->reset_count, "clockInfo.resetCount");
	READ(r, rd_u32, &a->restart_count, "clockInfo.restartCount");
	READ(r, rd_u8, &a->safe, "clockInfo.safe");
	if (a->safe > 1)
		return fail(-EBADMSG, why, why_size, "TPMS_CLOCK_INFO: safe is %u, not a TPMI_YES_NO", a->safe);
	READ(r, rd_u64, &a->firmware_version, "firmwareVersion");
	int k = parse_selection(r, &a->pcr_select, why, why_size);
	if (k < 0)
		return k;
	READ2B(r, a->pcr_digest, PROBE_TPM_HASH_MAX, &a->pcr_digest_len, "pcrDigest");
	return 0;
}

int probe_tpm_attest_parse(const uint8_t *buf, size_t len, struct probe_tpm_attest *ret, char *why, size_t why_size)
{
	struct probe_tpm_attest a = {0};
	struct rd r = {buf, len, "magic"};
	int k;
	if (!buf || len > PROBE_TPM_ATTEST_MAX)
		return fail(-EMSGSIZE, why, why_size, "TPMS_ATTEST: %zu bytes, over the %d cap", len, PROBE_TPM_ATTEST_MAX);
	k = parse_attest(&r, &a, why, why_size);
	if (k == -EMSGSIZE)
		return fail(k, why, why_size, "TPMS_ATTEST: %s truncated or over its cap", r.what);
	if (k < 0)
		return k;
	if (r.left != 0)
		return fail(-EBADMSG, why, why_size, "TPMS_ATTEST: %zu bytes after the structure", r.left);
	*ret = a;
	return 0;
}

static int parse_signature(struct rd *r, struct probe_tpm_signature *s, char *why, size_t why_size)
{
	READ(r, rd_u16, &s->alg, "sigAlg");
	switch (s->alg) {
	case PROBE_TPM_ALG_RSASSA:
	case PROBE_TPM_ALG_RSAPSS:
		READ(r, rd_u16, &s->hash, "hash");
		READ2B(r, s->sig, PROBE_TPM_RSA_MAX_BYTES, &s->sig_len, "sig");
		break;
	case PROBE_TPM_ALG_ECDSA:
		READ(r, rd_u16, &s->hash, "hash");
		READ2B(r, s->r, PROBE_TPM_ECC_MAX_BYTES, &s->r_len, "signatureR");
		READ2B(r, s->s, PROBE_TPM_ECC_MAX_BYTES, &s->s_len, "signatureS");
		break;
	default:
		return fail(-EOPNOTSUPP, why, why_size, "TPMT_SIGNATURE: sigAlg 0x%04x not taken", s->alg);
	}
	if (probe_tpm_hash_size(s->hash) == 0)
		return fail(-EOPNOTSUPP, why, why_size, "TPMT_SIGNATURE: hash 0x%04x unknown", s->hash);
	return 0;
}

int probe_tpm_signature_parse(const uint8_t *buf, size_t len, struct probe_tpm_signature *ret, char *why, size_t why_size)
{
	struct probe_tpm_signature s = {0};
	struct rd r = {buf, len, "sigAlg"};
	int k;
	if (!buf || len > PROBE_TPM_SIGNATURE_MAX)
		return fail(-EMSGSIZE, why, why_size, "TPMT_SIGNATURE: %zu bytes, over the %d cap", len,
			    PROBE_TPM_SIGNATURE_MAX);
	k = parse_signature(&r, &s, why, why_size);
	if (k == -EMSGSIZE)
		return fail(k, why, why_size, "TPMT_SIGNATURE: %s truncated or over its cap", r.what);
	if (k < 0)
		return k;
	if (r.left != 0)
		return fail(-EBADMSG, why, why_size, "TPMT_SIGNATURE: %zu bytes after the structure", r.left);
	*ret = s;
	return 0;
}

int probe_tpm_signature_verify(const struct probe_tpm_public *pub, const struct probe_tpm_signature *sig,
			       const uint8_t *msg, size_t msg_len, char *why, size_t why_size)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
	_cleanup_free_ uint8_t *der = NULL;
	const uint8_t *s;
	size_t s_len;
	EVP_PKEY_CTX *pctx = NULL;
	int k;

	if (pub->type == PROBE_TPM_ALG_RSA ? sig->alg != PROBE_TPM_ALG_RSASSA && sig->alg != PROBE_TPM_ALG_RSAPSS
					   : sig->alg != PROBE_TPM_ALG_ECDSA)
		return fail(-EPERM, why, why_size, "signature scheme 0x%04x does not fit a %s key", sig->alg,
			    pub->type == PROBE_TPM_ALG_RSA ? "RSA" : "ECC");
	if (pub->scheme != PROBE_TPM_ALG_NULL && (sig->alg != pub->scheme || sig->hash != pub->scheme_hash))
		return fail(-EPERM, why, why_size, "signature scheme 0x%04x/%s is not the key's 0x%04x/%s", sig->alg,
			    probe_tpm_hash_name(sig->hash), pub->scheme, probe_tpm_hash_name(pub->scheme_hash));
	if (!hash_strong(sig->hash))
		return fail(-EPERM, why, why_size, "signature hash %s is weaker than sha256", probe_tpm_hash_name(sig->hash));
	k = probe_tpm_public_to_pkey(pub, &key, why, why_size);
	if (k < 0)
		return k;

	if (sig->alg == PROBE_TPM_ALG_ECDSA) {
		_cleanup_(ECDSA_SIG_freep) ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = BN_bin2bn(sig->r, sig->r_len, NULL);
		BIGNUM *sv = BN_bin2bn(sig->s, sig->s_len, NULL);
		unsigned char *p = NULL;
		int n;
		if (!es || !r || !sv || ECDSA_SIG_set0(es, r, sv) != 1) {
			BN_free(r);
			BN_free(sv);
			return fail(-ENOMEM, why, why_size, "out of memory");
		}
		n = i2d_ECDSA_SIG(es, &p);
		if (n <= 0)
			return fail(-ENOMEM, why, why_size, "out of memory");
		der = p;
		s = der;
		s_len = (size_t)n;
	} else {
		if (sig->sig_len != pub->modulus_len)
			return fail(-EPERM, why, why_size, "RSA signature of %u bytes for a %u-byte modulus", sig->sig_len,
				    pub->modulus_len);
		s = sig->sig;
		s_len = sig->sig_len;
	}

	md = EVP_MD_CTX_new();
	if (!md)
		return fail(-ENOMEM, why, why_size, "out of memory");
	if (EVP_DigestVerifyInit(md, &pctx, probe_tpm_hash_md(sig->hash), NULL, key) != 1)
		return fail(-EIO, why, why_size, "OpenSSL: cannot set up verification");
	if (sig->alg == PROBE_TPM_ALG_RSAPSS) {
		/* The TPM salts with the largest length that fits (or the hash
		 * length in FIPS mode): let OpenSSL take it from the signature. */
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1)
			return fail(-EIO, why, why_size, "OpenSSL: cannot set PSS padding");
	} else if (sig->alg == PROBE_TPM_ALG_RSASSA) {
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
			return fail(-EIO, why, why_size, "OpenSSL: cannot set PKCS#1 v1.5 padding");
	}
	if (EVP_DigestVerify(md, s, s_len, msg, msg_len) != 1)
		return fail(-EPERM, why, why_size, "the %s signature does not verify under the AK",
			    sig->alg == PROBE_TPM_ALG_ECDSA ? "ECDSA" : sig->alg == PROBE_TPM_ALG_RSAPSS ? "RSAPSS" : "RSASSA");
	return 0;
}

bool probe_pcr_selection_equal(const struct probe_pcr_selection *a, const struct probe_pcr_selection *b)
{
	if (a->n_banks != b->n_banks)
		return false;
	for (size_t i = 0; i < a->n_banks; i++)
		if (a->banks[i].hash != b->banks[i].hash || a->banks[i].mask != b->banks[i].mask)
			return false;
	return true;
}

size_t probe_pcr_selection_values_size(const struct probe_pcr_selection *sel)
{
	size_t n = 0;
	for (size_t i = 0; i < sel->n_banks && i < PROBE_TPM_PCR_BANKS_MAX; i++) {
		size_t h = probe_tpm_hash_size(sel->banks[i].hash);
		if (h == 0)
			return 0;
		n += h * (size_t)__builtin_popcount(sel->banks[i].mask);
	}
	return n;
}

int probe_pcr_selection_from_string(const char *s, struct probe_pcr_selection *ret)
{
	struct probe_pcr_selection sel = {0};
	const char *colon = s ? strchr(s, ':') : NULL;
	uint16_t hash = 0;
	if (!colon)
		return -EINVAL;
	for (uint16_t a = 0; a < 0x20; a++) {
		const char *n = probe_tpm_hash_name(a);
		if (n && strlen(n) == (size_t)(colon - s) && strncmp(n, s, (size_t)(colon - s)) == 0)
			hash = a;
	}
	if (hash == 0)
		return -EINVAL;
	for (const char *p = colon + 1;;) {
		char *end;
		unsigned long v;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = strtoul(p, &end, 10);
		if (v >= PROBE_TPM_PCRS || (sel.banks[0].mask & (1u << v)))
			return -EINVAL;
		sel.banks[0].mask |= 1u << v;
		if (*end == '\0')
			break;
		if (*end != ',')
			return -EINVAL;
		p = end + 1;
	}
	sel.n_banks = 1;
	sel.banks[0].hash = hash;
	*ret = sel;
	return 0;
}

int probe_pcr_value_at(const struct probe_pcr_selection *sel, const uint8_t *values, size_t values_len,
		       uint16_t hash, unsigned pcr, const uint8_t **ret_value)
{
	size_t off = 0, total = probe_pcr_selection_values_size(sel);
	if (total == 0 || values_len != total)
		return -EMSGSIZE;
	for (size_t i = 0; i < sel->n_banks; i++) {
		size_t h = probe_tpm_hash_size(sel->banks[i].hash);
		for (unsigned j = 0; j < PROBE_TPM_PCRS; j++) {
			if (!(sel->banks[i].mask & (1u << j)))
				continue;
			if (sel->banks[i].hash == hash && j == pcr) {
				*ret_value = values + off;
				return 0;
			}
			off += h;
		}
	}
	return -ENOENT;
}

int probe_pcr_digest_check(const struct probe_pcr_selection *sel, const uint8_t *values, size_t values_len,
			   uint16_t hash, const uint8_t *digest, size_t digest_len, char *why, size_t why_size)
{
	uint8_t h[PROBE_TPM_HASH_MAX];
	size_t want = probe_pcr_selection_values_size(sel);
	if (want == 0 || values_len != want)
		return fail(-EMSGSIZE, why, why_size, "%zu bytes of PCR values for a selection of %zu", values_len, want);
	if (probe_tpm_hash(hash, values, values_len, h) < 0)
		return fail(-EOPNOTSUPP, why, why_size, "pcrDigest hash 0x%04x unknown", hash);
	if (digest_len != probe_tpm_hash_size(hash) || memcmp(h, digest, digest_len) != 0)
		return fail(-EPERM, why, why_size, "the PCR values do not hash (%s) to the quote's pcrDigest",
			    probe_tpm_hash_name(hash));
	return 0;
}

const char *probe_quote_step_name(enum probe_quote_step step)
{
	static const char *const names[] = {
		[PROBE_QUOTE_OK] = "ok",
		[PROBE_QUOTE_AK_PARSE] = "ak-parse",
		[PROBE_QUOTE_AK_POLICY] = "ak-policy",
		[PROBE_QUOTE_AK_NAME] = "ak-name",
		[PROBE_QUOTE_MAGIC] = "magic",
		[PROBE_QUOTE_TYPE] = "type",
		[PROBE_QUOTE_ATTEST_PARSE] = "attest-parse",
		[PROBE_QUOTE_SIG_PARSE] = "signature-parse",
		[PROBE_QUOTE_SIGNATURE] = "signature",
		[PROBE_QUOTE_EXTRA_DATA] = "extra-data",
		[PROBE_QUOTE_CLOCK_SAFE] = "clock-safe",
		[PROBE_QUOTE_SELECTION] = "pcr-selection",
		[PROBE_QUOTE_PCR_DIGEST] = "pcr-digest",
	};
	return (unsigned)step < ELEMENTSOF(names) && names[step] ? names[step] : "unknown";
}

static bool equal_ct(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	uint8_t d = 0;
	if (a_len != b_len)
		return false;
	for (size_t i = 0; i < a_len; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

enum probe_quote_step probe_quote_verify(const struct probe_quote_input *in, struct probe_tpm_attest *ret_attest,
					 char *why, size_t why_size)
{
	struct probe_tpm_public ak;
	struct probe_tpm_attest a;
	struct probe_tpm_signature sig;
	uint16_t type;

	if (probe_tpm2b_public_parse(in->ak_public, in->ak_public_len, &ak, why, why_size) < 0)
		return PROBE_QUOTE_AK_PARSE;
	if (probe_tpm_ak_check(&ak, why, why_size) < 0)
		return PROBE_QUOTE_AK_POLICY;
	if (in->expected_ak_name && !equal_ct(ak.name, ak.name_len, in->expected_ak_name, in->expected_ak_name_len)) {
		fail(0, why, why_size, "the AK's Name is not the pinned one");
		return PROBE_QUOTE_AK_NAME;
	}
	if (!in->attest || in->attest_len < 6) {
		fail(0, why, why_size, "TPMS_ATTEST: %s truncated or over its cap", in->attest && in->attest_len >= 4 ? "type" : "magic");
		return PROBE_QUOTE_ATTEST_PARSE;
	}
	if (((uint32_t)in->attest[0] << 24 | (uint32_t)in->attest[1] << 16 | (uint32_t)in->attest[2] << 8 |
	     in->attest[3]) != PROBE_TPM_GENERATED_VALUE) {
		fail(0, why, why_size, "TPMS_ATTEST: magic is not TPM_GENERATED_VALUE");
		return PROBE_QUOTE_MAGIC;
	}
	type = (uint16_t)(in->attest[4] << 8 | in->attest[5]);
	if (type != PROBE_TPM_ST_ATTEST_QUOTE) {
		fail(0, why, why_size, "TPMS_ATTEST: type 0x%04x is not TPM_ST_ATTEST_QUOTE", type);
		return PROBE_QUOTE_TYPE;
	}
	if (probe_tpm_attest_parse(in->attest, in->attest_len, &a, why, why_size) < 0)
		return PROBE_QUOTE_ATTEST_PARSE;
	if (ret_attest)
		*ret_attest = a;
	if (probe_tpm_signature_parse(in->signature, in->signature_len, &sig, why, why_size) < 0)
		return PROBE_QUOTE_SIG_PARSE;
	if (probe_tpm_signature_verify(&ak, &sig, in->attest, in->attest_len, why, why_size) < 0)
		return PROBE_QUOTE_SIGNATURE;
	if (!in->expected_extra_data ||
	    !equal_ct(a.extra_data, a.extra_data_len, in->expected_extra_data, in->expected_extra_data_len)) {
		fail(0, why, why_size, "the quote's qualifying data (%u bytes) is not the expected one", a.extra_data_len);
		return PROBE_QUOTE_EXTRA_DATA;
	}
	if (a.safe != 1) {
		fail(0, why, why_size, "clockInfo.safe is not set: the TPM clock may have gone back");
		return PROBE_QUOTE_CLOCK_SAFE;
	}
	if (!in->expected_selection || !probe_pcr_selection_equal(&a.pcr_select, in->expected_selection)) {
		fail(0, why, why_size, "the quoted PCR selection is not the one asked for");
		return PROBE_QUOTE_SELECTION;
	}
	/* The TPM hashes the PCR values with the signing scheme's hash. */
	if (probe_pcr_digest_check(&a.pcr_select, in->pcr_values, in->pcr_values_len, sig.hash, a.pcr_digest,
				   a.pcr_digest_len, why, why_size) < 0)
		return PROBE_QUOTE_PCR_DIGEST;
	return PROBE_QUOTE_OK;
}
