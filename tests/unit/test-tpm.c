/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TPMT_PUBLIC, TPMS_ATTEST, TPMT_SIGNATURE and the quote's checks against
 * quotes a real swtpm made (tests/fixtures/tpm/make-fixtures.sh, which
 * checks each with tpm2_checkquote first), then one altered field per test.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "probe-tpm.h"
#include "sc-macro.h"

static struct blob load(const char *name)
{
	return unit_fixture("tpm", name);
}

/* One quote fixture set, loaded fresh (tests edit the copies). */
struct quote {
	struct blob pub, name, msg, sig, pcrs, nonce;
	struct probe_pcr_selection sel;
	struct probe_quote_input in;
};

static void quote_load(struct quote *q, const char *kind)
{
	char n[64];
	snprintf(n, sizeof(n), "%s.ak.pub", kind);
	q->pub = load(n);
	snprintf(n, sizeof(n), "%s.ak.name", kind);
	q->name = load(n);
	snprintf(n, sizeof(n), "%s.quote.msg", kind);
	q->msg = load(n);
	snprintf(n, sizeof(n), "%s.quote.sig", kind);
	q->sig = load(n);
	snprintf(n, sizeof(n), "%s.quote.pcrs", kind);
	q->pcrs = load(n);
	q->nonce = load("quote.nonce");
	assert_int_equal(probe_pcr_selection_from_string("sha256:0,1,2,3,4,5,7,9,11,12", &q->sel), 0);
	q->in = (struct probe_quote_input){
		.ak_public = q->pub.p, .ak_public_len = q->pub.len,
		.expected_ak_name = q->name.p, .expected_ak_name_len = q->name.len,
		.attest = q->msg.p, .attest_len = q->msg.len,
		.signature = q->sig.p, .signature_len = q->sig.len,
		.expected_extra_data = q->nonce.p, .expected_extra_data_len = q->nonce.len,
		.expected_selection = &q->sel,
		.pcr_values = q->pcrs.p, .pcr_values_len = q->pcrs.len,
	};
}

static void quote_free(struct quote *q)
{
	free(q->pub.p), free(q->name.p), free(q->msg.p), free(q->sig.p), free(q->pcrs.p), free(q->nonce.p);
}

static enum probe_quote_step run(struct quote *q)
{
	char why[256] = "";
	enum probe_quote_step s = probe_quote_verify(&q->in, NULL, why, sizeof(why));
	if (s != PROBE_QUOTE_OK)
		assert_true(why[0] != '\0'); /* every failure says why */
	return s;
}

static const char *const good_kinds[] = {"rsa", "rsapss", "ecc"};

static void test_real_quotes_verify(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(good_kinds); i++) {
		struct quote q;
		struct probe_tpm_attest a;
		char why[256] = "";
		quote_load(&q, good_kinds[i]);
		assert_int_equal(probe_quote_verify(&q.in, &a, why, sizeof(why)), PROBE_QUOTE_OK);
		assert_int_equal(a.magic, PROBE_TPM_GENERATED_VALUE);
		assert_int_equal(a.type, PROBE_TPM_ST_ATTEST_QUOTE);
		assert_int_equal(a.safe, 1);
		assert_int_equal(a.extra_data_len, 32);
		assert_int_equal(a.pcr_select.n_banks, 1);
		assert_int_equal(a.pcr_select.banks[0].hash, PROBE_TPM_ALG_SHA256);
		assert_int_equal(a.pcr_select.banks[0].mask, 0x1abfu);
		assert_int_equal(a.pcr_digest_len, 32);
		quote_free(&q);
	}
}

