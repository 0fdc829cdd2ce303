/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sealed image's manifest (host-probe/vm/probe-manifest.h) against
 * hostile image folders, without QEMU: its file names become host paths and
 * QEMU option values, so each must be a plain name of a regular file in the
 * folder (docs/threat-model.md T13). Every case in its own temporary folder
 * (mkdtemp under $TMPDIR or /tmp), removed at the end.
 */
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "probe-manifest.h"
#include "sc-macro.h"

#define D256 "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
#define D512                                                                                                     \
	"22ea8a75c80babb6f41301c8392a306b1654884fe6807e655117e8f4ca07eb5708d0a49a84fd285ad13d4fc71706571dc4eed0dbd5b2" \
	"811b4afa95b6464a2dc9"

/* A temporary folder's path: short, so every message about it fits. */
#define DIR_MAX 200

/* A fresh, empty folder; *@ret its path. */
static void tmp_dir(char ret[DIR_MAX])
{
	const char *t = getenv("TMPDIR");

	assert_true(snprintf(ret, DIR_MAX, "%s/sealcheck-manifest-XXXXXX", t && t[0] ? t : "/tmp") < DIR_MAX);
	assert_non_null(mkdtemp(ret));
}

/* rm -r of what the test made: never follows a link (unlinkat removes the link itself). */
static void rm_rf_at(int dfd)
{
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			continue;
		assert_true(errno == EISDIR || errno == EPERM);
		rm_rf_at(openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
		assert_int_equal(unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR), 0);
	}
}

static void rm_rf(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	assert_true(fd >= 0);
	rm_rf_at(fd);
	assert_int_equal(rmdir(dir), 0);
}

static void put(const char *dir, const char *name, const char *text, size_t len)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
}

static void put_str(const char *dir, const char *name, const char *text)
{
	put(dir, name, text, strlen(text));
}

static void at(char ret[PATH_MAX], const char *dir, const char *name)
{
	snprintf(ret, PATH_MAX, "%s/%s", dir, name);
}

/* --- plain names --- */

static void test_plain_name(void **state)
{
	static const char *const good[] = { "root.img", "vars.fd", "esp-sealed.img", "a", "A_Z-0.9", "a..b", "x." };
	static const char *const bad[] = {
		"",	    ".",       "..",	      ".hidden",  "-rf",	 "../root.img", "a/b",	       "/etc/shadow",
		"a,b",	    "a b",     "a\nb",	      "a\tb",	  "a\\b",	 "a:b",		"a;b",	       "a=b",
		"caf\xc3\xa9", "a\x1b", "root.img/", "~root",	  "$HOME",	 "a*",		"a?",
	};
	char name[200];

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(good); i++)
		if (!probe_plain_name(good[i]))
			fail_msg("\"%s\" refused", good[i]);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (probe_plain_name(bad[i]))
			fail_msg("\"%s\" accepted", bad[i]);
	assert_false(probe_plain_name(NULL));
	/* At most 128 characters. */
	memset(name, 'a', 128);
	name[128] = '\0';
	assert_true(probe_plain_name(name));
	name[128] = 'a';
	name[129] = '\0';
	assert_false(probe_plain_name(name));
}

/* --- one file of the image --- */

