/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit.h"

#include "sc-cmdline.h"
#include "sc-macro.h"

/* The real sealed bootc cmdline captured in a guest (tests/fixtures/real-vm/snakeoil-user). */
#define D512 "4d8ad9824efc90f2a9ed32201027828d8dc36139bfe1da72c32aefeed2389513f10adb7862f4099902ae0b5b736792bca420fc991832554d3fb8b91bad6bc349"
#define D256 "6c2ea7b4c3a4e5d48f0a9dfb6d2b03bdb6c0b1d0f7e1a7b4e4b0c8f7a2c3d4e5"
#define REAL "composefs=" D512 " rw console=ttyS0 quiet panic=-1 captag=snakeoil-user\n"

static struct sc_seal_cmdline parse(const char *s)
{
	struct sc_seal_cmdline c;

	assert_int_equal(sc_seal_cmdline_parse(s, strlen(s), &c), 0);
	return c;
}

static void expect(const char *s, enum sc_cmdline_problem p, const char *detail_part)
{
	struct sc_seal_cmdline c = parse(s);

	if (c.problem != p)
		fail_msg("'%s': problem %d, expected %d (%s)", s, c.problem, p, c.detail);
	if (detail_part && !strstr(c.detail, detail_part))
		fail_msg("'%s': detail '%s' lacks '%s'", s, c.detail, detail_part);
	sc_seal_cmdline_done(&c);
}

static void test_tokenizer(void **state)
{
	const char *s = "  a=1\tb=\"x y\" \"c=d e\"\nf -- g=h", *pos = s, *tok;
	const char *want[] = { "a=1", "b=\"x y\"", "\"c=d e\"", "f" };
	size_t tl, n = 0;

	while (sc_cmdline_next(&pos, s + strlen(s), &tok, &tl) > 0) {
		assert_true(n < ELEMENTSOF(want));
		assert_int_equal(tl, strlen(want[n]));
		assert_memory_equal(tok, want[n], tl);
		n++;
	}
	assert_int_equal(n, 4);
	assert_true(pos < s + strlen(s)); /* stopped on "--", not at the end */
}

static void test_real_sealed(void **state)
{
	struct sc_seal_cmdline c = parse(REAL);
	struct sc_digest d;

	assert_int_equal(c.problem, SC_CMDLINE_OK);
	assert_int_equal(c.kind, SC_SEAL_COMPOSEFS);
	assert_string_equal(c.source, "composefs");
	assert_int_equal(c.n_digests, 1);
	assert_int_equal(c.digests[0].digest.alg, SC_HASH_SHA512);
	assert_int_equal(c.digests[0].version, 2);
	assert_int_equal(c.digests[0].log2_blocksize, 12);
	assert_false(c.digests[0].insecure);
	assert_int_equal(sc_digest_from_hex(STR_AND_LEN(D512), SC_HASH_NONE, &d), 0);
	assert_true(sc_digest_equal(&c.digests[0].digest, &d));
	assert_int_equal(c.n_tokens, 6);
	assert_false(c.has_init_args);
	sc_seal_cmdline_done(&c);
}

static void test_sha256_shorthand(void **state)
{
	struct sc_seal_cmdline c = parse("composefs=" D256);

	assert_int_equal(c.problem, SC_CMDLINE_OK);
	assert_int_equal(c.digests[0].digest.alg, SC_HASH_SHA256);
	sc_seal_cmdline_done(&c);
}

static void test_insecure(void **state)
{
	expect("composefs=?" D512, SC_CMDLINE_INSECURE, "insecure");
	expect("composefs.digest=?v2-sha512-12:" D512, SC_CMDLINE_INSECURE, "insecure");
}

