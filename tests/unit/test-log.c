/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/sc-log: sc_log_error() escapes its string arguments, leaves the rest to printf, stays bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sc-log.h"
#include "unit.h"

static void test_strings_escaped(void **state)
{
	char buf[256];
	const char *volatile none = NULL; /* hidden from the compiler's format check */

	(void)state;
	/* ESC (a screen clear), CR (a line rewritten), BEL, DEL, invalid UTF-8, a C1 CSI, a bidi override */
	sc_log_format(buf, sizeof(buf), "dev %s: x", "\x1b[2J/dev/vport\r\a\x7f\xff\xc2\x9b\xe2\x80\xae!");
	assert_string_equal(buf, "dev \\x1b[2J/dev/vport\\x0d\\x07\\x7f\\xff\\xc2\\x9b\\u{202E}!: x");
	/* valid UTF-8 passes; %c is escaped too; NULL is "(null)" */
	sc_log_format(buf, sizeof(buf), "%s|%c|%c|%s", "Grüße", 'a', '\x1b', none);
	assert_string_equal(buf, "Grüße|a|\\x1b|(null)");
	/* the format's own text is the program's: not escaped */
	sc_log_format(buf, sizeof(buf), "tab\there");
	assert_string_equal(buf, "tab\there");
	/* width and precision: "%.*s" never reads past the precision (not NUL-terminated here) */
	{
		const char word[4] = { 'a', '\r', 'c', 'd' };

		sc_log_format(buf, sizeof(buf), "[%.*s][%5s][%-4s]", 3, word, "ab", "\n");
		assert_string_equal(buf, "[a\\x0dc][   ab][\\x0a]");
	}
}

static void test_other_conversions_untouched(void **state)
{
	char buf[256], want[256];

	(void)state;
	sc_log_format(buf, sizeof(buf), "%d %5d %-3i| %u %x %#X %o %zu %zd %lld %llu %ld %hhu %jd %.2f %e %g %p %%",
		      -7, 42, 3, 4000000000u, 255u, 255u, 8u, (size_t)12345, (ssize_t)-5, -1234567890123LL,
		      18446744073709551615ULL, -9L, (unsigned char)200, (intmax_t)-1, 3.14159, 1e10, 0.5, (void *)buf);
	snprintf(want, sizeof(want), "%d %5d %-3i| %u %x %#X %o %zu %zd %lld %llu %ld %hhu %jd %.2f %e %g %p %%", -7, 42, 3,
		 4000000000u, 255u, 255u, 8u, (size_t)12345, (ssize_t)-5, -1234567890123LL, 18446744073709551615ULL, -9L,
		 (unsigned char)200, (intmax_t)-1, 3.14159, 1e10, 0.5, (void *)buf);
	assert_string_equal(buf, want);
	/* * width and precision take their int arguments; the arguments after them are still read in order */
	sc_log_format(buf, sizeof(buf), "%*d|%-*d|%.*f|%s", 4, 7, 3, 8, 1, 2.25, "end");
	assert_string_equal(buf, "   7|8  |2.2|end");
	/* %m: the errno given */
	errno = ENOENT;
	sc_log_format(buf, sizeof(buf), "open: %m (%s)", "x");
	snprintf(want, sizeof(want), "open: %s (x)", strerror(ENOENT));
	assert_string_equal(buf, want);
}

static void test_bounded(void **state)
{
	char buf[16], big[4 * SC_LOG_ARG_MAX + 64];
	char *arg = malloc(3 * SC_LOG_ARG_MAX);
	size_t n;

	(void)state;
	assert_non_null(arg);
	/* cut to the buffer, ending "..." */
	n = sc_log_format(buf, sizeof(buf), "%s and more", "0123456789abcdefghij");
	assert_int_equal(n, sizeof(buf) - 1);
	assert_string_equal(buf, "0123456789ab...");
	/* escaping expands 4 times: still cut at the buffer, never past it */
	memset(buf, 'Z', sizeof(buf));
	n = sc_log_format(buf, 10, "%s", "\x01\x02\x03\x04");
	assert_int_equal(n, 9);
	assert_string_equal(buf, "\\x01\\x...");
	assert_int_equal(buf[10], 'Z');
	/* a UTF-8 sequence is not split by the cut */
	n = sc_log_format(buf, 9, "abc%s", "ééé");
	assert_string_equal(buf, "abcé...");
	assert_int_equal(n, 8);
	n = sc_log_format(buf, 8, "abc%s", "ééé");
	assert_string_equal(buf, "abc...");
	assert_int_equal(n, 6);
	/* size 0 writes nothing */
	assert_int_equal(sc_log_format(buf, 0, "%s", "x"), 0);
	/* one argument shows at most SC_LOG_ARG_MAX bytes, then "...", and is not read further */
	memset(arg, 'a', 3 * SC_LOG_ARG_MAX - 1);
	arg[3 * SC_LOG_ARG_MAX - 1] = '\0';
	n = sc_log_format(big, sizeof(big), "<%s>", arg);
	assert_int_equal(n, SC_LOG_ARG_MAX + 5);
	assert_memory_equal(big + 1 + SC_LOG_ARG_MAX, "...>", 5);
	free(arg);
}

static void test_log_error_line(void **state)
{
	FILE *tmp = tmpfile();
	char out[256] = "", want[256];
	int saved = dup(STDERR_FILENO);
	size_t n;

	(void)state;
	assert_non_null(tmp);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fileno(tmp), STDERR_FILENO), STDERR_FILENO);
	sc_log_open("sealcheck", "verify");
	errno = EACCES;
	sc_log_error("--root %s: %m (%d)", "/tmp/\x1b]0;owned\a", 5);
	assert_int_equal(errno, EACCES); /* kept */
	/* The last message's text, escaped, without the prefix or the newline (a --json error repeats it). */
	snprintf(want, sizeof(want), "--root /tmp/\\x1b]0;owned\\x07: %s (5)", strerror(EACCES));
	assert_string_equal(sc_log_last(), want);
	sc_log_open("sealcheck", NULL);
	sc_log_error("plain");
	sc_log_open(NULL, "verify");
	sc_log_error("none");
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, sizeof(out) - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	snprintf(want, sizeof(want), "sealcheck verify: --root /tmp/\\x1b]0;owned\\x07: %s (5)\nsealcheck: plain\nnone\n",
		 strerror(EACCES));
	assert_string_equal(out, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings_escaped),
		cmocka_unit_test(test_other_conversions_untouched),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_log_error_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
