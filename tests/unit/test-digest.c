/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sc-digest.h"
#include "sc-fsverity.h"
#include "sc-macro.h"

static void test_hex_roundtrip(void **state)
{
	const char *h = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct sc_digest d;
	char out[SC_DIGEST_HEX_MAX + 1], s[SC_DIGEST_HEX_MAX + 8];

	assert_int_equal(sc_digest_from_hex(STR_AND_LEN(h), SC_HASH_NONE, &d), 0);
	assert_int_equal(d.alg, SC_HASH_SHA256);
	assert_int_equal(d.len, 32);
	assert_string_equal(sc_digest_to_hex(&d, out), h);
	assert_string_equal(sc_digest_to_string(&d, s) + 7, h);
	assert_memory_equal(s, "sha256:", 7);
}

static void test_hex_errors(void **state)
{
	struct sc_digest d;

	assert_int_equal(sc_digest_from_hex("", 0, SC_HASH_NONE, &d), -EINVAL);
	assert_int_equal(sc_digest_from_hex(STR_AND_LEN("ABCD"), SC_HASH_NONE, &d), -EINVAL);
	assert_int_equal(sc_digest_from_hex(STR_AND_LEN("abcd"), SC_HASH_NONE, &d), -EMSGSIZE);
	assert_int_equal(sc_digest_from_hex(STR_AND_LEN("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
					    SC_HASH_SHA512, &d),
			 -EMSGSIZE);
}

static void test_hex_bytes(void **state)
{
	uint8_t b[3];
	char hex[7];

	(void)state;
	assert_string_equal(sc_hex_encode("\x00\xab\xff", 3, hex), "00abff");
	assert_int_equal(sc_hex_decode("00abff", b, 3), 0);
	assert_memory_equal(b, "\x00\xab\xff", 3);
	assert_int_equal(sc_hex_decode("00ABff", b, 3), -EINVAL); /* lowercase only */
	assert_int_equal(sc_hex_decode("00abf", b, 3), -EINVAL);
	assert_int_equal(sc_hex_decode("00abff00", b, 3), -EINVAL);
	assert_int_equal(sc_hex_decode("00ab g", b, 3), -EINVAL);
	assert_int_equal(sc_hex_decode(NULL, b, 3), -EINVAL);
}

static void test_equal_needs_alg_len_bytes(void **state)
{
	struct sc_digest a, b;
	uint8_t bytes[64] = { 1, 2, 3 };

	assert_int_equal(sc_digest_set(&a, SC_HASH_SHA512, bytes, 64), 0);
	assert_int_equal(sc_digest_set(&b, SC_HASH_SHA512, bytes, 64), 0);
	assert_true(sc_digest_equal(&a, &b));
	/* Same leading 32 bytes, other algorithm: never equal. */
	assert_int_equal(sc_digest_set(&b, SC_HASH_SHA256, bytes, 32), 0);
	assert_false(sc_digest_equal(&a, &b));
	assert_false(sc_digest_equal(&b, &a));
	/* Same algorithm, one byte differs. */
	assert_int_equal(sc_digest_set(&b, SC_HASH_SHA512, bytes, 64), 0);
	b.bytes[63] ^= 1;
	assert_false(sc_digest_equal(&a, &b));
	/* Sizes that do not match the algorithm are refused. */
	assert_int_equal(sc_digest_set(&b, SC_HASH_SHA512, bytes, 32), -EMSGSIZE);
	assert_int_equal(sc_digest_set(&b, 7, bytes, 32), -EMSGSIZE);
	/* An unknown algorithm is not equal even to itself. */
	a.alg = SC_HASH_NONE;
	assert_false(sc_digest_equal(&a, &a));
}

/* Known answers from fsverity-utils (`fsverity digest`, 4096-byte blocks, no salt). */
static void test_compute_known_answers(void **state)
{
	static const struct {
		size_t size; /* bytes of 'a' */
		enum sc_hash_alg alg;
		const char *hex;
	} kat[] = {
		{ 0, SC_HASH_SHA256, "3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95" },
		{ 0, SC_HASH_SHA512,
		  "ccf9e5aea1c2a64efa2f2354a6024b90dffde6bbc017825045dce374474e13d1"
		  "0adb9dadcc6ca8e17a3c075fbd31336e8f266ae6fa93a6c3bed66f9e784e5abf" },
		{ 5000, SC_HASH_SHA512,
		  "67543e345933fcbf2c888a19427ab0969812e493677f6e9dd2f19ebadd77ed80"
		  "3879f243baac6966e7296f94e7c055d65ebbd84f6166c63c0ee4419658eeec94" },
	};

	for (size_t i = 0; i < ELEMENTSOF(kat); i++) {
		char path[] = "/tmp/sealcheck-kat.XXXXXX", hex[SC_DIGEST_HEX_MAX + 1];
		int fd = mkstemp(path);
		struct sc_digest d;

		assert_true(fd >= 0);
		unlink(path);
		for (size_t n = 0; n < kat[i].size; n++)
			assert_int_equal(write(fd, "a", 1), 1);
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		assert_int_equal(sc_fsverity_compute_fd(fd, kat[i].alg, &d), 0);
		assert_int_equal(d.alg, kat[i].alg);
		assert_string_equal(sc_digest_to_hex(&d, hex), kat[i].hex);
		close(fd);
	}
}

static void test_measure_errors(void **state)
{
	struct sc_digest d;

	assert_int_equal(sc_fsverity_measure_path("/nonexistent-sealcheck", true, &d), -ENOENT);
	assert_int_equal(sc_fsverity_measure_path("/", true, &d), -EINVAL);
	/* Not following: a symlink is refused without touching its target. */
	assert_int_equal(sc_fsverity_measure_path("/proc/self/exe", false, &d), -EINVAL);
	assert_non_null(sc_fsverity_strerror(-ENODATA));
	assert_non_null(strstr(sc_fsverity_strerror(-ENOTTY), "not available"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_roundtrip),        cmocka_unit_test(test_hex_errors),
		cmocka_unit_test(test_equal_needs_alg_len_bytes), cmocka_unit_test(test_compute_known_answers),
		cmocka_unit_test(test_measure_errors),        cmocka_unit_test(test_hex_bytes),
	};
	return cmocka_run_group_tests_name("digest", tests, NULL, NULL);
}