static void test_digest_forms(void **state)
{
	static const char *ok[] = {
		"composefs.digest=v1-sha512-12:" D512,
		"composefs.digest=v2-sha512-12:" D512,
		"composefs.digest=v1-sha256-12:" D256,
		"composefs.digest=v2-sha256-12:" D256,
	};

	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		struct sc_seal_cmdline c = parse(ok[i]);

		assert_int_equal(c.problem, SC_CMDLINE_OK);
		assert_string_equal(c.source, "composefs.digest");
		assert_int_equal(c.digests[0].version, ok[i][18] - '0');
		sc_seal_cmdline_done(&c);
	}
	expect("composefs.digest=v3-sha512-12:" D512, SC_CMDLINE_MALFORMED, "unknown composefs version");
	expect("composefs.digest=v2-sha384-12:" D512, SC_CMDLINE_MALFORMED, "unknown digest algorithm");
	expect("composefs.digest=v2-sha512-16:" D512, SC_CMDLINE_MALFORMED, "block size");
	expect("composefs.digest=v2-sha512-:" D512, SC_CMDLINE_MALFORMED, "block size");
	expect("composefs.digest=v2-sha512-12" D512, SC_CMDLINE_MALFORMED, "no ':'");
	expect("composefs.digest=v2-sha256-12:" D512, SC_CMDLINE_MALFORMED, "sha256 needs 64");
	expect("composefs.digest=v2:" D512, SC_CMDLINE_MALFORMED, "expected v<version>");
}

static void test_digest_form_wins(void **state)
{
	struct sc_seal_cmdline c = parse("composefs=" D256 " composefs.digest=v2-sha512-12:" D512);

	assert_int_equal(c.problem, SC_CMDLINE_OK);
	assert_string_equal(c.source, "composefs.digest");
	assert_int_equal(c.n_digests, 1);
	assert_int_equal(c.digests[0].digest.alg, SC_HASH_SHA512);
	assert_int_equal(c.n_params, 2);
	assert_false(c.params[0].used); /* composefs= reported, not used */
	assert_true(c.params[1].used);
	sc_seal_cmdline_done(&c);
}

static void test_several_digest_forms(void **state)
{
	struct sc_seal_cmdline c =
		parse("composefs.digest=v2-sha512-12:" D512 " composefs.digest=v2-sha256-12:" D256);

	assert_int_equal(c.problem, SC_CMDLINE_OK);
	assert_int_equal(c.n_digests, 2);
	sc_seal_cmdline_done(&c);
}

static void test_bad_values(void **state)
{
	expect("composefs=", SC_CMDLINE_MALFORMED, "empty");
	expect("composefs", SC_CMDLINE_MALFORMED, "bare 'composefs'");
	expect("composefs=abc", SC_CMDLINE_MALFORMED, "3 hex characters");
	expect("composefs=" D512 "00", SC_CMDLINE_MALFORMED, "130 hex characters");
	expect("composefs=4D8AD9824EFC90F2A9ED32201027828D8DC36139BFE1DA72C32AEFEED2389513F10ADB7862F4099902AE0B5B736792BCA420FC991832554D3FB8B91BAD6BC349",
	       SC_CMDLINE_MALFORMED, "not lowercase hex");
	{
		char s[] = "composefs=" D512;

		s[20] = 'g';
		expect(s, SC_CMDLINE_MALFORMED, "not lowercase hex");
	}
}

static void test_quotes(void **state)
{
	struct sc_seal_cmdline c = parse("foo=\"a b\" composefs=" D512);

	assert_int_equal(c.problem, SC_CMDLINE_OK);
	assert_int_equal(c.n_tokens, 2);
	sc_seal_cmdline_done(&c);
	expect("composefs=\"" D512 "\"", SC_CMDLINE_MALFORMED, "quoted value");
	/* A quote opened before the key swallows the key: the seal is simply absent. */
	expect("\"composefs=" D512 "\"", SC_CMDLINE_NO_SEAL, NULL);
}

static void test_dashdash(void **state)
{
	struct sc_seal_cmdline c = parse("quiet -- composefs=" D512);

	assert_int_equal(c.problem, SC_CMDLINE_NO_SEAL);
	assert_true(c.has_init_args);
	sc_seal_cmdline_done(&c);
	c = parse("composefs=" D512 " -- composefs=?" D512);
	assert_int_equal(c.problem, SC_CMDLINE_OK);
	sc_seal_cmdline_done(&c);
	/* "--x" is an ordinary token, not the separator. */
	c = parse("--x composefs=" D512);
	assert_int_equal(c.problem, SC_CMDLINE_OK);
	sc_seal_cmdline_done(&c);
}

