/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * agent/core/sc-report-json.c: the sealcheck.report.v1 document of a small
 * report, exactly (docs/report.md), from a fixture root; what the system says
 * about itself (hostname, kernel release) escaped into valid UTF-8 JSON.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "sc-checks.h"
#include "sc-json.h"
#include "unit.h"

static char root[64];

static void put_file(const char *rel, const char *data, size_t len)
{
	char path[256], dir[256];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = strchr(strcpy(dir, path) + strlen(root) + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		(void)mkdir(dir, 0755);
		*p = '/';
	}
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/sc-report-json-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	put_file("etc/machine-id", STR_AND_LEN("0123456789abcdef0123456789abcdef\n"));
	put_file("proc/sys/kernel/random/boot_id", STR_AND_LEN("a196d4c2-1111-2222-3333-444455556666\n"));
	put_file("proc/sys/kernel/osrelease", STR_AND_LEN("6.12.95+deb12-cloud-amd64\n"));
	/*
	 * A hostname with a terminal escape, a quote, a backslash, a bidi override and a byte that is not
	 * UTF-8: JSON escapes the first four (a terminal escapes them when shown, sc-term.h); the byte
	 * becomes the text \xff (sc-json.h); the first line only.
	 */
	put_file("proc/sys/kernel/hostname", STR_AND_LEN("evil\x1b[2J\"\\\xe2\x80\xae\xff\nsecond line\n"));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void small_report(struct sc_report *rep, bool objects)
{
	memset(rep, 0, sizeof(*rep));
	for (int i = 0; i < _SC_CHECK_MAX; i++)
		assert_int_equal(sc_check_init(&rep->checks[i]), 0);
	rep->kind = SC_SEAL_COMPOSEFS;
	rep->verdict = SC_VERDICT_UNSEALED;
	rep->objects_checked = objects;
	assert_int_equal(sc_check_set(&rep->checks[SC_CHECK_CMDLINE], SC_STATUS_PASS, "composefs=%s", "22daa96e"), 0);
	assert_int_equal(json_object_set_new(rep->checks[SC_CHECK_CMDLINE].facts, "raw",
					     sc_json_bytes(STR_AND_LEN("ro composefs=22daa96e \x01\xc3"))),
			 0);
	assert_int_equal(sc_check_set(&rep->checks[SC_CHECK_ROOT_MOUNT], SC_STATUS_FAIL, "no verity=require"), 0);
	assert_int_equal(sc_check_set(&rep->checks[SC_CHECK_SECURE_BOOT], SC_STATUS_ERROR, "SecureBoot: %s",
				      "malformed"),
			 0);
	assert_int_equal(sc_check_set(&rep->checks[SC_CHECK_COMPOSEFS_IMAGE], SC_STATUS_SKIP, "n/a"), 0);
	assert_int_equal(sc_check_set(&rep->checks[SC_CHECK_LOCKDOWN], SC_STATUS_PASS, "lockdown: integrity"), 0);
	assert_int_equal(sc_check_set(&rep->checks[SC_CHECK_OBJECTS], SC_STATUS_PASS, "all 3 objects"), 0);
}

static void report_done(struct sc_report *rep)
{
	for (int i = 0; i < _SC_CHECK_MAX; i++)
		sc_check_done(&rep->checks[i]);
}

/* The document with its two fields that are not the fixture's (the time now, the test's own unit) checked and removed. */
static char *dump_fixed(json_t *doc)
{
	json_t *agent = json_object_get(doc, "agent"), *unit = json_object_get(agent, "unit");
	const char *t = json_string_value(json_object_get(doc, "time"));

	/* RFC 3339, UTC: 2026-12-07T12:33:00Z */
	assert_non_null(t);
	assert_int_equal(strlen(t), 20);
	assert_true(t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' && t[16] == ':' && t[19] == 'Z');
	assert_true(json_is_null(unit) || json_is_string(unit));
	assert_int_equal(json_object_del(doc, "time"), 0);
	assert_int_equal(json_object_del(agent, "unit"), 0);
	return json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
}

#define NOTES                                                                                                    \
	"\"notes\":[\"/etc and /var are per-deployment state (bind mounts from /sysroot/state/deploy/<id>/): the " \
	"seal does not cover them\",\"this report is self-reported by the guest: without TPM-bound evidence it " \
	"is a claim, a nonce proves freshness, not truth\",\"file contents are checked by the kernel when read " \
	"(verity=require); this report does not read every file\"]"

static void test_exact(void **state)
{
	struct sc_paths paths = { .root = root, .sysroot = "/sysroot" };
	struct sc_report rep;
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *s = NULL;

	(void)state;
	small_report(&rep, false);
	assert_int_equal(sc_report_to_json(&paths, &rep, NULL, &doc), 0);
	s = dump_fixed(doc);
	assert_non_null(s);
	assert_string_equal(
		s, "{\"agent\":{\"version\":\"" PACKAGE_VERSION "\"},"
		   "\"checks\":{"
		   "\"cmdline\":{\"raw\":\"ro composefs=22daa96e \\u0001\\\\xc3\",\"reason\":\"composefs=22daa96e\","
		   "\"status\":\"pass\"},"
		   "\"composefs_image\":{\"reason\":\"n/a\",\"status\":\"skip\"},"
		   "\"lockdown\":{\"reason\":\"lockdown: integrity\",\"status\":\"pass\"},"
		   "\"root_mount\":{\"reason\":\"no verity=require\",\"status\":\"fail\"},"
		   "\"secure_boot\":{\"reason\":\"SecureBoot: malformed\",\"status\":\"error\"}},"
		   "\"nonce\":null," NOTES ",\"schema\":\"sealcheck.report.v1\",\"seal_kind\":\"composefs\","
		   "\"system\":{\"boot_id\":\"a196d4c2111122223333444455556666\",\"deployment\":null,"
		   "\"hostname\":\"evil\\u001B[2J\\\"\\\\\\u202E\\\\xff\","
		   "\"kernel_release\":\"6.12.95+deb12-cloud-amd64\","
		   "\"machine_id\":\"0123456789abcdef0123456789abcdef\"},"
		   "\"verdict\":\"unsealed\"}");
	report_done(&rep);
}

/* checks.objects only when it was asked for; the nonce as given. */
static void test_objects_and_nonce(void **state)
{
	static const char nonce[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct sc_paths paths = { .root = root, .sysroot = "/sysroot" };
	struct sc_report rep;
	_cleanup_json_ json_t *doc = NULL;
	json_t *checks;

	(void)state;
	small_report(&rep, true);
	assert_int_equal(sc_report_to_json(&paths, &rep, nonce, &doc), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "nonce")), nonce);
	checks = json_object_get(doc, "checks");
	assert_int_equal(json_object_size(checks), 6);
	assert_string_equal(json_string_value(json_object_get(json_object_get(checks, "objects"), "reason")),
			    "all 3 objects");
	report_done(&rep);
}

/* A root without the identity files: null, never an error. */
static void test_missing_identity(void **state)
{
	char empty[sizeof(root) + 8];
	struct sc_paths paths = { .root = empty, .sysroot = "/sysroot" };
	struct sc_report rep;
	_cleanup_json_ json_t *doc = NULL;
	json_t *sys;

	(void)state;
	snprintf(empty, sizeof(empty), "%s/empty", root);
	assert_int_equal(mkdir(empty, 0755), 0);
	small_report(&rep, false);
	assert_int_equal(sc_report_to_json(&paths, &rep, NULL, &doc), 0);
	sys = json_object_get(doc, "system");
	assert_true(json_is_null(json_object_get(sys, "machine_id")));
	assert_true(json_is_null(json_object_get(sys, "boot_id")));
	assert_true(json_is_null(json_object_get(sys, "hostname")));
	assert_true(json_is_null(json_object_get(sys, "kernel_release")));
	report_done(&rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_objects_and_nonce),
		cmocka_unit_test(test_missing_identity),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