static void test_real_ak_publics(void **state)
{
	struct quote q;
	struct probe_tpm_public p;
	EVP_PKEY *k = NULL;

	quote_load(&q, "rsa");
	assert_int_equal(probe_tpm2b_public_parse(q.pub.p, q.pub.len, &p, NULL, 0), 0);
	assert_int_equal(p.type, PROBE_TPM_ALG_RSA);
	assert_int_equal(p.key_bits, 2048);
	assert_int_equal(p.scheme, PROBE_TPM_ALG_RSASSA);
	assert_int_equal(p.scheme_hash, PROBE_TPM_ALG_SHA256);
	/* The Name we compute is the one the TPM gave tpm2_createak. */
	assert_int_equal(p.name_len, q.name.len);
	assert_memory_equal(p.name, q.name.p, q.name.len);
	assert_int_equal(probe_tpm_ak_check(&p, NULL, 0), 0);
	assert_int_equal(probe_tpm_public_to_pkey(&p, &k, NULL, 0), 0);
	assert_int_equal(EVP_PKEY_get_bits(k), 2048);
	EVP_PKEY_free(k);
	quote_free(&q);

	quote_load(&q, "ecc");
	assert_int_equal(probe_tpm2b_public_parse(q.pub.p, q.pub.len, &p, NULL, 0), 0);
	assert_int_equal(p.type, PROBE_TPM_ALG_ECC);
	assert_int_equal(p.curve, PROBE_TPM_ECC_NIST_P256);
	assert_int_equal(p.scheme, PROBE_TPM_ALG_ECDSA);
	assert_memory_equal(p.name, q.name.p, q.name.len);
	assert_int_equal(probe_tpm_ak_check(&p, NULL, 0), 0);
	assert_int_equal(probe_tpm_public_to_pkey(&p, &k, NULL, 0), 0);
	assert_int_equal(EVP_PKEY_get_bits(k), 256);
	EVP_PKEY_free(k);
	quote_free(&q);
}

static void test_rsa1024_refused(void **state)
{
	struct quote q;
	struct probe_tpm_public p;
	char why[256];
	quote_load(&q, "rsa1024");
	/* A real key, a real quote: only the size is wrong. */
	assert_int_equal(probe_tpm2b_public_parse(q.pub.p, q.pub.len, &p, NULL, 0), 0);
	assert_int_equal(p.key_bits, 1024);
	assert_int_equal(probe_tpm_ak_check(&p, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "2048"));
	assert_int_equal(run(&q), PROBE_QUOTE_AK_POLICY);
	quote_free(&q);
}

/* TPM2B_PUBLIC: size(2) type(2) nameAlg(2) objectAttributes(4, big-endian). */
static void flip_attribute(struct blob *pub, uint32_t bit)
{
	uint8_t *a = pub->p + 6;
	uint32_t v = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
	v ^= bit;
	a[0] = (uint8_t)(v >> 24), a[1] = (uint8_t)(v >> 16), a[2] = (uint8_t)(v >> 8), a[3] = (uint8_t)v;
}

static void test_ak_attributes(void **state)
{
	static const uint32_t bits[] = {PROBE_TPMA_RESTRICTED, PROBE_TPMA_FIXED_TPM, PROBE_TPMA_FIXED_PARENT,
					PROBE_TPMA_SENSITIVE_DATA_ORIGIN, PROBE_TPMA_SIGN, PROBE_TPMA_DECRYPT};
	for (size_t i = 0; i < ELEMENTSOF(bits); i++) {
		struct quote q;
		quote_load(&q, "rsa");
		flip_attribute(&q.pub, bits[i]);
		q.in.expected_ak_name = NULL; /* the attribute rule, not the pin, must catch it */
		assert_int_equal(run(&q), PROBE_QUOTE_AK_POLICY);
		quote_free(&q);
	}
}

static void test_ak_not_pinned(void **state)
{
	struct quote q;
	quote_load(&q, "rsa");
	q.name.p[q.name.len - 1] ^= 1;
	assert_int_equal(run(&q), PROBE_QUOTE_AK_NAME);
	quote_free(&q);
	/* Another real AK (the ECC one) signing its own valid quote is not the pinned RSA AK. */
	struct quote r, e;
	quote_load(&r, "rsa");
	quote_load(&e, "ecc");
	e.in.expected_ak_name = r.name.p;
	e.in.expected_ak_name_len = r.name.len;
	assert_int_equal(run(&e), PROBE_QUOTE_AK_NAME);
	quote_free(&r);
	quote_free(&e);
}

