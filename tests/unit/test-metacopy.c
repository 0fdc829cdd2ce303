/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit.h"

#include "sc-metacopy.h"

static void test_metacopy(void **state)
{
	uint8_t v[68] = { 0, 68, 0, 2 };
	struct sc_digest d;

	for (int i = 4; i < 68; i++)
		v[i] = (uint8_t)i;
	assert_int_equal(sc_metacopy_parse(v, 68, &d), 0);
	assert_int_equal(d.alg, SC_HASH_SHA512);
	assert_int_equal(d.len, 64);
	assert_int_equal(d.bytes[0], 4);
	v[1] = 36, v[3] = 1; /* SHA-256 */
	assert_int_equal(sc_metacopy_parse(v, 36, &d), 0);
	assert_int_equal(d.alg, SC_HASH_SHA256);
	/* Every malformed field. */
	assert_int_equal(sc_metacopy_parse(v, 0, &d), -ENODATA); /* empty: no digest */
	assert_int_equal(sc_metacopy_parse(v, 3, &d), -EBADMSG);
	assert_int_equal(sc_metacopy_parse(v, 68, &d), -EBADMSG); /* len field says 36 */
	v[1] = 68, v[3] = 1;
	assert_int_equal(sc_metacopy_parse(v, 68, &d), -EBADMSG); /* SHA-256 tag over 64 bytes */
	v[3] = 3;
	assert_int_equal(sc_metacopy_parse(v, 68, &d), -EBADMSG); /* unknown algorithm */
	v[3] = 2, v[0] = 1;
	assert_int_equal(sc_metacopy_parse(v, 68, &d), -EBADMSG); /* version */
	v[0] = 0, v[2] = 1;
	assert_int_equal(sc_metacopy_parse(v, 68, &d), -EBADMSG); /* flags */
	v[2] = 0;
	assert_int_equal(sc_metacopy_parse(v, 68, &d), 0);
	v[1] = 4;
	assert_int_equal(sc_metacopy_parse(v, 4, &d), -EBADMSG); /* header without a digest */
}

static void test_redirect(void **state)
{
	char out[64];

	assert_int_equal(sc_redirect_parse(STR_AND_LEN("/4d/8ad98"), out, sizeof(out)), 0);
	assert_string_equal(out, "4d/8ad98");
	assert_int_equal(sc_redirect_parse(STR_AND_LEN("4d/8ad98"), out, sizeof(out)), -EBADMSG);
	assert_int_equal(sc_redirect_parse(STR_AND_LEN("/"), out, sizeof(out)), -EBADMSG);
	assert_int_equal(sc_redirect_parse(STR_AND_LEN("/../etc/passwd"), out, sizeof(out)), -EBADMSG);
	assert_int_equal(sc_redirect_parse(STR_AND_LEN("/4d/../../x"), out, sizeof(out)), -EBADMSG);
	assert_int_equal(sc_redirect_parse(STR_AND_LEN("/4d/./x"), out, sizeof(out)), -EBADMSG);
	assert_int_equal(sc_redirect_parse(STR_AND_LEN("/4d//x"), out, sizeof(out)), -EBADMSG);
	assert_int_equal(sc_redirect_parse(STR_AND_LEN("/4d/x/"), out, sizeof(out)), -EBADMSG);
	assert_int_equal(sc_redirect_parse("/4d/\0x", 6, out, sizeof(out)), -EBADMSG);
	assert_int_equal(sc_redirect_parse(STR_AND_LEN("/4d/..x"), out, sizeof(out)), 0); /* a name, not ".." */
	assert_int_equal(sc_redirect_parse(STR_AND_LEN("/0123456789"), out, 8), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metacopy),
		cmocka_unit_test(test_redirect),
	};
	return cmocka_run_group_tests_name("metacopy", tests, NULL, NULL);
}