static void test_image_file(void **state)
{
	char dir[DIR_MAX], outside[DIR_MAX], p[PATH_MAX], q[PATH_MAX], why[512];
	char *ret = NULL;

	(void)state;
	tmp_dir(dir);
	tmp_dir(outside);
	put_str(dir, "root.img", "root");
	put_str(outside, "secret", "host file");

	/* A regular file: "DIR/NAME". */
	assert_int_equal(probe_image_file(dir, "root.img", &ret, why, sizeof(why)), 0);
	at(p, dir, "root.img");
	assert_string_equal(ret, p);
	free(TAKE_PTR(ret));

	/* Not plain: refused before the folder is looked at. */
	{
		static const char *const names[] = { "../secret", "/etc/shadow", "..",		 ".",
						     "",	  "a/root.img",	 "root.img,if=none" };

		for (size_t i = 0; i < ELEMENTSOF(names); i++) {
			char want[PATH_MAX + 100];

			why[0] = '\0';
			assert_int_equal(probe_image_file(dir, names[i], &ret, why, sizeof(why)), -EINVAL);
			assert_null(ret);
			snprintf(want, sizeof(want), "%s/manifest.json: file name \"%s\" is not a plain file name", dir,
				 names[i]);
			assert_string_equal(why, want);
		}
		assert_int_equal(probe_image_file(dir, NULL, &ret, why, sizeof(why)), -EINVAL);
		assert_null(ret);
		snprintf(p, sizeof(p), "%s/manifest.json: file name \"(none)\" is not a plain file name", dir);
		assert_string_equal(why, p);
	}

	/* Missing: the name and the error. */
	assert_int_equal(probe_image_file(dir, "vars.fd", &ret, why, sizeof(why)), -ENOENT);
	assert_null(ret);
	snprintf(p, sizeof(p), "%s/vars.fd: No such file or directory", dir);
	assert_string_equal(why, p);

	/* A symlink as the file, whether it leaves the folder, stays in it or dangles: never followed. */
	at(q, outside, "secret");
	at(p, dir, "out.img");
	assert_int_equal(symlink(q, p), 0);
	at(p, dir, "in.img");
	assert_int_equal(symlink("root.img", p), 0);
	at(p, dir, "dangling.img");
	assert_int_equal(symlink("/nonexistent/sealcheck", p), 0);
	at(p, dir, "up.img");
	assert_int_equal(symlink("../secret", p), 0);
	for (const char *const *n = (const char *const[]){ "out.img", "in.img", "dangling.img", "up.img", NULL }; *n; n++) {
		assert_int_equal(probe_image_file(dir, *n, &ret, why, sizeof(why)), -EINVAL);
		assert_null(ret);
		snprintf(p, sizeof(p), "%s/%s: not a regular file", dir, *n);
		assert_string_equal(why, p);
	}

	/* Not regular files: a folder, a FIFO (never opened for reading: no hang), a socket. */
	at(p, dir, "sub.img");
	assert_int_equal(mkdir(p, 0700), 0);
	at(p, dir, "fifo.img");
	assert_int_equal(mkfifo(p, 0600), 0);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		_cleanup_close_ int sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		assert_true(sfd >= 0);
		at(p, dir, "sock.img");
		assert_true(strlen(p) < sizeof(sa.sun_path));
		memcpy(sa.sun_path, p, strlen(p) + 1);
		assert_int_equal(bind(sfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	for (const char *const *n = (const char *const[]){ "sub.img", "fifo.img", "sock.img", NULL }; *n; n++) {
		assert_int_equal(probe_image_file(dir, *n, &ret, why, sizeof(why)), -EINVAL);
		assert_null(ret);
		snprintf(p, sizeof(p), "%s/%s: not a regular file", dir, *n);
		assert_string_equal(why, p);
	}

	/* The folder itself missing, or a file. */
	at(p, dir, "nonexistent");
	assert_int_equal(probe_image_file(p, "root.img", &ret, why, sizeof(why)), -ENOENT);
	at(p, dir, "root.img");
	assert_int_equal(probe_image_file(p, "root.img", &ret, why, sizeof(why)), -ENOTDIR);
	snprintf(q, sizeof(q), "%s: Not a directory", p);
	assert_string_equal(why, q);
	assert_null(ret);

	rm_rf(dir);
	rm_rf(outside);
}

/* --- the manifest --- */

static int load(const char *dir, const char *text, struct probe_manifest *m, char *why)
{
	char p[PATH_MAX];

	at(p, dir, "manifest.json");
	(void)unlink(p);
	if (text)
		put_str(dir, "manifest.json", text);
	why[0] = '\0';
	return probe_manifest_load(dir, m, why, 512);
}

static void test_manifest_good(void **state)
{
	char dir[DIR_MAX], why[512];
	struct probe_manifest m;

	(void)state;
	tmp_dir(dir);

	/* The builder's shape (host-probe/builder/build-sealed-image.py), its names kept. */
	assert_int_equal(load(dir,
			      "{\"digest\":\"" D512 "\",\"algorithm\":\"sha512\",\"root\":\"root.img\",\"vars\":\"vars.fd\","
			      "\"esps\":{\"sealed\":{\"esp\":\"esp.img\",\"cmdline\":\"x\"},"
			      "\"insecure\":{\"esp\":\"esp-insecure.img\"}},"
			      "\"port\":\"org.sealcheck.attest.0\",\"objects\":1}",
			      &m, why),
			 0);
	assert_int_equal(m.digest.alg, SC_HASH_SHA512);
	assert_string_equal(m.root, "root.img");
	assert_string_equal(m.vars, "vars.fd");
	assert_string_equal(m.esp, "esp.img");
	assert_non_null(m.doc);
	{
		char buf[160];

		assert_string_equal(probe_manifest_esp(&m, "insecure", buf, sizeof(buf)), "esp-insecure.img");
		assert_string_equal(probe_manifest_esp(&m, "sealed", buf, sizeof(buf)), "esp.img");
		/* A variant the manifest does not name: esp-NAME.img, if NAME is plain. */
		assert_string_equal(probe_manifest_esp(&m, "setup-mode", buf, sizeof(buf)), "esp-setup-mode.img");
		assert_null(probe_manifest_esp(&m, "../x", buf, sizeof(buf)));
		assert_null(probe_manifest_esp(&m, "a,b", buf, sizeof(buf)));
		assert_null(probe_manifest_esp(&m, "", buf, sizeof(buf)));
	}
	probe_manifest_done(&m);
	assert_null(m.doc);
	assert_null(m.root);

	/* Other names, and a sha256 digest. */
	assert_int_equal(load(dir,
			      "{\"digest\":\"" D256 "\",\"root\":\"r.img\",\"vars\":\"v.fd\","
			      "\"esps\":{\"sealed\":{\"esp\":\"e.img\"},"
			      "\"bad\":{\"esp\":\"../e.img\"}}}",
			      &m, why),
			 0);
	assert_int_equal(m.digest.alg, SC_HASH_SHA256);
	assert_string_equal(m.root, "r.img");
	assert_string_equal(m.vars, "v.fd");
	assert_string_equal(m.esp, "e.img");
	{
		char buf[160];

		/* A variant whose file name is not plain: none. */
		assert_null(probe_manifest_esp(&m, "bad", buf, sizeof(buf)));
	}
	probe_manifest_done(&m);

	/* Only the digest: the builder's default names. */
	assert_int_equal(load(dir, "{\"digest\":\"" D512 "\"}", &m, why), 0);
	assert_string_equal(m.root, "root.img");
	assert_string_equal(m.vars, "vars.fd");
	assert_string_equal(m.esp, "esp.img");
	probe_manifest_done(&m);

	rm_rf(dir);
}

static void expect_refused(const char *dir, const char *text, int want_r, const char *want_why_tail)
{
	struct probe_manifest m;
	char why[512], want[PATH_MAX + 600];

	assert_int_equal(load(dir, text, &m, why), want_r);
	assert_null(m.doc);
	snprintf(want, sizeof(want), "%s/manifest.json: %s", dir, want_why_tail);
	if (strcmp(why, want) != 0)
		fail_msg("for %s\n got  '%s'\n want '%s'", text ? text : "(no manifest)", why, want);
}

static void test_manifest_hostile_names(void **state)
{
	static const char *const names[] = { "../../../etc/hostname", "/etc/shadow", "..", ".manifest", "-drive",
					     "root.img,file=/etc/shadow", "a/b", "", "root img", "r\xc3\xb6ot.img" };
	char dir[DIR_MAX], text[600], tail[1024];

	(void)state;
	tmp_dir(dir);
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		snprintf(tail, sizeof(tail), "file name \"%s\" is not a plain file name", names[i]);
		snprintf(text, sizeof(text), "{\"digest\":\"%s\",\"root\":\"%s\"}", D512, names[i]);
		expect_refused(dir, text, -EINVAL, tail);
		snprintf(text, sizeof(text), "{\"digest\":\"%s\",\"vars\":\"%s\"}", D512, names[i]);
		expect_refused(dir, text, -EINVAL, tail);
		snprintf(text, sizeof(text), "{\"digest\":\"%s\",\"esps\":{\"sealed\":{\"esp\":\"%s\"}}}", D512, names[i]);
		expect_refused(dir, text, -EINVAL, tail);
	}
	rm_rf(dir);
}

static void test_manifest_malformed(void **state)
{
	static const char bad_digest[] = "\"digest\" is not a 64 or 128 character lowercase hex digest";
	char dir[DIR_MAX], p[PATH_MAX], tail[1024];

	(void)state;
	tmp_dir(dir);

	/* None: the builder's hint. */
	snprintf(tail, sizeof(tail), "No such file or directory (is %s an image made by the builder?)", dir);
	expect_refused(dir, NULL, -ENOENT, tail);

	/* Not JSON, not an object, a duplicate key (a second "root" must not win over the first). */
	expect_refused(dir, "", -EINVAL, "line 1: '[' or '{' expected near end of file");
	expect_refused(dir, "{\"digest\":", -EINVAL, "line 1: unexpected token near end of file");
	expect_refused(dir, "[\"" D512 "\"]", -EINVAL, "not a JSON object");
	expect_refused(dir, "\"" D512 "\"", -EINVAL, "line 1: '[' or '{' expected");
	expect_refused(dir, "null", -EINVAL, "line 1: '[' or '{' expected near 'null'");
	expect_refused(dir, "{\"digest\":\"" D512 "\",\"root\":\"root.img\",\"root\":\"../../etc/shadow\"}", -EINVAL,
		       "line 1: duplicate object key near '\"root\"'");
	expect_refused(dir, "{\"digest\":\"" D512 "\"}{}", -EINVAL, "line 1: end of file expected near '{'");
	/* A NUL inside a string. */
	expect_refused(dir, "{\"digest\":\"" D512 "\",\"root\":\"root.img\\u0000../x\"}", -EINVAL,
		       "line 1: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"root.img\\u0000../x\"'");

	/* The digest: missing, of the wrong type, not lowercase hex, of the wrong length, prefixed. */
	expect_refused(dir, "{}", -EINVAL, bad_digest);
	expect_refused(dir, "{\"root\":\"root.img\"}", -EINVAL, bad_digest);
	expect_refused(dir, "{\"digest\":null}", -EINVAL, bad_digest);
	expect_refused(dir, "{\"digest\":1234}", -EINVAL, bad_digest);
	expect_refused(dir, "{\"digest\":[\"" D512 "\"]}", -EINVAL, bad_digest);
	expect_refused(dir, "{\"digest\":{\"sha512\":\"" D512 "\"}}", -EINVAL, bad_digest);
	expect_refused(dir, "{\"digest\":\"22EA8A75C80BABB6F41301C8392A306B1654884FE6807E655117E8F4CA07EB57\"}", -EINVAL,
		       bad_digest);
	expect_refused(dir, "{\"digest\":\"" D256 "0\"}", -EINVAL, bad_digest);
	expect_refused(dir, "{\"digest\":\"sha512:" D512 "\"}", -EINVAL, bad_digest);
	expect_refused(dir, "{\"digest\":\"\"}", -EINVAL, bad_digest);

	/* A folder, not a file. */
	at(p, dir, "manifest.json");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(tail, sizeof(tail), "Is a directory (is %s an image made by the builder?)", dir);
	{
		struct probe_manifest m;
		char why[512], want[PATH_MAX + 600];

		assert_int_equal(probe_manifest_load(dir, &m, why, sizeof(why)), -EISDIR);
		snprintf(want, sizeof(want), "%s/manifest.json: %s", dir, tail);
		assert_string_equal(why, want);
	}
	assert_int_equal(rmdir(p), 0);
	/* A FIFO with no writer: read at once (non-blocking open), empty, refused; never a hang. */
	assert_int_equal(mkfifo(p, 0600), 0);
	{
		struct probe_manifest m;
		char why[512], want[PATH_MAX + 600];

		assert_int_equal(probe_manifest_load(dir, &m, why, sizeof(why)), -EINVAL);
		snprintf(want, sizeof(want), "%s/manifest.json: line 1: '[' or '{' expected near end of file", dir);
		assert_string_equal(why, want);
	}
	assert_int_equal(unlink(p), 0);
	rm_rf(dir);
}

/* 16 MiB at most: one byte more is refused before it is parsed. */
static void test_manifest_size(void **state)
{
	static const char head[] = "{\"digest\":\"" D512 "\"}";
	char dir[DIR_MAX], p[PATH_MAX], tail[1024];
	struct probe_manifest m;
	char why[512];
	_cleanup_free_ char *big = malloc(PROBE_MANIFEST_MAX + 1);

	(void)state;
	tmp_dir(dir);
	assert_non_null(big);
	/* Exactly the cap: valid JSON padded with whitespace. */
	memcpy(big, head, sizeof(head) - 1);
	memset(big + sizeof(head) - 1, ' ', PROBE_MANIFEST_MAX + 1 - (sizeof(head) - 1));
	put(dir, "manifest.json", big, PROBE_MANIFEST_MAX);
	assert_int_equal(probe_manifest_load(dir, &m, why, sizeof(why)), 0);
	assert_string_equal(m.root, "root.img");
	probe_manifest_done(&m);
	at(p, dir, "manifest.json");
	assert_int_equal(unlink(p), 0);
	/* One byte more. */
	put(dir, "manifest.json", big, PROBE_MANIFEST_MAX + 1);
	assert_int_equal(probe_manifest_load(dir, &m, why, sizeof(why)), -EFBIG);
	assert_null(m.doc);
	snprintf(tail, sizeof(tail), "%s/manifest.json: larger than 16 MiB (is %s an image made by the builder?)", dir, dir);
	assert_string_equal(why, tail);
	rm_rf(dir);
}

/* A file name that is not a string is not a file name: never silently the default's. */
static void test_manifest_wrong_types(void **state)
{
	static const char *const values[] = { "5", "null", "true", "[\"root.img\"]", "{\"name\":\"root.img\"}" };
	char dir[DIR_MAX], text[600], tail[1024];

	(void)state;
	tmp_dir(dir);
	for (size_t i = 0; i < ELEMENTSOF(values); i++) {
		snprintf(text, sizeof(text), "{\"digest\":\"%s\",\"root\":%s}", D512, values[i]);
		expect_refused(dir, text, -EINVAL, "\"root\" is not a string");
		snprintf(text, sizeof(text), "{\"digest\":\"%s\",\"vars\":%s}", D512, values[i]);
		expect_refused(dir, text, -EINVAL, "\"vars\" is not a string");
		snprintf(text, sizeof(text), "{\"digest\":\"%s\",\"esps\":{\"sealed\":{\"esp\":%s}}}", D512, values[i]);
		expect_refused(dir, text, -EINVAL, "\"esps.sealed.esp\" is not a string");
	}
	for (size_t i = 0; i < 4; i++) {
		snprintf(tail, sizeof(tail), "\"esps\" is not an object");
		snprintf(text, sizeof(text), "{\"digest\":\"%s\",\"esps\":%s}", D512, values[i]);
		expect_refused(dir, text, -EINVAL, tail);
		snprintf(text, sizeof(text), "{\"digest\":\"%s\",\"esps\":{\"sealed\":%s}}", D512, values[i]);
		expect_refused(dir, text, -EINVAL, "\"esps.sealed\" is not an object");
	}
	rm_rf(dir);
}

static void test_qemu_escape(void **state)
{
	static const char *const cases[][2] = {
		{ "", "" },
		{ "root.img", "root.img" },
		{ ",", ",," },
		{ "a,b,,c", "a,,b,,,,c" },
		{ "/img/root.img,file=/etc/shadow", "/img/root.img,,file=/etc/shadow" },
	};

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *e = probe_qemu_escape(cases[i][0]);

		assert_non_null(e);
		assert_string_equal(e, cases[i][1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_name),
		cmocka_unit_test(test_image_file),
		cmocka_unit_test(test_manifest_good),
		cmocka_unit_test(test_manifest_hostile_names),
		cmocka_unit_test(test_manifest_malformed),
		cmocka_unit_test(test_manifest_size),
		cmocka_unit_test(test_manifest_wrong_types),
		cmocka_unit_test(test_qemu_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