static void test_signature_flipped(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(good_kinds); i++) {
		struct quote q;
		quote_load(&q, good_kinds[i]);
		q.sig.p[q.sig.len - 5] ^= 0x01;
		assert_int_equal(run(&q), PROBE_QUOTE_SIGNATURE);
		quote_free(&q);
		/* The signed message altered: a flip in the firmware version. */
		quote_load(&q, good_kinds[i]);
		q.msg.p[95] ^= 0x80;
		assert_int_equal(run(&q), PROBE_QUOTE_SIGNATURE);
		quote_free(&q);
	}
}

static void test_signature_scheme(void **state)
{
	struct quote q, o;
	/* An RSASSA signature offered for the RSAPSS key: scheme not the key's. */
	quote_load(&q, "rsapss");
	quote_load(&o, "rsa");
	q.in.signature = o.sig.p;
	q.in.signature_len = o.sig.len;
	assert_int_equal(run(&q), PROBE_QUOTE_SIGNATURE);
	/* An RSA signature for an ECC key. */
	struct quote e;
	quote_load(&e, "ecc");
	e.in.signature = o.sig.p;
	e.in.signature_len = o.sig.len;
	assert_int_equal(run(&e), PROBE_QUOTE_SIGNATURE);
	quote_free(&q), quote_free(&o), quote_free(&e);
	/* The hash named in the signature changed to SHA-1. */
	quote_load(&q, "rsa");
	q.sig.p[2] = 0x00, q.sig.p[3] = 0x04;
	assert_int_equal(run(&q), PROBE_QUOTE_SIGNATURE);
	quote_free(&q);
}

static void test_ecc_point_off_curve(void **state)
{
	struct quote q;
	quote_load(&q, "ecc");
	q.pub.p[q.pub.len - 1] ^= 0x01; /* last byte of y */
	q.in.expected_ak_name = NULL;
	assert_int_equal(run(&q), PROBE_QUOTE_SIGNATURE);
	quote_free(&q);
}

static void test_extra_data_differs(void **state)
{
	struct quote q;
	quote_load(&q, "rsa");
	q.nonce.p[0] ^= 1;
	assert_int_equal(run(&q), PROBE_QUOTE_EXTRA_DATA);
	q.nonce.p[0] ^= 1;
	q.in.expected_extra_data_len = 31; /* a prefix is not equal */
	assert_int_equal(run(&q), PROBE_QUOTE_EXTRA_DATA);
	quote_free(&q);
}

static void test_magic_and_type(void **state)
{
	struct quote q;
	struct probe_tpm_attest a;
	quote_load(&q, "rsa");
	q.msg.p[3] ^= 1;
	assert_int_equal(run(&q), PROBE_QUOTE_MAGIC);
	assert_int_equal(probe_tpm_attest_parse(q.msg.p, q.msg.len, &a, NULL, 0), -EBADMSG);
	q.msg.p[3] ^= 1;
	q.msg.p[5] = 0x17; /* TPM_ST_ATTEST_CERTIFY */
	assert_int_equal(run(&q), PROBE_QUOTE_TYPE);
	assert_int_equal(probe_tpm_attest_parse(q.msg.p, q.msg.len, &a, NULL, 0), -EBADMSG);
	quote_free(&q);
}

static void test_selection_differs(void **state)
{
	struct quote q;
	struct probe_pcr_selection more, fewer, bank;
	assert_int_equal(probe_pcr_selection_from_string("sha256:0,1,2,3,4,5,7,8,9,11,12", &more), 0);
	assert_int_equal(probe_pcr_selection_from_string("sha256:0,1,2,3,4,5,7,9,11", &fewer), 0);
	assert_int_equal(probe_pcr_selection_from_string("sha1:0,1,2,3,4,5,7,9,11,12", &bank), 0);
	quote_load(&q, "rsa");
	q.in.expected_selection = &more; /* the host asked for more than was quoted */
	assert_int_equal(run(&q), PROBE_QUOTE_SELECTION);
	q.in.expected_selection = &fewer; /* the quote covers a PCR not asked for */
	assert_int_equal(run(&q), PROBE_QUOTE_SELECTION);
	q.in.expected_selection = &bank;
	assert_int_equal(run(&q), PROBE_QUOTE_SELECTION);
	quote_free(&q);
}

