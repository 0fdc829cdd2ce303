/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The checks against the real captures (tests/fixtures/real-vm) and the mode table. */
#include "unit.h"

#include "config.h"
#include "sc-dmverity.h"

#include "sc-checks.h"
#include "sc-json.h"
#include "sc-verify.h"

#define REAL(name) FIXTURES_DIR "/real-vm/" name

static void test_sb_mode_table(void **state)
{
	/* systemd src/fundamental/efivars-fundamental.c, UEFI 2.9 table. */
	assert_int_equal(sc_sb_mode_decode(1, 0, 0, 1), SC_SB_DEPLOYED);
	assert_int_equal(sc_sb_mode_decode(1, 0, 0, 0), SC_SB_USER);
	assert_int_equal(sc_sb_mode_decode(0, 1, 1, 0), SC_SB_AUDIT);
	assert_int_equal(sc_sb_mode_decode(0, 1, 0, 0), SC_SB_SETUP);
	assert_int_equal(sc_sb_mode_decode(0, 0, 0, 0), SC_SB_DISABLED);
	assert_int_equal(sc_sb_mode_decode(-1, 0, 0, 0), SC_SB_UNSUPPORTED);
	assert_int_equal(sc_sb_mode_decode(1, 1, 0, 0), SC_SB_UNKNOWN);
	assert_int_equal(sc_sb_mode_decode(1, 0, 1, 0), SC_SB_UNKNOWN);
	assert_int_equal(sc_sb_mode_decode(0, 0, 0, 1), SC_SB_UNKNOWN);
	assert_string_equal(sc_sb_mode_name(SC_SB_DEPLOYED), "deployed");
}

static void run_sb(const char *root, enum sc_status want, const char *mode)
{
	struct sc_paths p = { .root = root, .sysroot = "/sysroot" };
	struct sc_check c;

	assert_int_equal(sc_check_init(&c), 0);
	assert_int_equal(sc_check_secure_boot(&p, &c), 0);
	if (c.status != want)
		fail_msg("%s: %s (%s)", root, sc_status_name(c.status), c.reason);
	assert_string_equal(json_string_value(json_object_get(c.facts, "mode")), mode);
	sc_check_done(&c);
}

static void test_sb_real_captures(void **state)
{
	run_sb(REAL("snakeoil-user"), SC_STATUS_PASS, "user");
	run_sb(REAL("setup-mode"), SC_STATUS_FAIL, "setup");
	run_sb(REAL("bios"), SC_STATUS_FAIL, "unsupported");
}

static void test_sb_real_certificates(void **state)
{
	struct sc_paths p = { .root = REAL("snakeoil-user"), .sysroot = "/sysroot" };
	struct sc_check c;
	json_t *cert;

	assert_int_equal(sc_check_init(&c), 0);
	assert_int_equal(sc_check_secure_boot(&p, &c), 0);
	cert = json_array_get(json_object_get(json_object_get(c.facts, "PK"), "certificates"), 0);
	assert_non_null(cert);
	assert_non_null(strstr(json_string_value(json_object_get(cert, "subject")), "O=SnakeOil"));
	assert_int_equal(strlen(json_string_value(json_object_get(cert, "sha256"))), 64);
	assert_string_equal(json_string_value(json_object_get(c.facts, "mokutil")), "SecureBoot enabled");
	assert_true(json_is_string(json_object_get(c.facts, "stub_info")));
	sc_check_done(&c);
}

static void test_lockdown(void **state)
{
	struct sc_paths p = { .root = REAL("snakeoil-user"), .sysroot = "/sysroot" };
	struct sc_check c;

	assert_int_equal(sc_check_init(&c), 0);
	assert_int_equal(sc_check_lockdown(&p, &c), 0);
	assert_int_equal(c.status, SC_STATUS_PASS);
	assert_string_equal(json_string_value(json_object_get(c.facts, "mode")), "integrity");
	sc_check_done(&c);
	p.root = "/nonexistent-sealcheck";
	assert_int_equal(sc_check_init(&c), 0);
	assert_int_equal(sc_check_lockdown(&p, &c), 0);
	assert_int_equal(c.status, SC_STATUS_SKIP);
	sc_check_done(&c);
}

