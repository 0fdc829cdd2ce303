/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * agent/core/sc-bootc.c: the booted bootc deployment. The .origin file as
 * bootc's write_composefs_state() writes it (tini: "key = value"), image
 * references as ostree-ext's tests write them (src/container/mod.rs), the
 * staged-deployment JSON, and a fixture tree; then what a guest could plant:
 * a key twice, a value not of its form, an unknown transport or scheme, a
 * line that is no INI, NUL bytes, an oversized file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sc-bootc.h"
#include "sc-macro.h"
#include "unit.h"

#define D64 "abababababababababababababababababababababababababababababababab"
#define V128 D64 D64
#define M64 "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
#define LOADER_GUID "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

static const char origin_uki[] = "[origin]\n"
				 "container-image-reference = ostree-unverified-image:docker://quay.io/example/sealed-host:latest\n"
				 "\n"
				 "[boot]\n"
				 "boot_type = uki\n"
				 "digest = " D64 "\n"
				 "\n"
				 "[image]\n"
				 "manifest_digest = sha256:" M64 "\n";

static struct sc_bootc_origin origin;

static int parse(const char *text)
{
	char why[256];

	return sc_bootc_origin_parse(text, strlen(text), &origin, why, sizeof(why));
}

static void expect_bad(const char *text, const char *why_part)
{
	char why[256] = "";

	assert_int_equal(sc_bootc_origin_parse(text, strlen(text), &origin, why, sizeof(why)), -EBADMSG);
	if (!strstr(why, why_part))
		fail_msg("origin %s: why \"%s\" lacks \"%s\"", text, why, why_part);
}

static void test_origin(void **state)
{
	(void)state;
	assert_int_equal(parse(origin_uki), 0);
	assert_true(origin.has_image);
	assert_string_equal(origin.image_ref, "ostree-unverified-image:docker://quay.io/example/sealed-host:latest");
	assert_string_equal(origin.imgref.image, "quay.io/example/sealed-host:latest");
	assert_string_equal(origin.imgref.transport, "registry");
	assert_string_equal(origin.imgref.signature, "insecure");
	assert_string_equal(origin.boot_type, "uki");
	assert_string_equal(origin.boot_digest, D64);
	assert_string_equal(origin.manifest_digest, "sha256:" M64);
	/* Without spaces, CRLF, comments, another section and key ignored; no [image] (an older deployment). */
	assert_int_equal(parse("; written by hand\r\n[origin]\r\ncontainer-image-reference=ostree-unverified-registry:"
			       "quay.io/x:1\r\n[other]\r\nboot_type = whatever\r\n[boot]\r\n# c\r\nboot_type=bls\r\nfoo=bar\r\n"),
			 0);
	assert_string_equal(origin.imgref.image, "quay.io/x:1");
	assert_string_equal(origin.boot_type, "bls");
	assert_string_equal(origin.manifest_digest, "");
	/* No [origin]: not booted from a container image (bootc: image null). */
	assert_int_equal(parse("[boot]\nboot_type = uki\n"), 0);
	assert_false(origin.has_image);
}

static void test_origin_hostile(void **state)
{
	(void)state;
	/* A second value a loose reader would take one of: refused, whichever comes first. */
	expect_bad("[boot]\nboot_type = uki\nboot_type = bls\n", "line 3: [boot] boot_type given twice");
	expect_bad("[image]\nmanifest_digest = sha256:" M64 "\n[image]\nmanifest_digest = sha256:" M64 "\n",
		   "manifest_digest given twice");
	expect_bad("[origin]\ncontainer-image-reference = ostree-unverified-image:docker://a/b\n"
		   "container-image-reference = ostree-unverified-image:docker://c/d\n",
		   "container-image-reference given twice");
	expect_bad("[boot]\nboot_type = UKI\n", "neither uki nor bls");
	expect_bad("[boot]\ndigest = " D64 "0\n", "[boot] digest");
	expect_bad("[image]\nmanifest_digest = sha256:" M64 "0\n", "manifest_digest");
	expect_bad("[image]\nmanifest_digest = sha512:" M64 "\n", "manifest_digest");
	expect_bad("[image]\nmanifest_digest = sha256:CDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCD\n",
		   "manifest_digest");
	expect_bad("boot_type = uki\n[boot]\n", "before any [section]");
	expect_bad("[boot]\nboot_type\n", "line 2: neither");
	expect_bad("[boot\nboot_type = uki\n", "line 1: not a [section]");
	expect_bad("[]\n", "not a [section]");
	expect_bad("[boot]\n = uki\n", "an empty key");
	expect_bad("[origin]\ncontainer-image-reference = docker://quay.io/x\n", "unknown signature scheme");
	expect_bad("[origin]\ncontainer-image-reference = ostree-unverified-image:http://quay.io/x\n",
		   "unknown transport \"http\"");
	expect_bad("[origin]\ncontainer-image-reference = ostree-unverified-image:docker:quay.io/x\n", "without //");
	expect_bad("[origin]\ncontainer-image-reference = ostree-unverified-image:registry:\n", "empty image name");
	expect_bad("[origin]\ncontainer-image-reference = ostree-unverified-image\n", "no signature scheme");
	expect_bad("[origin]\ncontainer-image-reference = ostree-remote-image::registry:quay.io/x\n", "no remote name");
	{
		static const char nul[] = "[boot]\nboot_type = uki\0\n";
		char why[256];

		assert_int_equal(sc_bootc_origin_parse(nul, sizeof(nul) - 1, &origin, why, sizeof(why)), -EBADMSG);
		assert_non_null(strstr(why, "NUL"));
	}
	{
		size_t n = SC_BOOTC_ORIGIN_MAX + 1;
		_cleanup_free_ char *big = malloc(n);
		char why[256];

		assert_non_null(big);
		memset(big, '\n', n);
		assert_int_equal(sc_bootc_origin_parse(big, n, &origin, why, sizeof(why)), -EBADMSG);
	}
	{
		char line[SC_BOOTC_VALUE_MAX + 64];

		snprintf(line, sizeof(line), "[boot]\nfoo = %0*d\n", SC_BOOTC_VALUE_MAX, 0);
		expect_bad(line, "a value over");
	}
}

