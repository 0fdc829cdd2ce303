/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * agent/core/sc-efivars.c: efivarfs files (4 attribute bytes, then the data;
 * the kernel's Documentation/filesystems/efivarfs.rst) read below a root.
 * Real captures first (tests/fixtures/real-vm: a Secure Boot VM in user mode,
 * one in setup mode, a BIOS boot), then hostile files made here: empty, short
 * of the attribute word, attributes only, a boolean that is not 0 or 1, more
 * than SC_EFIVAR_MAX.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sc-efivars.h"
#include "sc-macro.h"
#include "unit.h"

#define GLOBAL "8be4df61-93ca-11d2-aa0d-00e098032b8c"

static char hostile[64];

static struct sc_paths capture(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/real-vm/%s", FIXTURES_DIR, name);
	return (struct sc_paths){ .root = buf, .sysroot = "/sysroot" };
}

static void test_guid_format(void **state)
{
	char g[37];

	(void)state;
	assert_string_equal(sc_guid_format(&efi_guid_global, g), GLOBAL);
}

static void test_user_mode_capture(void **state)
{
	char root[512];
	struct sc_paths paths = capture("snakeoil-user", root, sizeof(root));
	_cleanup_free_ uint8_t *pk = NULL;
	uint32_t attr = 0;
	size_t n;
	char g[37];
	int v = -1;

	(void)state;
	assert_int_equal(sc_efivar_read_bool(&paths, &efi_guid_global, "SecureBoot", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(sc_efivar_read_bool(&paths, &efi_guid_global, "SetupMode", &v), 0);
	assert_int_equal(v, 0);
	/* PK: an EFI_SIGNATURE_LIST of one X.509 certificate, a time-based authenticated variable */
	assert_int_equal(sc_efivar_read(&paths, &efi_guid_global, "PK", &attr, &pk, &n), 0);
	assert_int_equal(attr, EFI_VARIABLE_NON_VOLATILE | EFI_VARIABLE_BOOTSERVICE_ACCESS | EFI_VARIABLE_RUNTIME_ACCESS |
				       EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS);
	assert_int_equal(n, 935);
	assert_string_equal(sc_guid_format(pk, g), "a5c059a1-94e4-4aa7-87b5-ab155c2bf072"); /* EFI_CERT_X509_GUID */
	/* a variable the firmware does not have */
	assert_int_equal(sc_efivar_read_bool(&paths, &efi_guid_global, "AuditMode", &v), -ENOENT);
}

static void test_setup_mode_and_bios_captures(void **state)
{
	char root[512];
	struct sc_paths paths = capture("setup-mode", root, sizeof(root));
	uint8_t *d = NULL;
	size_t n;
	int v = -1;

	(void)state;
	assert_int_equal(sc_efivar_read_bool(&paths, &efi_guid_global, "SecureBoot", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(sc_efivar_read_bool(&paths, &efi_guid_global, "SetupMode", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(sc_efivar_read(&paths, &efi_guid_global, "PK", NULL, &d, &n), -ENOENT);
	assert_null(d);
	/* no sys/firmware/efi at all */
	paths = capture("bios", root, sizeof(root));
	assert_int_equal(sc_efivar_read_bool(&paths, &efi_guid_global, "SecureBoot", &v), -ENOENT);
}

static void put_var(const char *name, const void *data, size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s" SC_EFIVARS_DIR "/%s-" GLOBAL, hostile, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static int setup(void **state)
{
	char dir[256];

	(void)state;
	snprintf(hostile, sizeof(hostile), "/tmp/sc-efivars-XXXXXX");
	if (!mkdtemp(hostile))
		return -1;
	snprintf(dir, sizeof(dir), "%s", hostile);
	for (const char *p = &SC_EFIVARS_DIR[1];; p = strchr(p, '/') + 1) {
		const char *slash = strchr(p, '/');
		size_t l = slash ? (size_t)(slash - p) : strlen(p);

		snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/%.*s", (int)l, p);
		if (mkdir(dir, 0755) < 0)
			return -1;
		if (!slash)
			break;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", hostile);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_hostile(void **state)
{
	struct sc_paths paths = { .root = hostile, .sysroot = "/sysroot" };
	uint8_t *d = NULL;
	uint32_t attr = 0xdeadbeef;
	size_t n = 77;
	int v = 7;
	char path[256];
	int fd;

	(void)state;
	/* empty: a variable being written (uncommitted), as absent */
	put_var("SecureBoot", "", 0);
	assert_int_equal(sc_efivar_read_bool(&paths, &efi_guid_global, "SecureBoot", &v), -ENOENT);
	/* short of the 4 attribute bytes */
	put_var("SecureBoot", "\x06\x00\x00", 3);
	assert_int_equal(sc_efivar_read_bool(&paths, &efi_guid_global, "SecureBoot", &v), -EBADMSG);
	assert_int_equal(sc_efivar_read(&paths, &efi_guid_global, "SecureBoot", &attr, &d, &n), -EBADMSG);
	assert_null(d);
	assert_int_equal(attr, 0xdeadbeef);
	assert_int_equal(n, 77);
	/* the attribute word and no data: read, but no boolean */
	put_var("SecureBoot", "\x06\x00\x00\x00", 4);
	assert_int_equal(sc_efivar_read(&paths, &efi_guid_global, "SecureBoot", &attr, &d, &n), 0);
	assert_int_equal(attr, 6);
	assert_int_equal(n, 0);
	free(d);
	d = NULL;
	assert_int_equal(sc_efivar_read_bool(&paths, &efi_guid_global, "SecureBoot", &v), -EBADMSG);
	/* a boolean that is 2, or two bytes: malformed, never "enabled" */
	put_var("SecureBoot", "\x06\x00\x00\x00\x02", 5);
	assert_int_equal(sc_efivar_read_bool(&paths, &efi_guid_global, "SecureBoot", &v), -EBADMSG);
	put_var("SecureBoot", "\x06\x00\x00\x00\x01\x00", 6);
	assert_int_equal(sc_efivar_read_bool(&paths, &efi_guid_global, "SecureBoot", &v), -EBADMSG);
	assert_int_equal(v, 7); /* never written on failure */
	/* one byte over SC_EFIVAR_MAX of data: refused before it is read (sparse: nothing written) */
	snprintf(path, sizeof(path), "%s" SC_EFIVARS_DIR "/PK-" GLOBAL, hostile);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)SC_EFIVAR_MAX + 4 + 1), 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(sc_efivar_read(&paths, &efi_guid_global, "PK", &attr, &d, &n), -EFBIG);
	assert_null(d);
	/* exactly SC_EFIVAR_MAX: read */
	assert_int_equal(truncate(path, (off_t)SC_EFIVAR_MAX + 4), 0);
	assert_int_equal(sc_efivar_read(&paths, &efi_guid_global, "PK", &attr, &d, &n), 0);
	assert_int_equal(n, SC_EFIVAR_MAX);
	free(d);
	/* a directory where the file should be */
	snprintf(path, sizeof(path), "%s" SC_EFIVARS_DIR "/SetupMode-" GLOBAL, hostile);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_true(sc_efivar_read_bool(&paths, &efi_guid_global, "SetupMode", &v) < 0);
	assert_int_equal(v, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guid_format),
		cmocka_unit_test(test_user_mode_capture),
		cmocka_unit_test(test_setup_mode_and_bios_captures),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