static void test_pcr_value_edited(void **state)
{
	struct quote q;
	quote_load(&q, "rsa");
	q.pcrs.p[7 * 32] ^= 1; /* PCR 9 (the 7th selected) */
	assert_int_equal(run(&q), PROBE_QUOTE_PCR_DIGEST);
	q.pcrs.p[7 * 32] ^= 1;
	q.in.pcr_values_len -= 32; /* one value missing */
	assert_int_equal(run(&q), PROBE_QUOTE_PCR_DIGEST);
	quote_free(&q);
}

static void test_pcr_digest_edited(void **state)
{
	struct quote q;
	struct probe_tpm_attest a;
	quote_load(&q, "rsa");
	assert_int_equal(probe_tpm_attest_parse(q.msg.p, q.msg.len, &a, NULL, 0), 0);
	assert_int_equal(probe_pcr_digest_check(&a.pcr_select, q.pcrs.p, q.pcrs.len, PROBE_TPM_ALG_SHA256, a.pcr_digest,
						a.pcr_digest_len, NULL, 0), 0);
	a.pcr_digest[0] ^= 1;
	assert_int_equal(probe_pcr_digest_check(&a.pcr_select, q.pcrs.p, q.pcrs.len, PROBE_TPM_ALG_SHA256, a.pcr_digest,
						a.pcr_digest_len, NULL, 0), -EPERM);
	/* In the signed bytes, the edit breaks the signature. */
	q.msg.p[q.msg.len - 1] ^= 1;
	assert_int_equal(run(&q), PROBE_QUOTE_SIGNATURE);
	quote_free(&q);
}

static void test_attest_fields(void **state)
{
	struct quote q;
	struct probe_tpm_attest a;
	quote_load(&q, "rsa");
	assert_int_equal(q.msg.p[92], 1); /* clockInfo.safe in this layout */
	q.msg.p[92] = 2;                  /* not a TPMI_YES_NO */
	assert_int_equal(probe_tpm_attest_parse(q.msg.p, q.msg.len, &a, NULL, 0), -EBADMSG);
	q.msg.p[92] = 1;
	q.msg.p[43] = 65; /* extraData size over TPM2B_DATA's */
	assert_int_equal(probe_tpm_attest_parse(q.msg.p, q.msg.len, &a, NULL, 0), -EMSGSIZE);
	q.msg.p[43] = 32;
	q.msg.p[107] = 5; /* sizeofSelect */
	assert_int_equal(probe_tpm_attest_parse(q.msg.p, q.msg.len, &a, NULL, 0), -EBADMSG);
	q.msg.p[107] = 3;
	q.msg.p[104] = 9; /* 9 banks */
	assert_int_equal(probe_tpm_attest_parse(q.msg.p, q.msg.len, &a, NULL, 0), -EBADMSG);
	quote_free(&q);
}

static void test_trailing_bytes(void **state)
{
	struct quote q;
	uint8_t buf[2048];
	struct probe_tpm_attest a;
	struct probe_tpm_signature s;
	struct probe_tpm_public p;
	quote_load(&q, "rsa");
	memcpy(buf, q.msg.p, q.msg.len), buf[q.msg.len] = 0;
	assert_int_equal(probe_tpm_attest_parse(buf, q.msg.len + 1, &a, NULL, 0), -EBADMSG);
	memcpy(buf, q.sig.p, q.sig.len), buf[q.sig.len] = 0;
	assert_int_equal(probe_tpm_signature_parse(buf, q.sig.len + 1, &s, NULL, 0), -EBADMSG);
	memcpy(buf, q.pub.p + 2, q.pub.len - 2), buf[q.pub.len - 2] = 0;
	assert_int_equal(probe_tpm_public_parse(buf, q.pub.len - 1, &p, NULL, 0), -EBADMSG);
	quote_free(&q);
}

