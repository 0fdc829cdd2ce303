/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The EROFS reader against real mkfs.erofs output (tests/fixtures/erofs,
 * made by make-fixtures.sh): the listing it reads must equal the one the
 * kernel's mount of the same image gave; every truncation and a byte changed
 * anywhere in the metadata must give an answer or an error, never a read out
 * of bounds (run under ASan in CI); and the walker reports a directory loop.
 */
#include "unit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sc-erofs.h"
#include "sc-macro.h"
#include "sc-verify.h"

#define IMAGE FIXTURES_DIR "/erofs/composefs.erofs"

static uint8_t *load(const char *path, size_t *size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	buf[st.st_size] = 0;
	*size = (size_t)st.st_size;
	return buf;
}

struct listing {
	char *text;
	size_t len, cap;
};

static void add(struct listing *l, const char *s)
{
	size_t n = strlen(s);

	if (l->len + n + 1 > l->cap) {
		l->cap = (l->len + n + 1) * 2;
		l->text = realloc(l->text, l->cap);
		assert_non_null(l->text);
	}
	memcpy(l->text + l->len, s, n + 1);
	l->len += n;
}

static void hex(char *out, const uint8_t *v, ssize_t n)
{
	if (n < 0) {
		strcpy(out, n == -ENODATA ? "-" : "ERR");
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", v[i]);
	out[2 * n] = '\0';
}

/* The fixture's .expected format: "path mode size [metacopy redirect]", one line per entry, in walk order. */
static int walk(struct sc_erofs *e, const struct sc_erofs_inode *dir, const char *prefix, struct listing *l,
		unsigned depth)
{
	uint8_t blk[65536];
	int r;

	if (depth > 16)
		return -ELOOP;
	for (uint64_t b = 0; b < sc_erofs_dir_blocks(e, dir); b++) {
		size_t len;

		r = sc_erofs_dir_block(e, dir, b, blk, &len);
		if (r < 0)
			return r;
		for (unsigned i = 0;; i++) {
			struct sc_erofs_dirent de;
			struct sc_erofs_inode ino;
			char path[1024], line[1600], mc[200], rd[1200];
			uint8_t v[600];
			ssize_t n;

			r = sc_erofs_dirent(blk, len, i, &de);
			if (r < 0)
				return r;
			if (r == 0)
				break;
			if (strcmp(de.name, ".") == 0 || strcmp(de.name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", prefix, de.name);
			r = sc_erofs_inode(e, de.nid, &ino);
			if (r < 0)
				return r;
			snprintf(line, sizeof(line), "%s %o %llu", path, ino.mode & S_IFMT,
				 S_ISREG(ino.mode) ? (unsigned long long)ino.size : 0ull);
			if (S_ISREG(ino.mode)) {
				n = sc_erofs_getxattr(e, &ino, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.metacopy", v, 100);
				if (n < 0 && n != -ENODATA)
					return (int)n;
				hex(mc, v, n);
				n = sc_erofs_getxattr(e, &ino, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.redirect", v, 512);
				if (n < 0 && n != -ENODATA)
					return (int)n;
				hex(rd, v, n);
				snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s %s", mc, rd);
			}
			add(l, line);
			add(l, "\n");
			if (S_ISDIR(ino.mode)) {
				r = walk(e, &ino, path, l, depth + 1);
				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The listing sorted, as make-fixtures.sh sorts the kernel's. */
static char *sorted(char *text)
{
	char *lines[1024], *save = NULL, *out;
	size_t n = 0, len = strlen(text) + 2;

	for (char *s = strtok_r(text, "\n", &save); s && n < ELEMENTSOF(lines); s = strtok_r(NULL, "\n", &save))
		lines[n++] = s;
	qsort(lines, n, sizeof(lines[0]), cmp_lines);
	out = calloc(1, len);
	assert_non_null(out);
	for (size_t i = 0; i < n; i++) {
		strcat(out, lines[i]);
		strcat(out, "\n");
	}
	return out;
}

static void check_listing(struct sc_erofs *e)
{
	struct listing l = { 0 };
	struct sc_erofs_inode root;
	size_t n;
	_cleanup_free_ char *expected = (char *)load(IMAGE ".expected", &n), *got = NULL;

	assert_int_equal(sc_erofs_inode(e, sc_erofs_root_nid(e), &root), 0);
	assert_true(S_ISDIR(root.mode));
	assert_int_equal(walk(e, &root, "", &l, 0), 0);
	got = sorted(l.text);
	free(l.text);
	assert_string_equal(got, expected);
}

static void test_listing_equals_kernel(void **state)
{
	_cleanup_close_ int fd = open(IMAGE, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ uint8_t *data = NULL;
	struct sc_erofs *e = NULL;
	size_t size;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(sc_erofs_open_fd(fd, &e), 0);
	check_listing(e);
	sc_erofs_free(e);
	data = load(IMAGE, &size);
	assert_int_equal(sc_erofs_open_mem(data, size, &e), 0);
	check_listing(e);
	sc_erofs_free(e);
}

/* The inode at @path ("usr/lib/f003"), looked up one component at a time. */
static struct sc_erofs_inode lookup(struct sc_erofs *e, const char *path)
{
	struct sc_erofs_inode ino;
	struct sc_erofs_dirent de;
	char copy[256], *save = NULL;
	uint8_t blk[4096];
	size_t len;

	snprintf(copy, sizeof(copy), "%s", path);
	assert_int_equal(sc_erofs_inode(e, sc_erofs_root_nid(e), &ino), 0);
	for (char *want = strtok_r(copy, "/", &save); want; want = strtok_r(NULL, "/", &save)) {
		bool found = false;

		for (uint64_t b = 0; b < sc_erofs_dir_blocks(e, &ino) && !found; b++) {
			assert_int_equal(sc_erofs_dir_block(e, &ino, b, blk, &len), 0);
			for (unsigned i = 0; !found && sc_erofs_dirent(blk, len, i, &de) == 1; i++)
				found = strcmp(de.name, want) == 0;
		}
		assert_true(found);
		assert_int_equal(sc_erofs_inode(e, de.nid, &ino), 0);
	}
	return ino;
}

static void test_xattrs(void **state)
{
	size_t size;
	_cleanup_free_ uint8_t *data = load(IMAGE, &size);
	_cleanup_erofs_ struct sc_erofs *e = NULL;
	struct sc_erofs_inode a, b, tiny, owned;
	uint8_t va[128], vb[128];

	(void)state;
	assert_int_equal(sc_erofs_open_mem(data, size, &e), 0);
	/* Shared xattrs (the same metacopy and redirect on four files) read like inline ones. */
	a = lookup(e, "usr/lib/dup-a");
	assert_int_equal(a.xattr_size, 20); /* the ibody header and two shared xattr ids, nothing inline */
	b = lookup(e, "usr/lib/f003");
	assert_int_equal(sc_erofs_getxattr(e, &a, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.metacopy", va, sizeof(va)), 68);
	assert_int_equal(sc_erofs_getxattr(e, &b, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.metacopy", vb, sizeof(vb)), 68);
	assert_int_equal(va[0], 0);
	assert_int_equal(va[1], 68);
	assert_int_equal(va[3], 2); /* SHA-512 */
	/* Too small a buffer: ERANGE, as getxattr(2). */
	assert_int_equal(sc_erofs_getxattr(e, &b, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.metacopy", vb, 67), -ERANGE);
	/* The same name under another prefix is another attribute. */
	assert_int_equal(sc_erofs_getxattr(e, &b, 1, "overlay.metacopy", vb, sizeof(vb)), -ENODATA);
	assert_int_equal(sc_erofs_getxattr(e, &b, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.metacop", vb, sizeof(vb)),
			 -ENODATA);
	tiny = lookup(e, "etc/tiny");
	assert_int_equal(sc_erofs_getxattr(e, &tiny, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.metacopy", vb, sizeof(vb)),
			 -ENODATA);
	owned = lookup(e, "etc/owned");
	assert_int_equal(owned.isize, 64); /* uid 100000: an extended inode */
	assert_int_equal(owned.size, 6);
}

/*
 * The xattr name filter (a bloom filter in each inode's xattr header) is
 * honoured only as the kernel honours it: with the superblock's feature bit
 * set and its xattr_filter_reserved byte zero. The fixture (mkfs.erofs 1.5)
 * has no filter; patched here: every filter bit set means "no such name".
 */
static void test_xattr_filter_reserved(void **state)
{
	size_t size;
	_cleanup_free_ uint8_t *data = load(IMAGE, &size);
	struct sc_erofs *e = NULL;
	struct sc_erofs_inode f;
	uint8_t v[256];

	(void)state;
	assert_int_equal(sc_erofs_open_mem(data, size, &e), 0);
	f = lookup(e, "usr/lib/f003");
	assert_int_equal(sc_erofs_getxattr(e, &f, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.metacopy", v, sizeof(v)), 68);
	sc_erofs_free(e);
	assert_int_equal(data[1024 + 8] & 0x04, 0); /* EROFS_FEATURE_COMPAT_XATTR_FILTER: not in the fixture */
	assert_int_equal(data[1024 + 104], 0);
	data[1024 + 8] |= 0x04;
	memset(data + f.pos + f.isize, 0xff, 4); /* h_name_filter: every bit says absent */

	/* Filter on, xattr_filter_reserved 0: the kernel trusts the filter, so does the reader. */
	assert_int_equal(sc_erofs_open_mem(data, size, &e), 0);
	assert_int_equal(sc_erofs_getxattr(e, &f, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.metacopy", v, sizeof(v)),
			 -ENODATA);
	sc_erofs_free(e);

	/* xattr_filter_reserved not 0: the kernel ignores the filter, and the reader must too. */
	data[1024 + 104] = 1;
	assert_int_equal(sc_erofs_open_mem(data, size, &e), 0);
	assert_int_equal(sc_erofs_getxattr(e, &f, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.metacopy", v, sizeof(v)), 68);
	assert_int_equal(sc_erofs_getxattr(e, &f, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.redirect", v, sizeof(v)), 130);
	sc_erofs_free(e);
}

/* Every truncation, and a byte changed at each offset: an answer or an error, never out of bounds. */
static void test_hostile_images(void **state)
{
	size_t size;
	_cleanup_free_ uint8_t *data = load(IMAGE, &size);
	unsigned ok = 0, failed = 0;

	(void)state;
	for (size_t cut = 0; cut < size; cut += cut < 4096 ? 3 : 509) {
		_cleanup_free_ uint8_t *copy = malloc(cut ? cut : 1);
		struct sc_erofs *e = NULL;
		struct listing l = { 0 };
		struct sc_erofs_inode root;

		memcpy(copy, data, cut);
		if (sc_erofs_open_mem(copy, cut, &e) < 0) {
			failed++;
			continue;
		}
		assert_int_equal(sc_erofs_inode(e, sc_erofs_root_nid(e), &root), 0);
		if (walk(e, &root, "", &l, 0) < 0)
			failed++;
		else
			ok++;
		free(l.text);
		sc_erofs_free(e);
	}
	assert_true(failed > 0);
	/* Every byte of the superblock and the first inodes, then a sample of the rest. */
	for (size_t off = 1024; off < size; off += off < 1536 ? 1 : 31) {
		for (unsigned k = 0; k < 2; k++) {
			uint8_t saved = data[off];
			struct sc_erofs *e = NULL;
			struct listing l = { 0 };
			struct sc_erofs_inode root;

			data[off] = k ? (uint8_t)(saved ^ 0x80) : 0xff;
			if (sc_erofs_open_mem(data, size, &e) == 0) {
				if (sc_erofs_inode(e, sc_erofs_root_nid(e), &root) == 0 && walk(e, &root, "", &l, 0) == 0)
					ok++;
				else
					failed++;
				sc_erofs_free(e);
			}
			free(l.text);
			data[off] = saved;
		}
	}
	assert_true(ok > 0);
}

static void test_xxh32(void **state)
{
	(void)state;
	/* The reference vectors of xxHash's own test suite. */
	assert_int_equal(sc_erofs_xxh32("", 0, 0), 0x02CC5D05u);
	assert_int_equal(sc_erofs_xxh32("a", 1, 0), 0x550D7456u);
	assert_int_equal(sc_erofs_xxh32("abc", 3, 0), 0x32D153FFu);
	assert_int_equal(sc_erofs_xxh32("Nobody inspects the spammish repetition", 39, 0), 0xE2293B2Fu);
}

/* A directory entry turned to point at the root: the walk reports the loop and ends. */
static void test_directory_loop(void **state)
{
	size_t size;
	_cleanup_free_ uint8_t *data = load(IMAGE, &size);
	char image[] = "/tmp/sealcheck-erofs-loop.XXXXXX", objects[] = "/tmp/sealcheck-erofs-objects.XXXXXX";
	struct sc_erofs *e = NULL;
	struct sc_erofs_inode root;
	struct sc_erofs_dirent de;
	struct sc_verify_options o = { .image = image, .objects = objects, .walk = SC_VERIFY_WALK_PARSE };
	struct sc_verify_result res;
	char why[256] = "";
	uint8_t blk[4096];
	size_t len;
	_cleanup_free_ char *listed = NULL;
	uint64_t blkpos;
	unsigned i;
	int fd;

	(void)state;
	assert_int_equal(sc_erofs_open_mem(data, size, &e), 0);
	assert_int_equal(sc_erofs_inode(e, sc_erofs_root_nid(e), &root), 0);
	assert_int_equal(sc_erofs_dir_blocks(e, &root), 1);
	assert_int_equal(root.layout, 2); /* the root's entries inline after the inode */
	blkpos = root.pos + root.isize + root.xattr_size;
	assert_int_equal(sc_erofs_dir_block(e, &root, 0, blk, &len), 0);
	for (i = 0; sc_erofs_dirent(blk, len, i, &de) == 1; i++)
		if (strcmp(de.name, "usr") == 0)
			break;
	assert_string_equal(de.name, "usr");
	for (int k = 0; k < 8; k++)
		data[blkpos + 12u * i + (unsigned)k] = (uint8_t)(sc_erofs_root_nid(e) >> (8 * k));
	sc_erofs_free(e);

	fd = mkstemp(image);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, size), (ssize_t)size);
	close(fd);
	assert_non_null(mkdtemp(objects));
	assert_int_equal(sc_verify(&o, &res, why, sizeof(why)), 0);
	assert_string_equal(res.walker, "parsed");
	assert_int_equal(res.problems[SC_OBJ_ERROR], 1);
	listed = json_dumps(res.listed, 0);
	assert_non_null(strstr(listed, "a directory reachable twice"));
	assert_int_equal(res.files, 402); /* /big's 400 and /etc's 2: /usr is the root again, walked once */
	sc_verify_result_done(&res);
	unlink(image);
	rmdir(objects);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listing_equals_kernel), cmocka_unit_test(test_xattrs),
		cmocka_unit_test(test_hostile_images),	      cmocka_unit_test(test_xxh32),
		cmocka_unit_test(test_directory_loop),	      cmocka_unit_test(test_xattr_filter_reserved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