static void test_root_mount_real(void **state)
{
	struct sc_paths p = { .root = REAL("snakeoil-user"), .sysroot = "/sysroot" };
	struct sc_seal_cmdline cmd;
	struct sc_check c1, c2;
	int chosen;

	assert_int_equal(sc_check_init(&c1), 0);
	assert_int_equal(sc_check_init(&c2), 0);
	assert_int_equal(sc_check_cmdline(&p, &cmd, &c1), 0);
	assert_int_equal(c1.status, SC_STATUS_PASS);
	assert_int_equal(sc_check_root_mount(&p, &cmd, &chosen, &c2), 0);
	assert_int_equal(c2.status, SC_STATUS_PASS);
	assert_int_equal(chosen, 0);
	assert_string_equal(json_string_value(json_object_get(c2.facts, "verity")), "require");
	sc_seal_cmdline_done(&cmd);
	sc_check_done(&c1);
	sc_check_done(&c2);
}

/* libcryptsetup is loaded on demand: every symbol the dm-verity check calls must resolve. */
static void test_cryptsetup_loads(void **state)
{
	char why[256] = "";
	int r = sc_dmverity_load(why, sizeof(why));

	(void)state;
#if HAVE_LIBCRYPTSETUP
	if (r < 0)
		fail_msg("%s", why);
	assert_int_equal(sc_dmverity_load(why, sizeof(why)), 0); /* once loaded, loaded */
#else
	assert_int_equal(r, -EOPNOTSUPP);
#endif
}

/* The objects check's status is decided once, as an enum: a walk that did not finish is never a pass. */
static void test_verify_status(void **state)
{
	struct sc_verify_options o = { 0 };
	struct sc_verify_result r = { .objects = 3 };
	char reason[256];

	(void)state;
	assert_int_equal(sc_verify_status(&r), SC_VERIFY_PASS);
	r.stopped_early = true, r.stop_reason = "--max-seconds reached";
	assert_int_equal(sc_verify_status(&r), SC_VERIFY_INCOMPLETE);
	assert_string_equal(sc_verify_status_name(sc_verify_status(&r)), "error");
	sc_verify_reason(&o, &r, reason, sizeof(reason));
	assert_non_null(strstr(reason, "incomplete"));
	r.problems[SC_OBJ_MISSING] = 1; /* a broken seal found stays found */
	assert_int_equal(sc_verify_status(&r), SC_VERIFY_FAIL);
	r.problems[SC_OBJ_MISSING] = 0, r.stopped_early = false, r.stop_reason = NULL;
	r.walk_errno = EIO; /* cut short by an error */
	assert_int_equal(sc_verify_status(&r), SC_VERIFY_ERROR);
	sc_verify_reason(&o, &r, reason, sizeof(reason));
	assert_non_null(strstr(reason, "incomplete"));
	r.walk_errno = 0, r.image_check = SC_IMAGE_UNPROVEN, r.image_errno = ENODATA;
	assert_int_equal(sc_verify_status(&r), SC_VERIFY_FAIL); /* an image without fs-verity */
	r.image_errno = EOPNOTSUPP;
	assert_int_equal(sc_verify_status(&r), SC_VERIFY_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sb_mode_table),   cmocka_unit_test(test_sb_real_captures),
		cmocka_unit_test(test_sb_real_certificates), cmocka_unit_test(test_lockdown),
		cmocka_unit_test(test_root_mount_real), cmocka_unit_test(test_cryptsetup_loads), cmocka_unit_test(test_verify_status),
	};
	return cmocka_run_group_tests_name("checks", tests, NULL, NULL);
}
