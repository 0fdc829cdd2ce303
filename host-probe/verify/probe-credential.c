/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "sc-openssl.h"
#include "probe-credential.h"
#include "probe-evidence.h"
#include "sc-base64.h"
#include "sc-digest.h"
#include "sc-fileio.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-why.h"
#include "sc-wire.h"

#define PROBE_TPM_ALG_AES 0x0006
#define PROBE_TPM_ALG_CFB 0x0043
#define PROBE_TPMA_ADMIN_WITH_POLICY (1u << 7)

/* fail(r, why, why_size, fmt, ...): the reason into @why, @r returned (common/sc-why.h). */
#define fail sc_why

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int probe_kdfa(uint16_t hash, const uint8_t *key, size_t key_len, const char *label, const uint8_t *u, size_t u_len,
	       const uint8_t *v, size_t v_len, unsigned bits, uint8_t *out)
{
	const EVP_MD *md = probe_tpm_hash_md(hash);
	size_t want = bits / 8, got = 0, hlen = probe_tpm_hash_size(hash), label_len = strlen(label) + 1, n;
	uint8_t msg[4 + 32 + 2 * PROBE_TPM_NAME_MAX + 4];

	if (!md || bits == 0 || bits % 8 || bits > 1024 || key_len > INT32_MAX || label_len > 32 ||
	    u_len > PROBE_TPM_NAME_MAX || v_len > PROBE_TPM_NAME_MAX)
		return -EINVAL;
	/* [i]32 || label (with its NUL) || contextU || contextV || [bits]32 */
	n = 4;
	memcpy(msg + n, label, label_len);
	n += label_len;
	if (u_len)
		memcpy(msg + n, u, u_len);
	n += u_len;
	if (v_len)
		memcpy(msg + n, v, v_len);
	n += v_len;
	put_u32(msg + n, bits);
	n += 4;
	for (uint32_t i = 1; got < want; i++) {
		uint8_t block[PROBE_TPM_HASH_MAX];
		unsigned bl = 0;
		size_t take = want - got < hlen ? want - got : hlen;

		put_u32(msg, i);
		if (!HMAC(md, key, (int)key_len, msg, n, block, &bl) || bl != hlen)
			return -EIO;
		memcpy(out + got, block, take);
		got += take;
		OPENSSL_cleanse(block, sizeof(block));
	}
	return 0;
}

static const EVP_CIPHER *ek_cipher(const struct probe_tpm_public *ek)
{
	if (ek->symmetric != PROBE_TPM_ALG_AES || ek->sym_mode != PROBE_TPM_ALG_CFB)
		return NULL;
	switch (ek->sym_bits) {
	case 128:
		return EVP_aes_128_cfb128();
	case 192:
		return EVP_aes_192_cfb128();
	case 256:
		return EVP_aes_256_cfb128();
	default:
		return NULL;
	}
}