static void test_imgref(void **state)
{
	struct sc_bootc_imgref r;
	char why[256];

	(void)state;
	assert_int_equal(sc_bootc_imgref_parse("ostree-image-signed:docker://quay.io/exampleos/blah", &r, why, sizeof(why)), 0);
	assert_string_equal(r.signature, "container-policy");
	assert_string_equal(r.transport, "registry");
	assert_string_equal(r.image, "quay.io/exampleos/blah");
	assert_int_equal(sc_bootc_imgref_parse("ostree-remote-registry:myremote:quay.io/exampleos/blah", &r, why, sizeof(why)), 0);
	assert_string_equal(r.signature, "ostree-remote:myremote");
	assert_string_equal(r.transport, "registry");
	assert_string_equal(r.image, "quay.io/exampleos/blah");
	assert_int_equal(sc_bootc_imgref_parse("ostree-remote-image:myremote:docker://quay.io/exampleos/blah", &r, why, sizeof(why)), 0);
	assert_string_equal(r.signature, "ostree-remote:myremote");
	assert_string_equal(r.image, "quay.io/exampleos/blah");
	assert_int_equal(sc_bootc_imgref_parse("ostree-unverified-image:containers-storage:localhost/someimage:blah", &r, why,
					       sizeof(why)), 0);
	assert_string_equal(r.transport, "containers-storage");
	assert_string_equal(r.image, "localhost/someimage:blah");
	assert_int_equal(sc_bootc_imgref_parse("ostree-unverified-image:oci-archive:/path/to/foo.ociarchive", &r, why,
					       sizeof(why)), 0);
	assert_string_equal(r.transport, "oci-archive");
	assert_string_equal(r.image, "/path/to/foo.ociarchive");
	/* A transport named like a known one plus more is not that one. */
	assert_int_equal(sc_bootc_imgref_parse("ostree-unverified-image:ociX:/p", &r, why, sizeof(why)), -EBADMSG);
	assert_int_equal(sc_bootc_imgref_parse("ostree-unverified-imageX:oci:/p", &r, why, sizeof(why)), -EBADMSG);
}

static void test_staged(void **state)
{
	struct sc_bootc_staged s;
	char why[256];
	const char *ok = "{\"depl_id\": \"" V128 "\", \"finalization_locked\": true}";

	(void)state;
	assert_int_equal(sc_bootc_staged_parse(ok, strlen(ok), &s, why, sizeof(why)), 0);
	assert_string_equal(s.verity, V128);
	assert_true(s.finalization_locked);
#define BAD_STAGED(text) assert_int_equal(sc_bootc_staged_parse(text, strlen(text), &s, why, sizeof(why)), -EBADMSG)
	BAD_STAGED("{\"depl_id\": \"" V128 "\", \"depl_id\": \"" D64 "\"}");
	BAD_STAGED("{\"depl_id\": \"" V128 "\", \"extra\": 1}");
	BAD_STAGED("{\"depl_id\": \"../../etc\"}");
	BAD_STAGED("{\"finalization_locked\": false}");
	BAD_STAGED("{\"depl_id\": \"" V128 "\", \"finalization_locked\": \"yes\"}");
	BAD_STAGED("[\"" V128 "\"]");
	BAD_STAGED("{");
#undef BAD_STAGED
}

