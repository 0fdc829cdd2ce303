/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit.h"

#include <stdlib.h>

#include "sc-json.h"
#include "sc-report.h"

static void expect_bytes(const char *in, size_t len, const char *want)
{
	json_t *j = sc_json_bytes(in, len);
	char *dump;

	assert_non_null(j);
	assert_string_equal(json_string_value(j), want);
	/* The serialised form must be valid UTF-8 and parse back. */
	dump = json_dumps(j, JSON_ENCODE_ANY);
	assert_non_null(dump);
	assert_true(sc_utf8_valid(dump, strlen(dump)));
	free(dump);
	json_decref(j);
}

static void test_valid_utf8_unchanged(void **state)
{
	expect_bytes(STR_AND_LEN("plain ascii"), "plain ascii");
	expect_bytes(STR_AND_LEN("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x94\x92"), "gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x94\x92");
}

static void test_invalid_bytes_escaped(void **state)
{
	expect_bytes("a\xff" "b", 3, "a\\xffb");
	expect_bytes("nul\0x", 5, "nul\\x00x");
	expect_bytes("\xc0\xaf", 2, "\\xc0\\xaf");              /* overlong '/' */
	expect_bytes("\xed\xa0\x80", 3, "\\xed\\xa0\\x80");     /* UTF-16 surrogate */
	expect_bytes("\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80"); /* past U+10FFFF */
	expect_bytes("\xe2\x82", 2, "\\xe2\\x82");              /* truncated sequence */
	expect_bytes("\x80", 1, "\\x80");                       /* lone continuation */
}

static void test_utf16(void **state)
{
	static const uint8_t s[] = { 's', 0, 'd', 0, '-', 0, 0x3d, 0xd8, 0x12, 0xdd, 0, 0, 'x', 0 };
	static const uint8_t lone[] = { 0x00, 0xdc, 'a', 0 };
	json_t *j = sc_json_utf16le(s, sizeof(s));

	assert_string_equal(json_string_value(j), "sd-\xf0\x9f\x94\x92");
	json_decref(j);
	j = sc_json_utf16le(lone, sizeof(lone));
	assert_string_equal(json_string_value(j), "\xef\xbf\xbd" "a");
	json_decref(j);
	j = sc_json_utf16le(s, 3); /* odd length: the stray byte is dropped */
	assert_string_equal(json_string_value(j), "s");
	json_decref(j);
}

static void test_verdict(void **state)
{
	struct sc_check c[_SC_CHECK_MAX] = { 0 };
	unsigned all = 1u << SC_CHECK_CMDLINE | 1u << SC_CHECK_ROOT_MOUNT | 1u << SC_CHECK_SECURE_BOOT |
		       1u << SC_CHECK_COMPOSEFS_IMAGE;

	for (int i = 0; i < _SC_CHECK_MAX; i++)
		c[i].status = SC_STATUS_PASS;
	c[SC_CHECK_LOCKDOWN].status = SC_STATUS_ERROR; /* informational: does not count */
	assert_int_equal(sc_verdict_of(c, all), SC_VERDICT_SEALED);
	c[SC_CHECK_ROOT_MOUNT].status = SC_STATUS_ERROR;
	assert_int_equal(sc_verdict_of(c, all), SC_VERDICT_ERROR);
	c[SC_CHECK_CMDLINE].status = SC_STATUS_FAIL; /* a failure outranks an error */
	assert_int_equal(sc_verdict_of(c, all), SC_VERDICT_UNSEALED);
	c[SC_CHECK_CMDLINE].status = SC_STATUS_PASS;
	c[SC_CHECK_ROOT_MOUNT].status = SC_STATUS_SKIP; /* a required check that did not run */
	assert_int_equal(sc_verdict_of(c, all), SC_VERDICT_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_utf8_unchanged), cmocka_unit_test(test_invalid_bytes_escaped),
		cmocka_unit_test(test_utf16), cmocka_unit_test(test_verdict),
	};
	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