int probe_credential_wrap(const struct probe_tpm_public *ek, const uint8_t *seed, size_t seed_len,
			  const uint8_t *name, size_t name_len, const uint8_t *secret, size_t secret_len,
			  uint8_t blob[static SC_CREDENTIAL_BLOB_MAX], size_t *blob_len, char *why, size_t why_size)
{
	_cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *c = NULL;
	const EVP_CIPHER *cipher = ek_cipher(ek);
	size_t hlen = probe_tpm_hash_size(ek->name_alg);
	uint8_t sym_key[32], hmac_key[PROBE_TPM_HASH_MAX], plain[2 + PROBE_TPM_HASH_MAX], iv[16] = { 0 };
	uint8_t *enc, *outer;
	size_t enc_len = 2 + secret_len, total;
	unsigned n = 0;
	int len1 = 0, len2 = 0, r;

	if (!cipher || hlen == 0)
		return fail(-EOPNOTSUPP, why, why_size, "the EK's symmetric algorithm is not AES-CFB");
	if (secret_len == 0 || secret_len > hlen || secret_len > PROBE_TPM_HASH_MAX)
		return fail(-EINVAL, why, why_size, "a credential secret of %zu bytes", secret_len);
	if (!name || name_len < 2 || name_len > PROBE_TPM_NAME_MAX)
		return fail(-EINVAL, why, why_size, "an AK Name of %zu bytes", name_len);
	total = 2 + (2 + hlen) + enc_len;
	if (total > SC_CREDENTIAL_BLOB_MAX)
		return fail(-EMSGSIZE, why, why_size, "the credential would be %zu bytes", total);

	r = probe_kdfa(ek->name_alg, seed, seed_len, "STORAGE", name, name_len, NULL, 0, ek->sym_bits, sym_key);
	if (r == 0)
		r = probe_kdfa(ek->name_alg, seed, seed_len, "INTEGRITY", NULL, 0, NULL, 0, (unsigned)(8 * hlen), hmac_key);
	if (r < 0)
		return fail(r, why, why_size, "KDFa failed");

	/* TPM2B_DIGEST(secret), encrypted in place into the blob after the outer HMAC. */
	plain[0] = (uint8_t)(secret_len >> 8);
	plain[1] = (uint8_t)secret_len;
	memcpy(plain + 2, secret, secret_len);
	blob[0] = (uint8_t)((total - 2) >> 8);
	blob[1] = (uint8_t)(total - 2);
	blob[2] = (uint8_t)(hlen >> 8);
	blob[3] = (uint8_t)hlen;
	outer = blob + 4;
	enc = outer + hlen;
	c = EVP_CIPHER_CTX_new();
	if (!c || EVP_EncryptInit_ex(c, cipher, NULL, sym_key, iv) != 1 ||
	    EVP_EncryptUpdate(c, enc, &len1, plain, (int)enc_len) != 1 || EVP_EncryptFinal_ex(c, enc + len1, &len2) != 1 ||
	    (size_t)(len1 + len2) != enc_len)
		r = fail(-EIO, why, why_size, "AES-CFB failed");
	else {
		uint8_t msg[SC_CREDENTIAL_BLOB_MAX + PROBE_TPM_NAME_MAX];

		memcpy(msg, enc, enc_len);
		memcpy(msg + enc_len, name, name_len);
		if (!HMAC(probe_tpm_hash_md(ek->name_alg), hmac_key, (int)hlen, msg, enc_len + name_len, outer, &n) ||
		    n != hlen)
			r = fail(-EIO, why, why_size, "the outer HMAC failed");
	}
	OPENSSL_cleanse(sym_key, sizeof(sym_key));
	OPENSSL_cleanse(hmac_key, sizeof(hmac_key));
	OPENSSL_cleanse(plain, sizeof(plain));
	if (r < 0)
		return r;
	*blob_len = total;
	return 0;
}

int probe_credential_seal_seed(const struct probe_tpm_public *ek, const uint8_t *seed, size_t seed_len,
			       uint8_t out[static SC_CREDENTIAL_SECRET_MAX], size_t *out_len, char *why, size_t why_size)
{
	static const char label[] = "IDENTITY"; /* with its NUL */
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	const EVP_MD *md = probe_tpm_hash_md(ek->name_alg);
	unsigned char *l;
	size_t n = SC_CREDENTIAL_SECRET_MAX - 2;
	int r;

	if (ek->type != PROBE_TPM_ALG_RSA || !md)
		return fail(-EOPNOTSUPP, why, why_size, "only an RSA EK takes a credential here");
	r = probe_tpm_public_to_pkey(ek, &key, why, why_size);
	if (r < 0)
		return r;
	ctx = EVP_PKEY_CTX_new(key, NULL);
	/* OpenSSL takes ownership of the label. */
	l = OPENSSL_memdup(label, sizeof(label));
	if (!ctx || !l || EVP_PKEY_encrypt_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1 ||
	    EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, (int)sizeof(label)) != 1) {
		OPENSSL_free(l);
		return fail(-EIO, why, why_size, "setting up RSA-OAEP failed");
	}
	if (EVP_PKEY_encrypt(ctx, out + 2, &n, seed, seed_len) != 1 || n > SC_CREDENTIAL_SECRET_MAX - 2)
		return fail(-EIO, why, why_size, "RSA-OAEP encryption of the seed failed");
	out[0] = (uint8_t)(n >> 8);
	out[1] = (uint8_t)n;
	*out_len = n + 2;
	return 0;
}

