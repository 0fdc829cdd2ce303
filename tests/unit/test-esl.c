/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "sc-esl.h"
#include "sc-fileio.h"
#include "sc-macro.h"

#define EV FIXTURES_DIR "/real-vm/snakeoil-user/sys/firmware/efi/efivars/"

static uint8_t *load(const char *path, size_t *len)
{
	char *buf = NULL;

	assert_int_equal(sc_read_file_capped(path, SC_EFIVAR_MAX, &buf, len), 0);
	assert_true(*len >= 4);
	/* Drop the 4-byte attribute word. */
	memmove(buf, buf + 4, *len - 4);
	*len -= 4;
	return (uint8_t *)buf;
}

struct counts {
	size_t x509, sha256, total;
};

static int count_cb(const struct sc_esl_entry *e, void *ud)
{
	static const uint8_t x509[16] = { 0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
					  0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72 };
	struct counts *c = ud;

	c->total++;
	if (memcmp(e->type, x509, 16) == 0) {
		c->x509++;
		assert_true(e->len > 0);
		assert_int_equal(e->data[0], 0x30); /* DER SEQUENCE */
	} else if (e->len == 32)
		c->sha256++;
	return 0;
}

static void test_real_pk(void **state)
{
	size_t len;
	_cleanup_free_ uint8_t *pk = load(EV "PK-8be4df61-93ca-11d2-aa0d-00e098032b8c", &len);
	struct sc_esl_summary s;
	struct counts c = { 0 };

	assert_int_equal(sc_esl_parse(pk, len, count_cb, &c, &s), 0);
	assert_false(s.malformed);
	assert_int_equal(s.n_lists, 1);
	assert_int_equal(s.n_entries, 1);
	assert_int_equal(c.x509, 1);
}

static void test_real_dbx(void **state)
{
	size_t len;
	_cleanup_free_ uint8_t *dbx = load(EV "dbx-d719b2cb-3d3a-4596-a3bc-dad00e67656f", &len);
	struct sc_esl_summary s;
	struct counts c = { 0 };

	assert_int_equal(sc_esl_parse(dbx, len, count_cb, &c, &s), 0);
	assert_false(s.malformed);
	assert_int_equal(c.sha256, s.n_entries);
}

static void test_every_truncation(void **state)
{
	size_t len;
	_cleanup_free_ uint8_t *pk = load(EV "PK-8be4df61-93ca-11d2-aa0d-00e098032b8c", &len);

	/* Any prefix: no overread (ASan watches), malformed unless empty, no entry past the end. */
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		struct sc_esl_summary s;
		struct counts c = { 0 };

		memcpy(copy, pk, cut);
		assert_int_equal(sc_esl_parse(copy, cut, count_cb, &c, &s), 0);
		assert_int_equal(s.malformed, cut != 0);
		assert_int_equal(c.total, 0);
		free(copy);
	}
}

static void test_lying_sizes(void **state)
{
	size_t len;
	_cleanup_free_ uint8_t *pk = load(EV "PK-8be4df61-93ca-11d2-aa0d-00e098032b8c", &len);
	static const struct {
		size_t off;
		uint32_t v;
		const char *why;
	} lies[] = {
		{ 16, 0xfffffff0u, "SignatureListSize" }, { 16, 27, "SignatureListSize" },
		{ 20, 0xffffffffu, "SignatureHeaderSize" }, { 24, 0, "SignatureSize" },
		{ 24, 15, "SignatureSize" }, { 24, 7777, "not a multiple" },
	};

	for (size_t i = 0; i < ELEMENTSOF(lies); i++) {
		_cleanup_free_ uint8_t *copy = malloc(len);
		struct sc_esl_summary s;

		memcpy(copy, pk, len);
		memcpy(copy + lies[i].off, &lies[i].v, 4);
		assert_int_equal(sc_esl_parse(copy, len, NULL, NULL, &s), 0);
		assert_true(s.malformed);
		if (!strstr(s.problem, lies[i].why))
			fail_msg("lie %zu: '%s' lacks '%s'", i, s.problem, lies[i].why);
	}
}

static void test_valid_then_garbage(void **state)
{
	size_t len;
	_cleanup_free_ uint8_t *pk = load(EV "PK-8be4df61-93ca-11d2-aa0d-00e098032b8c", &len);
	_cleanup_free_ uint8_t *two = malloc(len + 10);
	struct sc_esl_summary s;
	struct counts c = { 0 };

	memcpy(two, pk, len);
	memset(two + len, 0xee, 10);
	assert_int_equal(sc_esl_parse(two, len + 10, count_cb, &c, &s), 0);
	assert_true(s.malformed);
	assert_int_equal(s.n_lists, 1); /* what was valid is still reported */
	assert_int_equal(c.x509, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_pk),       cmocka_unit_test(test_real_dbx),
		cmocka_unit_test(test_every_truncation), cmocka_unit_test(test_lying_sizes),
		cmocka_unit_test(test_valid_then_garbage),
	};
	return cmocka_run_group_tests_name("esl", tests, NULL, NULL);
}