static void test_duplicates(void **state)
{
	/* The same value twice is one token too many: one reading, whichever duplicate a parser takes. */
	expect("composefs=" D512 " quiet composefs=" D512, SC_CMDLINE_AMBIGUOUS, "composefs= given twice");
	expect("composefs.digest=v2-sha512-12:" D512 " composefs.digest=v2-sha512-12:" D512, SC_CMDLINE_AMBIGUOUS,
	       "composefs.digest= given twice");
	expect("roothash=" D256 " roothash=" D256, SC_CMDLINE_AMBIGUOUS, "roothash= given twice");
	expect("composefs=" D512 " composefs=" D256, SC_CMDLINE_AMBIGUOUS, "conflicting composefs=");
	/* "?" on one duplicate only is a conflict too: which one wins decides security. */
	expect("composefs=" D512 " composefs=?" D512, SC_CMDLINE_AMBIGUOUS, NULL);
}

/* The demo initramfs's test-only switch that mounts the root without verity. */
static void test_verity_off(void **state)
{
	expect("composefs=" D512 " sealtest.verity=off", SC_CMDLINE_INSECURE, "sealtest.verity=off");
	expect("sealtest.verity=off composefs=" D512, SC_CMDLINE_INSECURE, "without verity");
}

static void test_lookalikes(void **state)
{
	expect("xcomposefs=" D512 " rd.composefs=" D512 " composefs_digest=" D512 " composefs.digests=x",
	       SC_CMDLINE_NO_SEAL, "no composefs=");
}

static void test_dmverity(void **state)
{
	struct sc_seal_cmdline c = parse("roothash=" D256 " usrhash=ABCDEF0123456789ABCDEF0123456789ABCDEF01");

	assert_int_equal(c.problem, SC_CMDLINE_OK);
	assert_int_equal(c.kind, SC_SEAL_DMVERITY);
	assert_string_equal(c.source, "roothash");
	assert_int_equal(c.roothash.len, 32);
	assert_int_equal(c.usrhash.len, 20);
	assert_int_equal(c.usrhash.bytes[0], 0xab);
	sc_seal_cmdline_done(&c);
	expect("roothash=xyz", SC_CMDLINE_MALFORMED, "roothash=");
	expect("roothash=" D256 " roothash=" D512, SC_CMDLINE_AMBIGUOUS, "roothash");
}

static void test_long_and_odd_input(void **state)
{
	/* 60 KiB of parameters, newlines, no trailing newline, NUL bytes: bounded and sane. */
	size_t n = 60 * 1024;
	char *big = malloc(n + 200);
	struct sc_seal_cmdline c;

	assert_non_null(big);
	memset(big, 'x', n);
	for (size_t i = 100; i < n; i += 100)
		big[i] = i % 300 == 0 ? '\n' : ' ';
	memcpy(big + n, " composefs=" D512, 11 + 128);
	big[50] = '\0';
	assert_int_equal(sc_seal_cmdline_parse(big, n + 139, &c), 0);
	assert_int_equal(c.problem, SC_CMDLINE_OK);
	sc_seal_cmdline_done(&c);
	free(big);
}

static void test_too_many_params(void **state)
{
	char buf[4096] = "";

	for (int i = 0; i < 20; i++)
		strcat(buf, "composefs.digest=v2-sha256-12:" D256 " ");
	expect(buf, SC_CMDLINE_MALFORMED, "seal parameters");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokenizer),        cmocka_unit_test(test_real_sealed),
		cmocka_unit_test(test_sha256_shorthand), cmocka_unit_test(test_insecure),
		cmocka_unit_test(test_digest_forms),     cmocka_unit_test(test_digest_form_wins),
		cmocka_unit_test(test_several_digest_forms), cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_quotes),           cmocka_unit_test(test_dashdash),
		cmocka_unit_test(test_duplicates),       cmocka_unit_test(test_verity_off),       cmocka_unit_test(test_lookalikes),
		cmocka_unit_test(test_dmverity),         cmocka_unit_test(test_long_and_odd_input),
		cmocka_unit_test(test_too_many_params),
	};
	return cmocka_run_group_tests_name("cmdline", tests, NULL, NULL);
}