static int random_bytes(uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

int probe_credential_make(const struct probe_tpm_public *ek, const uint8_t *name, size_t name_len,
			  const uint8_t *secret, size_t secret_len, struct probe_credential *ret, char *why,
			  size_t why_size)
{
	uint8_t seed[PROBE_TPM_HASH_MAX];
	size_t seed_len = probe_tpm_hash_size(ek->name_alg);
	int r;

	if (seed_len == 0)
		return fail(-EOPNOTSUPP, why, why_size, "the EK's nameAlg is unknown");
	r = random_bytes(seed, seed_len);
	if (r < 0)
		return fail(r, why, why_size, "getrandom: %s", strerror(-r));
	r = probe_credential_wrap(ek, seed, seed_len, name, name_len, secret, secret_len, ret->blob, &ret->blob_len, why,
				  why_size);
	if (r >= 0)
		r = probe_credential_seal_seed(ek, seed, seed_len, ret->secret, &ret->secret_len, why, why_size);
	OPENSSL_cleanse(seed, sizeof(seed));
	return r;
}

int probe_ek_public_check(const struct probe_tpm_public *ek, char *why, size_t why_size)
{
	if (ek->type != PROBE_TPM_ALG_RSA)
		return fail(-EPERM, why, why_size, "EK: not an RSA key (only the RSA 2048 EK, template L-1, is taken)");
	if (ek->name_alg != PROBE_TPM_ALG_SHA256)
		return fail(-EPERM, why, why_size, "EK: nameAlg 0x%04x, not SHA-256", ek->name_alg);
	if (ek->attributes != SC_EK_ATTRIBUTES)
		return fail(-EPERM, why, why_size, "EK: attributes 0x%08x, not the EK template's 0x%08x", ek->attributes,
			    SC_EK_ATTRIBUTES);
	if (ek->auth_policy_len != 32 || memcmp(ek->auth_policy, SC_EK_POLICY_A, 32) != 0)
		return fail(-EPERM, why, why_size, "EK: authPolicy is not policy A (PolicySecret(TPM_RH_ENDORSEMENT))");
	if (ek->symmetric != PROBE_TPM_ALG_AES || ek->sym_bits != 128 || ek->sym_mode != PROBE_TPM_ALG_CFB)
		return fail(-EPERM, why, why_size, "EK: symmetric is not AES-128-CFB");
	if (ek->scheme != PROBE_TPM_ALG_NULL)
		return fail(-EPERM, why, why_size, "EK: a scheme on a restricted decryption key");
	if (ek->key_bits != 2048 || (ek->exponent != 0 && ek->exponent != 65537))
		return fail(-EPERM, why, why_size, "EK: RSA %u bits, exponent %u: not the EK template", ek->key_bits,
			    ek->exponent);
	return 0;
}

/* ---- the EK certificate ---- */

/* The TCG's OIDs: 2.23.133.* */
static bool tcg_oid(const ASN1_OBJECT *o)
{
	char text[80];
	int n = OBJ_obj2txt(text, sizeof(text), o, 1);

	return n > 0 && (size_t)n < sizeof(text) && strncmp(text, "2.23.133.", 9) == 0;
}

/*
 * EK certificates carry critical extensions OpenSSL may not know (a TPM's
 * subjectAltName is a directoryName of TCG attributes; some vendors mark
 * more). go-attestation drops the SAN from the unhandled critical ones; here
 * the leaf's unknown critical extensions are accepted when each is the SAN
 * or a TCG OID, and nothing else is forgiven, at any depth.
 */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
	X509 *cert;

	if (ok || X509_STORE_CTX_get_error(ctx) != X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION ||
	    X509_STORE_CTX_get_error_depth(ctx) != 0)
		return ok;
	cert = X509_STORE_CTX_get_current_cert(ctx);
	for (int i = 0; cert && i < X509_get_ext_count(cert); i++) {
		X509_EXTENSION *e = X509_get_ext(cert, i);
		const ASN1_OBJECT *o = X509_EXTENSION_get_object(e);

		if (!X509_EXTENSION_get_critical(e) || X509_supported_extension(e))
			continue;
		if (OBJ_obj2nid(o) != NID_subject_alt_name && !tcg_oid(o))
			return 0;
	}
	return 1;
}

