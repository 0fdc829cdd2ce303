/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "sc-fileio.h"
#include "sc-macro.h"
#include "sc-report-validate.h"

/*
 * GCC 12 reports a "dangling pointer to buf" for the buffer template_text()
 * hands out through an out-parameter (a known false positive of
 * -Wdangling-pointer with inlined helpers); clang and ASan agree it is fine.
 */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif

/* A real report sealcheck produced for a sealed fixture tree. */
#define TEMPLATE FIXTURES_DIR "/../probe/sealed-report.json"

static char *template_text(size_t *len)
{
	char *buf = NULL;

	assert_int_equal(sc_read_file_capped(TEMPLATE, 1u << 20, &buf, len), 0);
	return buf;
}

static void expect_reject(const char *text, size_t len, const char *why_part)
{
	json_t *doc = NULL;
	char why[256] = "";

	assert_int_equal(sc_report_validate(text, len, &doc, why, sizeof(why)), -EBADMSG);
	assert_null(doc);
	if (!strstr(why, why_part))
		fail_msg("reason '%s' lacks '%s'", why, why_part);
}

/* Replace the first @old in the template by @new and expect a rejection. */
static void mutate_reject(const char *old, const char *new, const char *why_part)
{
	size_t len;
	char *t = template_text(&len), *m = NULL;
	size_t off;

	assert_non_null(strstr(t, old));
	off = (size_t)(strstr(t, old) - t);
	assert_true(asprintf(&m, "%.*s%s%s", (int)off, t, new, t + off + strlen(old)) > 0);
	expect_reject(m, strlen(m), why_part);
	free(m);
	free(t);
}

static void test_real_report_accepted(void **state)
{
	size_t len;
	_cleanup_free_ char *t = template_text(&len);
	json_t *doc = NULL;
	char why[256];

	assert_int_equal(sc_report_validate(t, len, &doc, why, sizeof(why)), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "verdict")), "sealed");
	json_decref(doc);
}

static void test_rejections(void **state)
{
	mutate_reject("\"verdict\"", "\"verdict\":\"sealed\",\"verdict\"", "duplicate");
	mutate_reject("\"sealed\"", "\"seal\\u0000ed\"", "NUL");
	mutate_reject("\"nonce\": null", "\"nonce\": 12", "nonce is not a string");
	mutate_reject("\"nonce\": null", "\"nonce\": \"ABCD\"", "64 lowercase hex");
	mutate_reject("\"schema\": \"sealcheck.report.v1\"", "\"schema\": \"sealcheck.report.v2\"", "schema");
	mutate_reject("\"notes\"", "\"admin\": true, \"notes\"", "unknown field 'admin'");
	mutate_reject("\"verdict\": \"sealed\"", "\"verdict\": \"trust me\"", "verdict");
	mutate_reject("\"status\": \"pass\"", "\"status\": \"PASS\"", "status");
	mutate_reject("\"status\": \"pass\"", "\"status\": 1", "status");
	mutate_reject("\"notes\"", "\"evidence\": 5, \"notes\"", "evidence is not an object");
	mutate_reject("\"checks\": {", "\"checks\": {\"extra\": {\"status\": \"pass\", \"reason\": \"x\"},",
		      "unknown check");
}

/* TPM evidence (docs/evidence.md) fits in v1 without a new version. */
static void test_evidence_room(void **state)
{
	size_t len, off;
	char *t = template_text(&len), *m = NULL;
	json_t *doc = NULL;
	char why[256];

	off = (size_t)(strstr(t, "\"notes\"") - t);
	assert_true(asprintf(&m, "%.*s\"evidence\": {\"tpm2_quote\": \"AAAA\", \"event_log\": \"AAAA\"}, %s",
			     (int)off, t, t + off) > 0);
	assert_int_equal(sc_report_validate(m, strlen(m), &doc, why, sizeof(why)), 0);
	json_decref(doc);
	free(m);
	free(t);
}