/* Every prefix of every fixture fails (and never crashes: ASan in CI). */
static void test_truncated_everywhere(void **state)
{
	static const char *const kinds[] = {"rsa", "rsapss", "ecc", "rsa1024"};
	for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
		struct quote q;
		quote_load(&q, kinds[k]);
		for (size_t n = 0; n < q.pub.len; n++) {
			struct probe_tpm_public p;
			uint8_t *c = malloc(n ? n : 1);
			memcpy(c, q.pub.p, n);
			assert_true(probe_tpm2b_public_parse(c, n, &p, NULL, 0) < 0);
			if (n >= 2)
				assert_true(probe_tpm_public_parse(c + 2, n - 2, &p, NULL, 0) < 0);
			q.in.ak_public = c, q.in.ak_public_len = n;
			assert_int_equal(run(&q), PROBE_QUOTE_AK_PARSE);
			free(c);
		}
		q.in.ak_public = q.pub.p, q.in.ak_public_len = q.pub.len;
		for (size_t n = 0; n < q.msg.len; n++) {
			struct probe_tpm_attest a;
			uint8_t *c = malloc(n ? n : 1);
			memcpy(c, q.msg.p, n);
			assert_true(probe_tpm_attest_parse(c, n, &a, NULL, 0) < 0);
			q.in.attest = c, q.in.attest_len = n;
			assert_true(run(&q) != PROBE_QUOTE_OK);
			free(c);
		}
		q.in.attest = q.msg.p, q.in.attest_len = q.msg.len;
		for (size_t n = 0; n < q.sig.len; n++) {
			struct probe_tpm_signature s;
			uint8_t *c = malloc(n ? n : 1);
			memcpy(c, q.sig.p, n);
			assert_true(probe_tpm_signature_parse(c, n, &s, NULL, 0) < 0);
			q.in.signature = c, q.in.signature_len = n;
			assert_true(run(&q) != PROBE_QUOTE_OK);
			free(c);
		}
		quote_free(&q);
	}
}

static void test_selection_strings(void **state)
{
	struct probe_pcr_selection s;
	const uint8_t *v;
	uint8_t vals[3 * 32] = {0};
	assert_int_equal(probe_pcr_selection_from_string("sha256:0,7,11", &s), 0);
	assert_int_equal(probe_pcr_selection_values_size(&s), 96);
	vals[64] = 0xaa;
	assert_int_equal(probe_pcr_value_at(&s, vals, sizeof(vals), PROBE_TPM_ALG_SHA256, 11, &v), 0);
	assert_int_equal(v[0], 0xaa);
	assert_int_equal(probe_pcr_value_at(&s, vals, sizeof(vals), PROBE_TPM_ALG_SHA256, 9, &v), -ENOENT);
	assert_int_equal(probe_pcr_value_at(&s, vals, sizeof(vals) - 1, PROBE_TPM_ALG_SHA256, 7, &v), -EMSGSIZE);
	assert_int_equal(probe_pcr_selection_from_string("sha256:0,0", &s), -EINVAL);
	assert_int_equal(probe_pcr_selection_from_string("sha256:24", &s), -EINVAL);
	assert_int_equal(probe_pcr_selection_from_string("md5:1", &s), -EINVAL);
	assert_int_equal(probe_pcr_selection_from_string("sha256:", &s), -EINVAL);
	assert_string_equal(probe_quote_step_name(PROBE_QUOTE_PCR_DIGEST), "pcr-digest");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_quotes_verify), cmocka_unit_test(test_real_ak_publics),
		cmocka_unit_test(test_rsa1024_refused),    cmocka_unit_test(test_ak_attributes),
		cmocka_unit_test(test_ak_not_pinned),      cmocka_unit_test(test_signature_flipped),
		cmocka_unit_test(test_signature_scheme),   cmocka_unit_test(test_ecc_point_off_curve),
		cmocka_unit_test(test_extra_data_differs), cmocka_unit_test(test_magic_and_type),
		cmocka_unit_test(test_selection_differs),  cmocka_unit_test(test_pcr_value_edited),
		cmocka_unit_test(test_pcr_digest_edited),  cmocka_unit_test(test_attest_fields),
		cmocka_unit_test(test_trailing_bytes),     cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_selection_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