static int load_bundle(X509_STORE *store, const char *path, char *why, size_t why_size)
{
	_cleanup_(BIO_freep) BIO *bio = BIO_new_file(path, "r");
	unsigned n = 0;

	if (!bio)
		return fail(-ENOENT, why, why_size, "%s: cannot be read", path);
	for (;;) {
		_cleanup_(X509_freep) X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

		if (!x)
			break;
		if (!X509_STORE_add_cert(store, x))
			return fail(-EIO, why, why_size, "%s: a certificate OpenSSL would not store", path);
		if (++n > 64)
			return fail(-EFBIG, why, why_size, "%s: more than 64 certificates", path);
	}
	if (n == 0)
		return fail(-EBADMSG, why, why_size, "%s: no PEM certificate in it", path);
	return 0;
}

/* 8-4-4-4-12 hex digits, as libvirt writes a domain's UUID. */
static bool uuid_shaped(const unsigned char *u)
{
	for (int i = 0; i < 36; i++)
		if (i == 8 || i == 13 || i == 18 || i == 23 ? u[i] != '-' : !isxdigit(u[i]))
			return false;
	return true;
}

int probe_ek_cert_check(const uint8_t *der, size_t der_len, const char *ca_bundle, const struct probe_tpm_public *ek,
			const char *expect_cn, char *issuer, size_t issuer_size, char *why, size_t why_size)
{
	_cleanup_(X509_freep) X509 *cert = NULL;
	_cleanup_(X509_STORE_freep) X509_STORE *store = NULL;
	_cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *ek_key = NULL;
	const unsigned char *p = der;
	EVP_PKEY *cert_key;
	int r;

	if (!der || der_len == 0 || der_len > SC_EVIDENCE_EK_CERT_MAX)
		return fail(-EBADMSG, why, why_size, "EK certificate: %zu bytes", der_len);
	cert = d2i_X509(NULL, &p, (long)der_len);
	if (!cert || p != der + der_len)
		return fail(-EBADMSG, why, why_size, "EK certificate: not one DER X.509 certificate");
	if (issuer && issuer_size) {
		char *s = X509_NAME_oneline(X509_get_issuer_name(cert), NULL, 0);

		snprintf(issuer, issuer_size, "%s", s ? s : "?");
		OPENSSL_free(s);
	}
	/* The key first: a certificate for another key proves nothing, whoever signed it. */
	r = probe_tpm_public_to_pkey(ek, &ek_key, why, why_size);
	if (r < 0)
		return r;
	cert_key = X509_get0_pubkey(cert);
	if (!cert_key || EVP_PKEY_eq(cert_key, ek_key) != 1)
		return fail(-EPERM, why, why_size, "the EK certificate certifies another key than the EK the agent sent");
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (!store || !ctx)
		return fail(-ENOMEM, why, why_size, "out of memory");
	r = load_bundle(store, ca_bundle, why, why_size);
	if (r < 0)
		return r;
	/* Every certificate of the bundle is an anchor: an intermediate CA alone may be given. */
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT);
	X509_STORE_set_verify_cb(store, verify_cb);
	if (X509_STORE_CTX_init(ctx, store, cert, NULL) != 1)
		return fail(-ENOMEM, why, why_size, "out of memory");
	if (X509_verify_cert(ctx) != 1) {
		int err = X509_STORE_CTX_get_error(ctx);

		return fail(-EPERM, why, why_size, "the EK certificate does not chain to --tpm-ek-ca (%s: %s)", ca_bundle,
			    X509_verify_cert_error_string(err));
	}
	if (expect_cn) {
		/* One CN, exactly this VM's; the guest's own CN is never echoed (it reaches terminals). */
		X509_NAME *subject = X509_get_subject_name(cert);
		int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
		ASN1_STRING *v = i >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)) : NULL;
		size_t n = strlen(expect_cn), len = v ? (size_t)ASN1_STRING_length(v) : 0;
		const unsigned char *cn = v ? ASN1_STRING_get0_data(v) : NULL;
		bool ok = v && X509_NAME_get_index_by_NID(subject, NID_commonName, i) < 0;

		if (ok && n > 0 && expect_cn[n - 1] == ':')
			/* "NAME:": the VM's UUID is not known here (a socket directory's VM): the CN is NAME, a
			 * colon, then a UUID, parsed from the right so NAME is compared whole. */
			ok = len == n + 36 && memcmp(cn, expect_cn, n) == 0 && uuid_shaped(cn + n);
		else
			ok = ok && len == n && memcmp(cn, expect_cn, n) == 0;
		if (!ok)
			return fail(-EPERM, why, why_size,
				    "the EK certificate is not this VM's: its subject CN is not \"%.240s%s\" (another TPM under the same CA)",
				    expect_cn, n > 0 && expect_cn[n - 1] == ':' ? "<uuid>" : "");
	}
	return 0;
}

