/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sc_term_escape(): every class of byte that could steer a terminal, byte by byte. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "sc-json.h"
#include "sc-term.h"

static void expect_flags(const char *in, size_t len, unsigned flags, const char *want)
{
	char *out = NULL;

	assert_int_equal(sc_term_escape(in, len, flags, &out), 0);
	assert_non_null(out);
	assert_string_equal(out, want);
	/* Whatever went in, what comes out is valid UTF-8 with no control character but a kept \n. */
	assert_true(sc_utf8_valid(out, strlen(out)));
	for (const unsigned char *p = (const unsigned char *)out; *p; p++)
		assert_true(*p >= 0x20 ? *p != 0x7f : (*p == '\n' && (flags & SC_TERM_KEEP_NEWLINE)));
	free(out);
}

static void expect(const char *in, size_t len, const char *want)
{
	expect_flags(in, len, 0, want);
}

static void test_every_c0_byte(void **state)
{
	for (unsigned b = 0; b < 0x20; b++) {
		char in[3] = { 'a', (char)b, 'z' }, want[8];

		snprintf(want, sizeof(want), "a\\x%02xz", b);
		expect(in, 3, want);
		/* With KEEP_NEWLINE only LF passes; CR, TAB, ESC, NUL stay escaped. */
		expect_flags(in, 3, SC_TERM_KEEP_NEWLINE, b == '\n' ? "a\nz" : want);
	}
	expect("\x7f", 1, "\\x7f");
	expect_flags("\x7f", 1, SC_TERM_KEEP_NEWLINE, "\\x7f");
}

static void test_printable_ascii_passes(void **state)
{
	for (unsigned b = 0x20; b < 0x7f; b++) {
		char in[1] = { (char)b }, want[2] = { (char)b, 0 };

		expect(in, 1, want);
	}
}

static void test_every_c1_control(void **state)
{
	for (unsigned b = 0x80; b <= 0x9f; b++) {
		char in[2] = { (char)0xc2, (char)b }, want[16];

		snprintf(want, sizeof(want), "\\xc2\\x%02x", b);
		expect(in, 2, want);
	}
	/* U+00A0 (NBSP) and U+00E9 are not controls. */
	expect("\xc2\xa0", 2, "\xc2\xa0");
	expect("\xc3\xa9", 2, "\xc3\xa9");
}

static void test_every_raw_high_byte_alone(void **state)
{
	/* No byte 0x80..0xff is valid UTF-8 on its own: each one alone is escaped. */
	for (unsigned b = 0x80; b <= 0xff; b++) {
		char in[1] = { (char)b }, want[8];

		snprintf(want, sizeof(want), "\\x%02x", b);
		expect(in, 1, want);
	}
}

static void test_invalid_utf8(void **state)
{
	expect("\xc0\xaf", 2, "\\xc0\\xaf");                      /* overlong '/' (2 bytes) */
	expect("\xc1\xbf", 2, "\\xc1\\xbf");                      /* overlong (2 bytes) */
	expect("\xe0\x80\xaf", 3, "\\xe0\\x80\\xaf");             /* overlong '/' (3 bytes) */
	expect("\xe0\x9f\xbf", 3, "\\xe0\\x9f\\xbf");             /* overlong U+07FF */
	expect("\xf0\x80\x80\xaf", 4, "\\xf0\\x80\\x80\\xaf");    /* overlong '/' (4 bytes) */
	expect("\xf0\x8f\xbf\xbf", 4, "\\xf0\\x8f\\xbf\\xbf");    /* overlong U+FFFF */
	expect("\xed\xa0\x80", 3, "\\xed\\xa0\\x80");             /* surrogate U+D800 */
	expect("\xed\xbf\xbf", 3, "\\xed\\xbf\\xbf");             /* surrogate U+DFFF */
	expect("\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80");    /* U+110000 */
	expect("\xf5\x80\x80\x80", 4, "\\xf5\\x80\\x80\\x80");    /* lead past U+10FFFF */
	expect("\xe2\x82", 2, "\\xe2\\x82");                      /* truncated at the end */
	expect("\xe2\x82x", 3, "\\xe2\\x82x");                    /* truncated by ASCII */
	expect("\xf0\x9f\x94", 3, "\\xf0\\x9f\\x94");             /* truncated 4-byte */
	expect("\xc2\x1b[2J", 5, "\\xc2\\x1b[2J");                /* truncated, then ESC */
	expect("\x80\xbf", 2, "\\x80\\xbf");                      /* lone continuations */
	expect("a\0b", 3, "a\\x00b");                             /* NUL inside the length */
}