static void test_structural(void **state)
{
	char deep[256] = "{\"a\":";
	size_t n;

	expect_reject("", 0, "not valid JSON");
	expect_reject("[]", 2, "not a JSON object");
	expect_reject("{\"schema\":1}", 12, "missing field");
	expect_reject("{\"x\":\"\xff\"}", 8, "UTF-8");
	expect_reject("{\"x\":\"a\0b\"}", 11, "raw NUL");
	for (int i = 0; i < 20; i++)
		strcat(deep, "[");
	n = strlen(deep);
	for (int i = 0; i < 20; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	expect_reject(deep, n, "deeper");
}

/* system.deployment (agent/core/sc-bootc.h): null or absent accepted, then exactly its keys and types. */
#define D64 "abababababababababababababababababababababababababababababababab"
#define DEPLOYMENT                                                                                                  \
	"\"deployment\": {\"source\": \"bootc\", \"verity\": null, \"soft_reboot\": false, \"cmdline_verity\": null, " \
	"\"image\": {\"reference\": \"ostree-unverified-image:docker://quay.io/x:1\", \"image\": \"quay.io/x:1\", "     \
	"\"transport\": \"registry\", \"signature\": \"insecure\"}, \"image_digest\": null, \"boot_type\": \"uki\", "  \
	"\"boot_digest\": null, \"bootloader\": \"none\", \"origin_error\": null, \"staged\": null, "                  \
	"\"staged_error\": null}, \"hostname\""

static void with_deployment(const char *from, const char *to, const char *why_part)
{
	size_t len, off;
	_cleanup_free_ char *t = template_text(&len), *m = NULL, *d = NULL;
	const char *at = strstr(DEPLOYMENT, from);
	json_t *doc = NULL;
	char why[256] = "";

	assert_non_null(at);
	assert_true(asprintf(&d, "%.*s%s%s", (int)(at - DEPLOYMENT), DEPLOYMENT, to, at + strlen(from)) > 0);
	off = (size_t)(strstr(t, "\"hostname\"") - t);
	assert_true(asprintf(&m, "%.*s%s%s", (int)off, t, d, t + off + strlen("\"hostname\"")) > 0);
	if (!why_part) {
		assert_int_equal(sc_report_validate(m, strlen(m), &doc, why, sizeof(why)), 0);
		json_decref(doc);
	} else
		expect_reject(m, strlen(m), why_part);
}

static void test_deployment(void **state)
{
	with_deployment("\"source\"", "\"source\"", NULL);
	with_deployment("\"staged\": null",
			"\"staged\": {\"verity\": \"" D64 "\", \"finalization_locked\": true}", NULL);
	with_deployment("\"image_digest\": null", "\"image_digest\": \"sha256:" D64 "\"", NULL);
	with_deployment("\"staged\": null", "\"staged\": {\"verity\": \"ab\", \"finalization_locked\": true}",
			"staged is not an object");
	with_deployment("\"verity\": null", "\"verity\": \"../../etc\"", "verity is not a digest");
	with_deployment("\"image_digest\": null", "\"image_digest\": \"sha256:" D64 "0\"", "image_digest");
	with_deployment("\"image_digest\": null", "\"image_digest\": \"sha512:" D64 "\"", "image_digest");
	with_deployment("\"boot_type\": \"uki\"", "\"boot_type\": \"UKI\"", "boot_type");
	with_deployment("\"bootloader\": \"none\"", "\"bootloader\": \"lilo\"", "bootloader");
	with_deployment("\"transport\": \"registry\"", "\"transport\": \"http\"", "transport");
	mutate_reject("\"hostname\"", "\"deployment\": [], \"hostname\"", "system.deployment is not an object");
	with_deployment("\"source\": \"bootc\"", "\"source\": \"ostree\"", "source");
	with_deployment("\"soft_reboot\": false", "\"soft_reboot\": \"no\"", "soft_reboot");
	with_deployment("\"verity\": null", "\"verity\": 5", "system.deployment.verity is not a string");
	with_deployment("\"staged_error\": null", "\"staged_error\": null, \"admin\": true", "unknown field 'admin'");
	with_deployment("\"image_digest\": null, ", "", "missing field system.deployment.image_digest");
	with_deployment("\"signature\": \"insecure\"", "\"signature\": \"insecure\", \"x\": \"y\"", "image is not an object");
	with_deployment("\"transport\": \"registry\"", "\"transport\": 1", "image.transport is not a string");
	with_deployment("\"staged\": null", "\"staged\": {\"verity\": \"ab\"}", "staged is not an object");
	with_deployment("\"soft_reboot\": false, ", "", "soft_reboot is not a boolean");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_report_accepted),
		cmocka_unit_test(test_structural),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_evidence_room),
		cmocka_unit_test(test_deployment),
	};
	return cmocka_run_group_tests_name("report-validate", tests, NULL, NULL);
}