/* ---- the session's challenge ---- */

static int cred_fail(struct probe_credential_state *st, int r, const char *fmt, ...) _printf_(3, 4);
static int cred_fail(struct probe_credential_state *st, int r, const char *fmt, ...)
{
	va_list ap;

	st->status = PROBE_CRED_FAILED;
	va_start(ap, fmt);
	vsnprintf(st->why, sizeof(st->why), fmt, ap);
	va_end(ap);
	return r;
}

/* The EK document, strictly: known keys, the nonce, ek_public base64 and ek_cert base64 or null. */
static int parse_ek_doc(const void *doc_text, size_t len, const char *nonce, uint8_t **pub, size_t *pub_len,
			uint8_t **cert, size_t *cert_len, char *why, size_t why_size)
{
	static const char *const keys[] = { "schema", "nonce", "ek_public", "ek_cert" };
	_cleanup_json_ json_t *doc = NULL;
	const char *k;
	json_t *v;

	if (len > SC_WIRE_MAX_PAYLOAD || !sc_utf8_valid(doc_text, len))
		return fail(-EBADMSG, why, why_size, "not UTF-8");
	doc = json_loadb(doc_text, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(doc))
		return fail(-EBADMSG, why, why_size, "not a JSON object");
	json_object_foreach(doc, k, v) {
		bool known = false;

		for (size_t i = 0; i < ELEMENTSOF(keys); i++)
			known |= strcmp(k, keys[i]) == 0;
		if (!known)
			return fail(-EBADMSG, why, why_size, "an unknown key");
	}
	if (!sc_json_get_str(doc, "schema") || strcmp(sc_json_get_str(doc, "schema"), SC_EK_SCHEMA) != 0)
		return fail(-EBADMSG, why, why_size, "schema is not %s", SC_EK_SCHEMA);
	if (!sc_json_get_str(doc, "nonce") || strcmp(sc_json_get_str(doc, "nonce"), nonce) != 0)
		return fail(-EBADMSG, why, why_size, "it names another nonce");
	if (!sc_json_get_str(doc, "ek_public") || sc_base64_decode(sc_json_get_str(doc, "ek_public"), PROBE_TPM_PUBLIC_MAX, pub, pub_len) < 0)
		return fail(-EBADMSG, why, why_size, "ek_public is not base64 of at most %u bytes", PROBE_TPM_PUBLIC_MAX);
	v = json_object_get(doc, "ek_cert");
	if (!v || (!json_is_null(v) && !json_is_string(v)))
		return fail(-EBADMSG, why, why_size, "ek_cert is neither base64 nor null");
	if (json_is_string(v) && sc_base64_decode(json_string_value(v), SC_EVIDENCE_EK_CERT_MAX, cert, cert_len) < 0)
		return fail(-EBADMSG, why, why_size, "ek_cert is not base64 of at most %u bytes", SC_EVIDENCE_EK_CERT_MAX);
	return 0;
}

