/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/sc-base64: RFC 4648 section 10's vectors, OpenSSL's encoder as a second opinion, strict decoding. */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "sc-base64.h"
#include "unit.h"

static const struct {
	const char *plain, *b64;
} rfc4648[] = {
	{ "", "" },	    { "f", "Zg==" },	     { "fo", "Zm8=" },	       { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};

static void test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		char *enc;
		uint8_t *dec;
		size_t n;

		assert_int_equal(sc_base64_encode(rfc4648[i].plain, strlen(rfc4648[i].plain), &enc, &n), 0);
		assert_string_equal(enc, rfc4648[i].b64);
		assert_int_equal(n, strlen(rfc4648[i].b64));
		free(enc);
		assert_int_equal(sc_base64_decode(rfc4648[i].b64, 6, &dec, &n), 0);
		assert_non_null(dec);
		assert_int_equal(n, strlen(rfc4648[i].plain));
		assert_memory_equal(dec, rfc4648[i].plain, n);
		free(dec);
	}
}

/* Every byte value at every length up to 300: the same text as EVP_EncodeBlock, and back. */
static void test_roundtrip_against_openssl(void **state)
{
	uint8_t data[300];
	unsigned char ref[4 * sizeof(data) / 3 + 8];

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 151 + 7);
	for (size_t len = 0; len <= sizeof(data); len++) {
		char *enc;
		uint8_t *dec;
		size_t n, m;
		int want = EVP_EncodeBlock(ref, data, (int)len);

		assert_int_equal(sc_base64_encode(data, len, &enc, &n), 0);
		assert_int_equal(n, (size_t)want);
		assert_string_equal(enc, (const char *)ref);
		assert_int_equal(sc_base64_decode(enc, len, &dec, &m), 0);
		assert_int_equal(m, len);
		assert_memory_equal(dec, data, len);
		free(enc);
		free(dec);
	}
}

static void test_rejects(void **state)
{
	static const char *const bad[] = {
		"Zg=",	      /* not a multiple of 4 */
		"Zg",	      /* unpadded */
		"Zg==\n",     /* a line break */
		" Zg=",	      /* whitespace */
		"Zm9 v",      /* whitespace inside */
		"Zh==",	      /* padding bits not zero (RFC 4648 3.5) */
		"Zm9=",	      /* likewise, one '=' */
		"Z===",	      /* three '=' */
		"====",	      /* nothing but padding */
		"Zm9vYg==Zm9v", /* '=' before the end */
		"Zm8=Zm8=",   /* likewise */
		"Zm=v",	      /* '=' inside a group */
		"Zm9-",	      /* base64url's alphabet */
		"Zm9_",	      /* likewise */
		"Zm9\xc3",    /* not ASCII */
	};
	uint8_t *dec = (uint8_t *)"untouched";
	size_t n = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = sc_base64_decode(bad[i], 100, &dec, &n);

		if (r != -EBADMSG)
			print_error("accepted or wrong error for '%s': %d\n", bad[i], r);
		assert_int_equal(r, -EBADMSG);
		assert_string_equal((const char *)dec, "untouched");
		assert_int_equal(n, 12345);
	}
}

static void test_max(void **state)
{
	uint8_t *dec;
	size_t n;

	(void)state;
	/* at most @max decoded bytes: 6 fits 6, not 5; the padding counts */
	assert_int_equal(sc_base64_decode("Zm9vYmFy", 5, &dec, &n), -EMSGSIZE);
	assert_int_equal(sc_base64_decode("Zm9vYmE=", 4, &dec, &n), -EMSGSIZE);
	assert_int_equal(sc_base64_decode("Zm9vYmE=", 5, &dec, &n), 0);
	assert_int_equal(n, 5);
	free(dec);
	assert_int_equal(sc_base64_decode("Zm9vYmFy", 6, &dec, &n), 0);
	free(dec);
	/* an empty string: a buffer, length 0, also with max 0 */
	assert_int_equal(sc_base64_decode("", 0, &dec, &n), 0);
	assert_non_null(dec);
	assert_int_equal(n, 0);
	free(dec);
	/* the size is refused before the bytes are looked at */
	assert_int_equal(sc_base64_decode("!!!!!!!!", 5, &dec, &n), -EMSGSIZE);
}

static void test_encode_overflow(void **state)
{
	char *enc = NULL;

	(void)state;
	/* the size check comes before anything is read: no buffer of that size exists */
	assert_int_equal(sc_base64_encode("", SIZE_MAX, &enc, NULL), -EOVERFLOW);
	assert_int_equal(sc_base64_encode("", SIZE_MAX / 4 * 3 + 1, &enc, NULL), -EOVERFLOW);
	assert_null(enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_roundtrip_against_openssl),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_encode_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