/* A fixture tree: ROOT/sysroot/state/deploy/<V>/<V>.origin, ROOT/run/composefs/staged-deployment, efivars. */
static void put(const char *root, const char *rel, const void *data, size_t len)
{
	char path[1024], cmd[1200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(cmd), 0);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void test_deployment(void **state)
{
	char root[] = "/tmp/sealcheck-test-bootc.XXXXXX", cmd[128];
	/* LoaderInfo as systemd-boot sets it: attributes, then UTF-16LE "systemd-boot 257.9" and a NUL. */
	static const char info[] = "systemd-boot 257.9";
	uint8_t var[4 + 2 * sizeof(info)] = { 0x06, 0, 0, 0 };
	struct sc_paths paths;
	struct sc_bootc_deployment d;

	(void)state;
	assert_non_null(mkdtemp(root));
	paths = (struct sc_paths){ .root = root, .sysroot = "/sysroot" };
	/* Not a bootc system: nothing said. */
	assert_int_equal(sc_bootc_deployment(&paths, V128, V128, &d), 0);
	assert_false(d.present);

	put(root, "sysroot/state/deploy/" V128 "/" V128 ".origin", origin_uki, strlen(origin_uki));
	assert_int_equal(sc_bootc_deployment(&paths, V128, V128, &d), 0);
	assert_true(d.present);
	assert_true(d.has_origin);
	assert_string_equal(d.verity, V128);
	assert_false(d.soft_reboot);
	assert_string_equal(d.origin.manifest_digest, "sha256:" M64);
	assert_string_equal(d.bootloader, "none"); /* no LoaderInfo: the firmware started the UKI */
	assert_false(d.has_staged);
	assert_string_equal(d.staged_error, "");

	/* Soft-rebooted: the command line names another deployment than the one mounted. */
	assert_int_equal(sc_bootc_deployment(&paths, V128, D64 D64 "", &d), 0);
	assert_false(d.soft_reboot); /* same digest */
	{
		char other[129];

		memset(other, 'e', 128);
		other[128] = '\0';
		assert_int_equal(sc_bootc_deployment(&paths, V128, other, &d), 0);
		assert_true(d.soft_reboot);
		assert_string_equal(d.cmdline_verity, other);
		/* Mounted from a digest without an origin of its own: never another deployment's. */
		assert_int_equal(sc_bootc_deployment(&paths, other, V128, &d), 0);
		assert_false(d.has_origin);
		assert_non_null(strstr(d.origin_error, other));
		assert_non_null(strstr(d.origin_error, "No such file"));
	}
	/* Not a composefs root: no deployment is named. */
	assert_int_equal(sc_bootc_deployment(&paths, NULL, V128, &d), 0);
	assert_false(d.has_origin);
	assert_non_null(strstr(d.origin_error, "not a composefs mount"));
	/* A path in the digest is never followed. */
	assert_int_equal(sc_bootc_deployment(&paths, "../../../etc", NULL, &d), 0);
	assert_false(d.has_origin);

	/* systemd-boot's LoaderInfo, under systemd's loader GUID (the file name proves the GUID's bytes). */
	for (size_t i = 0; i < sizeof(info); i++)
		var[4 + 2 * i] = (uint8_t)info[i];
	put(root, "sys/firmware/efi/efivars/LoaderInfo-" LOADER_GUID, var, sizeof(var));
	put(root, "run/composefs/staged-deployment", "{\"depl_id\": \"" D64 "\", \"finalization_locked\": false}",
	    strlen("{\"depl_id\": \"" D64 "\", \"finalization_locked\": false}"));
	assert_int_equal(sc_bootc_deployment(&paths, V128, V128, &d), 0);
	assert_string_equal(d.bootloader, "systemd");
	assert_true(d.has_staged);
	assert_string_equal(d.staged.verity, D64);
	/* A staged file that is not bootc's: said, not taken. */
	put(root, "run/composefs/staged-deployment", "{\"depl_id\": 1}", strlen("{\"depl_id\": 1}"));
	assert_int_equal(sc_bootc_deployment(&paths, V128, V128, &d), 0);
	assert_false(d.has_staged);
	assert_non_null(strstr(d.staged_error, "depl_id"));
	/* An origin a guest corrupted: said with its reason, nothing of it taken. */
	put(root, "sysroot/state/deploy/" V128 "/" V128 ".origin", "[boot]\nboot_type = uki\nboot_type = uki\n",
	    strlen("[boot]\nboot_type = uki\nboot_type = uki\n"));
	assert_int_equal(sc_bootc_deployment(&paths, V128, V128, &d), 0);
	assert_false(d.has_origin);
	assert_non_null(strstr(d.origin_error, "given twice"));

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origin),	cmocka_unit_test(test_origin_hostile), cmocka_unit_test(test_imgref),
		cmocka_unit_test(test_staged),	cmocka_unit_test(test_deployment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