int probe_credential_challenge(const struct probe_credential_config *cfg, const char *nonce, json_t *evidence,
			       const void *ek_doc, size_t ek_len, struct probe_credential_state *st, char **ret,
			       size_t *ret_len)
{
	_cleanup_free_ uint8_t *ak_raw = NULL, *ek_raw = NULL, *cert = NULL;
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *blob_hex = NULL, *sec_hex = NULL;
	struct probe_tpm_public ak, ek;
	struct probe_credential cred;
	uint8_t secret[PROBE_CREDENTIAL_SECRET_LEN];
	size_t ak_len = 0, ek_raw_len = 0, cert_len = 0;
	char why[300], issuer[160] = "";
	char *text;
	int r;

	memset(st, 0, sizeof(*st));
	if (!cfg || !nonce || !sc_nonce_valid(nonce, strlen(nonce)))
		return cred_fail(st, -EINVAL, "no credential configuration or nonce");
	/* The AK of the evidence the quote is signed with. */
	if (!sc_json_get_str(evidence, "ak_public") ||
	    sc_base64_decode(sc_json_get_str(evidence, "ak_public"), PROBE_TPM_PUBLIC_MAX, &ak_raw, &ak_len) < 0 ||
	    probe_tpm2b_public_parse(ak_raw, ak_len, &ak, why, sizeof(why)) < 0)
		return cred_fail(st, -EBADMSG, "AK not bound to the EK: the evidence's ak_public does not parse");
	if (probe_tpm_ak_check(&ak, why, sizeof(why)) < 0)
		return cred_fail(st, -EPERM, "AK not bound to the EK: %s", why);
	/*
	 * Exactly the agent's template's attributes and no policy: with adminWithPolicy clear,
	 * TPM2_ActivateCredential needs the AK's authValue (ADMIN role), which a TPM has only for an
	 * object whose sensitive area it holds, not for a public-only copy of a software key
	 * (TPM2_LoadExternal); a policy would let such a copy be activated.
	 */
	if (ak.attributes != SC_AK_ATTRIBUTES || ak.auth_policy_len != 0)
		return cred_fail(st, -EPERM,
				 "AK not bound to the EK: attributes 0x%08x%s, not the AK template's 0x%08x without a policy",
				 ak.attributes, ak.auth_policy_len ? " with an authPolicy" : "", SC_AK_ATTRIBUTES);
	memcpy(st->ak_name, ak.name, ak.name_len);
	st->ak_name_len = ak.name_len;

	r = parse_ek_doc(ek_doc, ek_len, nonce, &ek_raw, &ek_raw_len, &cert, &cert_len, why, sizeof(why));
	if (r < 0)
		return cred_fail(st, r, "AK not bound to the EK: the agent's EK document: %s", why);
	r = probe_tpm2b_public_parse(ek_raw, ek_raw_len, &ek, why, sizeof(why));
	if (r < 0)
		return cred_fail(st, -EBADMSG, "AK not bound to the EK: the EK public area: %s", why);
	r = probe_ek_public_check(&ek, why, sizeof(why));
	if (r < 0)
		return cred_fail(st, r, "AK not bound to the EK: %s", why);

	/* The EK: the one the host recorded, or certified by a CA it trusts. */
	if (cfg->ek_public) {
		struct probe_tpm_public rec;

		if (probe_tpm2b_public_parse(cfg->ek_public, cfg->ek_public_len, &rec, why, sizeof(why)) < 0)
			return cred_fail(st, -EINVAL, "AK not bound to the EK: the recorded EK does not parse: %s", why);
		if (rec.name_len != ek.name_len || CRYPTO_memcmp(rec.name, ek.name, ek.name_len) != 0)
			return cred_fail(st, -EPERM, "AK not bound to the EK: the agent's EK is not the EK the host recorded");
		snprintf(st->ek_trust, sizeof(st->ek_trust), "the EK the host recorded");
	} else if (cfg->ek_ca_file) {
		if (!cert)
			return cred_fail(st, -EPERM, "AK not bound to the EK: the TPM has no EK certificate (NV 0x%08x)",
					 SC_EK_NV_INDEX_RSA);
		r = probe_ek_cert_check(cert, cert_len, cfg->ek_ca_file, &ek, cfg->ek_cert_cn, issuer, sizeof(issuer), why,
					sizeof(why));
		if (r < 0)
			return cred_fail(st, r, "AK not bound to the EK: %s", why);
		snprintf(st->ek_trust, sizeof(st->ek_trust), "the EK certified by %.150s", issuer);
	} else
		return cred_fail(st, -EPERM, "AK not bound to the EK: the host trusts no EK (give --tpm-ek-ca)");

	r = random_bytes(secret, sizeof(secret));
	if (r < 0)
		return cred_fail(st, r, "getrandom: %s", strerror(-r));
	r = sc_credential_answer(secret, sizeof(secret), nonce, st->answer);
	if (r >= 0)
		r = probe_credential_make(&ek, ak.name, ak.name_len, secret, sizeof(secret), &cred, why, sizeof(why));
	OPENSSL_cleanse(secret, sizeof(secret));
	if (r < 0)
		return cred_fail(st, r, "AK not bound to the EK: making the credential: %s", why);
	blob_hex = malloc(2 * cred.blob_len + 1);
	sec_hex = malloc(2 * cred.secret_len + 1);
	doc = json_object();
	if (!blob_hex || !sec_hex || !doc)
		return cred_fail(st, -ENOMEM, "out of memory");
	sc_hex_encode(cred.blob, cred.blob_len, blob_hex);
	sc_hex_encode(cred.secret, cred.secret_len, sec_hex);
	if (sc_json_set(doc, "schema", json_string(SC_CHALLENGE_SCHEMA)) < 0 ||
	    sc_json_set(doc, "nonce", json_string(nonce)) < 0 ||
	    sc_json_set(doc, "credential_blob", json_string(blob_hex)) < 0 ||
	    sc_json_set(doc, "secret", json_string(sec_hex)) < 0 ||
	    !(text = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII)))
		return cred_fail(st, -ENOMEM, "out of memory");
	*ret = text;
	*ret_len = strlen(text);
	st->status = PROBE_CRED_PENDING;
	return 0;
}

