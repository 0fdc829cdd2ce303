/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/sc-why: sc_why() and sc_why_errno(), which reads errno before it formats. */
#include <stdio.h>
#include <wchar.h>

#include "sc-why.h"
#include "unit.h"

/* A wide string the C locale cannot convert: vsnprintf()'s %ls sets errno to EILSEQ. */
static const wchar_t unconvertible[] = { 0x00e9, 0 };

static void test_why(void **state)
{
	char why[64];

	(void)state;
	assert_int_equal(sc_why(-EPERM, why, sizeof(why), "no %s", "key"), -EPERM);
	assert_string_equal(why, "no key");
	assert_int_equal(sc_why(-EINVAL, NULL, 0, "x"), -EINVAL);
	assert_int_equal(sc_why(-EINVAL, why, 4, "%s", "truncated"), -EINVAL);
	assert_string_equal(why, "tru");
}

static void test_why_errno_reads_errno_first(void **state)
{
	char why[64];
	int naive;

	(void)state;
	/* The clobber is real: the comma form returns what formatting left in errno, not the failure's. */
	errno = ENOENT;
	naive = (snprintf(why, sizeof(why), "x %ls", unconvertible), -errno);
	assert_int_equal(naive, -EILSEQ);

	errno = ENOENT;
	assert_int_equal(sc_why_errno(why, sizeof(why), "x %ls", unconvertible), -ENOENT);
	assert_int_equal(errno, ENOENT);
	/* %m says the errno captured */
	errno = EACCES;
	assert_int_equal(sc_why_errno(why, sizeof(why), "open %s: %m", "f"), -EACCES);
	assert_string_equal(why, "open f: Permission denied");
	/* errno 0 is never success */
	errno = 0;
	assert_int_equal(sc_why_errno(why, sizeof(why), "odd"), -EIO);
	/* no buffer: still the error */
	errno = ENOSPC;
	assert_int_equal(sc_why_errno(NULL, 0, "x"), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_why),
		cmocka_unit_test(test_why_errno_reads_errno_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
