/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sc-fileio.h"
#include "sc-macro.h"

static char *make_file(size_t size)
{
	char *path = strdup("/tmp/sealcheck-fileio.XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	for (size_t i = 0; i < size; i++)
		assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	return path;
}

static void test_cap(void **state)
{
	_cleanup_free_ char *p = make_file(10000), *buf = NULL;
	size_t len;

	assert_int_equal(sc_read_file_capped(p, 10000, &buf, &len), 0);
	assert_int_equal(len, 10000);
	assert_int_equal(buf[len], '\0');
	free(buf);
	buf = NULL;
	assert_int_equal(sc_read_file_capped(p, 9999, &buf, &len), -EFBIG);
	assert_null(buf);
	unlink(p);
}

static void test_empty_and_missing(void **state)
{
	_cleanup_free_ char *p = make_file(0), *buf = NULL;
	size_t len = 99;

	assert_int_equal(sc_read_file_capped(p, 10, &buf, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	unlink(p);
	assert_int_equal(sc_read_file_capped("/nonexistent-sealcheck", 10, &buf, &len), -ENOENT);
}

static void test_path_join(void **state)
{
	struct sc_paths system = SC_PATHS_SYSTEM, fixture = { .root = "/fix/tree//", .sysroot = "/sysroot" };
	char *p;

	assert_int_equal(sc_path_join(&system, "/proc/cmdline", &p), 0);
	assert_string_equal(p, "/proc/cmdline");
	free(p);
	assert_int_equal(sc_path_join(&fixture, "/proc/cmdline", &p), 0);
	assert_string_equal(p, "/fix/tree/proc/cmdline");
	free(p);
	assert_int_equal(sc_path_join(&fixture, "relative", &p), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap), cmocka_unit_test(test_empty_and_missing), cmocka_unit_test(test_path_join),
	};
	return cmocka_run_group_tests_name("fileio", tests, NULL, NULL);
}