int probe_credential_check_answer(struct probe_credential_state *st, const char *nonce, const void *payload, size_t len)
{
	static const char *const keys[] = { "schema", "nonce", "answer" };
	_cleanup_json_ json_t *doc = NULL;
	uint8_t got[SC_CREDENTIAL_ANSWER_LEN];
	const char *k;
	json_t *v;

	if (st->status != PROBE_CRED_PENDING)
		return -EPERM;
	doc = len <= 4096 && sc_utf8_valid(payload, len) ? json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (!json_is_object(doc))
		return cred_fail(st, -EPERM, "AK not bound to the EK: the answer is not a JSON object");
	json_object_foreach(doc, k, v) {
		bool known = false;

		for (size_t i = 0; i < ELEMENTSOF(keys); i++)
			known |= strcmp(k, keys[i]) == 0;
		if (!known)
			return cred_fail(st, -EPERM, "AK not bound to the EK: the answer has an unknown key");
	}
	if (!sc_json_get_str(doc, "schema") || strcmp(sc_json_get_str(doc, "schema"), SC_ANSWER_SCHEMA) != 0 || !sc_json_get_str(doc, "nonce") ||
	    strcmp(sc_json_get_str(doc, "nonce"), nonce) != 0)
		return cred_fail(st, -EPERM, "AK not bound to the EK: the answer is not for this nonce");
	if (sc_hex_decode(sc_json_get_str(doc, "answer"), got, sizeof(got)) < 0)
		return cred_fail(st, -EPERM, "AK not bound to the EK: the answer is not 64 hex characters");
	if (CRYPTO_memcmp(got, st->answer, sizeof(got)) != 0)
		return cred_fail(st, -EPERM,
				 "AK not bound to the EK: the agent's answer to the credential challenge is wrong (the AK is not "
				 "in the TPM of that EK)");
	st->status = PROBE_CRED_PROVEN;
	snprintf(st->why, sizeof(st->why), "the AK is bound to %s by credential activation", st->ek_trust);
	return 0;
}
