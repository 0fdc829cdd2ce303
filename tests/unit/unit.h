/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every cmocka unit test includes. cmocka's asserts survive NDEBUG. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#define STR_AND_LEN(s) (s), strlen(s)

/* A fixture file's bytes, NUL-terminated for text (below FIXTURES_DIR when @name is relative). */
struct blob {
	uint8_t *p;
	size_t len;
};

#ifdef FIXTURES_DIR
#include <stdio.h>
#include <stdlib.h>

static inline struct blob unit_fixture(const char *sub, const char *name)
{
	char path[512];
	struct blob b = { 0 };
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s/%s", FIXTURES_DIR, sub, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0 && n < 1 << 20);
	rewind(f);
	b.p = malloc((size_t)n + 1);
	assert_non_null(b.p);
	assert_int_equal(fread(b.p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	b.len = (size_t)n;
	b.p[n] = 0;
	return b;
}
#endif