static void test_attacks(void **state)
{
	/* Clear the screen. */
	expect(STR_AND_LEN("\x1b[2J"), "\\x1b[2J");
	/* A line that returns to column 0 and writes its own verdict over the real one. */
	expect(STR_AND_LEN("ok\rVerdict: SEALED\r"), "ok\\x0dVerdict: SEALED\\x0d");
	expect(STR_AND_LEN("x\n\nVerdict: SEALED\r"), "x\\x0a\\x0aVerdict: SEALED\\x0d");
	/* CSI as the single raw byte 0x9b and as the C1 code point U+009B (C2 9B). */
	expect(STR_AND_LEN("\x9b" "2J"), "\\x9b2J");
	expect(STR_AND_LEN("\xc2\x9b" "2J"), "\\xc2\\x9b2J");
	/* OSC 8 hyperlink, BEL-terminated. */
	expect(STR_AND_LEN("\x1b]8;;http://x\x07"), "\\x1b]8;;http://x\\x07");
}

static void test_bidi(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "\xe2\x80\xaa", "\\u{202A}" }, { "\xe2\x80\xab", "\\u{202B}" }, { "\xe2\x80\xac", "\\u{202C}" },
		{ "\xe2\x80\xad", "\\u{202D}" }, { "\xe2\x80\xae", "\\u{202E}" }, { "\xe2\x81\xa6", "\\u{2066}" },
		{ "\xe2\x81\xa7", "\\u{2067}" }, { "\xe2\x81\xa8", "\\u{2068}" }, { "\xe2\x81\xa9", "\\u{2069}" },
		{ "\xe2\x80\x8e", "\\u{200E}" }, { "\xe2\x80\x8f", "\\u{200F}" }, { "\xe2\x80\xa8", "\\u{2028}" },
		{ "\xe2\x80\xa9", "\\u{2029}" }, { "\xd8\x9c", "\\u{061C}" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		expect(STR_AND_LEN(cases[i].in), cases[i].want);
	/* Trojan Source: "FAIL" shown reversed by RLO ... PDF. */
	expect(STR_AND_LEN("\xe2\x80\xae" "LIAF" "\xe2\x80\xac" " PASS"), "\\u{202E}LIAF\\u{202C} PASS");
	/* Neighbours are ordinary punctuation and pass: U+200D, U+2027, U+202F, U+2065, U+206A. */
	expect(STR_AND_LEN("\xe2\x80\x8d\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa"),
	       "\xe2\x80\x8d\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa");
	/* The 2-byte mark between text: nothing around it lost. */
	expect(STR_AND_LEN("a\xd8\x9c" "bc"), "a\\u{061C}bc");
	/* U+061B and U+061D, next to the Arabic letter mark, are text. */
	expect(STR_AND_LEN("\xd8\x9b\xd8\x9d"), "\xd8\x9b\xd8\x9d");
}

static void test_valid_multibyte_kept(void **state)
{
	const char *s = "gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x94\x92 O=SnakeOil,L=Fort Collins \xe4\xb8\xad\xe6\x96\x87 \xf4\x8f\xbf\xbf";

	expect(STR_AND_LEN(s), s);
	expect("", 0, "");
}

static void test_keep_newline(void **state)
{
	expect_flags(STR_AND_LEN("line 1\nline 2\r\n\x1b[31mred\n"), SC_TERM_KEEP_NEWLINE,
		     "line 1\nline 2\\x0d\n\\x1b[31mred\n");
	expect(STR_AND_LEN("line 1\nline 2"), "line 1\\x0aline 2");
}

static void test_fput(void **state)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	assert_non_null(f);
	assert_int_equal(sc_term_fput(f, STR_AND_LEN("a\x1b" "b"), 0), 0);
	assert_int_equal(sc_term_fput(f, NULL, 0, 0), 0);
	assert_int_equal(sc_term_fput(f, "x\ny", 3, SC_TERM_KEEP_NEWLINE), 0);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(buf, "a\\x1bb(none)x\ny");
	free(buf);
}

static void test_overflow(void **state)
{
	char *out = (char *)0x1;

	assert_int_equal(sc_term_escape("", SIZE_MAX / 4 + 1, 0, &out), -EOVERFLOW);
	assert_ptr_equal(out, (char *)0x1); /* untouched on failure */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_c0_byte),	    cmocka_unit_test(test_printable_ascii_passes),
		cmocka_unit_test(test_every_c1_control),    cmocka_unit_test(test_every_raw_high_byte_alone),
		cmocka_unit_test(test_invalid_utf8),	    cmocka_unit_test(test_attacks),
		cmocka_unit_test(test_bidi),		    cmocka_unit_test(test_valid_multibyte_kept),
		cmocka_unit_test(test_keep_newline),	    cmocka_unit_test(test_fput),
		cmocka_unit_test(test_overflow),
	};
	return cmocka_run_group_tests_name("term", tests, NULL, NULL);
}
