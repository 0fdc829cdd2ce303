/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <libmount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "sc-checks.h"
#include "sc-composefs-paths.h"
#include "sc-dmverity.h"
#include "sc-json.h"
#include "sc-mountopts.h"

#define COMPOSEFS_SOURCE "composefs:"
#define TRANSIENT_SOURCE "transient:composefs="
#define MAX_STACK 16

static void tablep(struct libmnt_table **t)
{
	mnt_unref_table(*t);
}
static void iterp(struct libmnt_iter **i)
{
	mnt_free_iter(*i);
}

/*
 * Read mountinfo twice; a table that changed between the reads is read once
 * more and must then match the previous read (docs/threat-model.md T3: a
 * table changing under the reader).
 */
static int read_stable_mountinfo(const char *path, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *a = NULL, *b = NULL;
	size_t al, bl;
	int r;

	r = sc_read_file_capped(path, SC_MOUNTINFO_MAX, &a, &al);
	if (r < 0)
		return r;
	for (int attempt = 0; attempt < 2; attempt++) {
		r = sc_read_file_capped(path, SC_MOUNTINFO_MAX, &b, &bl);
		if (r < 0)
			return r;
		if (al == bl && memcmp(a, b, al) == 0) {
			*ret = TAKE_PTR(a);
			*ret_len = al;
			return 0;
		}
		free(a);
		a = TAKE_PTR(b);
		al = bl;
	}
	return -EAGAIN;
}

/* The raw (still escaped) superblock options of mount @id: the field after "- fstype source". */
static int raw_super_options(const char *buf, size_t len, int id, const char **ret, size_t *ret_len)
{
	const char *line = buf, *end = buf + len;

	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line)), *p, *sep;
		char idbuf[16];
		int n;

		if (!eol)
			eol = end;
		n = snprintf(idbuf, sizeof(idbuf), "%d ", id);
		if ((size_t)(eol - line) > (size_t)n && memcmp(line, idbuf, (size_t)n) == 0) {
			/* Optional fields end at a lone "-"; then fstype, source, options. */
			sep = NULL;
			for (p = line; p + 2 < eol; p++)
				if (p[0] == ' ' && p[1] == '-' && p[2] == ' ') {
					sep = p + 3;
					break;
				}
			if (!sep)
				return -EBADMSG;
			for (int field = 0; field < 2; field++) {
				p = memchr(sep, ' ', (size_t)(eol - sep));
				if (!p)
					return -EBADMSG;
				sep = p + 1;
			}
			p = memchr(sep, ' ', (size_t)(eol - sep));
			*ret = sep;
			*ret_len = (size_t)((p ? p : eol) - sep);
			return 0;
		}
		line = eol + 1;
	}
	return -ENOENT;
}

static int count_parse_error(struct libmnt_table *tb, const char *filename, int line)
{
	int *errors = mnt_table_get_userdata(tb);

	(*errors)++;
	return 1; /* skip the line, keep parsing */
}

static struct libmnt_fs *find_id(struct libmnt_table *tb, int id)
{
	struct libmnt_iter *it _cleanup_(iterp) = mnt_new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *fs;

	while (it && mnt_table_next_fs(tb, it, &fs) == 0)
		if (mnt_fs_get_id(fs) == id)
			return fs;
	return NULL;
}

/* Mounts stacked on "/" from the top (visible) one down, via parent IDs. */
static size_t root_stack(struct libmnt_table *tb, struct libmnt_fs *stack[MAX_STACK])
{
	struct libmnt_iter *it _cleanup_(iterp) = mnt_new_iter(MNT_ITER_BACKWARD);
	struct libmnt_fs *fs, *top = NULL;
	size_t n = 0;

	if (!it)
		return 0;
	/* The visible root: a "/" mount that no other "/" mount sits on. */
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		struct libmnt_iter *it2 _cleanup_(iterp) = NULL;
		struct libmnt_fs *other;
		bool covered = false;

		if (!mnt_fs_streq_target(fs, "/"))
			continue;
		it2 = mnt_new_iter(MNT_ITER_FORWARD);
		if (!it2)
			return 0;
		while (!covered && mnt_table_next_fs(tb, it2, &other) == 0)
			covered = other != fs && mnt_fs_streq_target(other, "/") &&
				  mnt_fs_get_parent_id(other) == mnt_fs_get_id(fs);
		if (!covered) {
			top = fs;
			break;
		}
	}
	for (fs = top; fs && n < MAX_STACK;) {
		struct libmnt_fs *parent = NULL;

		stack[n++] = fs;
		parent = find_id(tb, mnt_fs_get_parent_id(fs));
		if (!parent || parent == fs || !mnt_fs_streq_target(parent, "/"))
			break;
		fs = parent;
	}
	return n;
}

static bool starts_with(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static int stack_facts(struct libmnt_fs *stack[], size_t n, json_t *facts)
{
	_cleanup_json_ json_t *a = json_array();

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();

		if (!o || json_array_append_new(a, o) < 0 ||
		    sc_json_set(o, "id", json_integer(mnt_fs_get_id(stack[i]))) < 0 ||
		    sc_json_set(o, "fstype", sc_json_str(mnt_fs_get_fstype(stack[i]))) < 0 ||
		    sc_json_set(o, "source", sc_json_str(mnt_fs_get_source(stack[i]))) < 0)
			return -ENOMEM;
	}
	return sc_json_set(facts, "stack", TAKE_PTR(a));
}

static int overlay_facts(const struct sc_overlay_opts *o, const struct sc_overlay_layers *l, const char *raw,
			 size_t rawlen, json_t *facts)
{
	_cleanup_json_ json_t *layers = json_array();

	if (!layers)
		return -ENOMEM;
	/* The layers in effect when they split as the kernel splits them, else the lowerdir+=/datadir+= as given. */
	if (l)
		for (size_t i = 0; i < l->n; i++) {
			if (json_array_append_new(layers, json_pack("{s:s, s:o}", "kind", l->data[i] ? "data" : "lower", "path",
								    sc_json_str(l->path[i]))) < 0)
				return -ENOMEM;
		}
	else
		for (size_t i = 0; i < o->n_lower_plus + o->n_data_plus; i++)
			if (json_array_append_new(layers, json_pack("{s:s, s:o}", "kind", o->layer_is_data[i] ? "data" : "lower",
								    "path", sc_json_str(o->layers[i]))) < 0)
				return -ENOMEM;
	if (sc_json_set(facts, "options", sc_json_bytes(raw, rawlen)) < 0 ||
	    sc_json_set(facts, "verity", sc_json_str(o->verity ? o->verity : "off")) < 0 ||
	    sc_json_set(facts, "metacopy", sc_json_str(o->metacopy)) < 0 ||
	    sc_json_set(facts, "redirect_dir", sc_json_str(o->redirect_dir)) < 0 ||
	    sc_json_set(facts, "lowerdir", sc_json_str(o->lowerdir)) < 0 ||
	    sc_json_set(facts, "upperdir", sc_json_str(o->upperdir)) < 0 ||
	    sc_json_set(facts, "workdir", sc_json_str(o->workdir)) < 0 ||
	    sc_json_set(facts, "layers", TAKE_PTR(layers)) < 0)
		return -ENOMEM;
	return 0;
}

/* lstat-free identity of @abs under the root (symlinks followed, as the kernel opened them). */
static int stat_under(const struct sc_paths *paths, const char *abs, struct stat *st)
{
	_cleanup_free_ char *p = NULL;

	if (!abs || abs[0] != '/')
		return -EINVAL;
	if (sc_path_join(paths, abs, &p) < 0)
		return -ENOMEM;
	return stat(p, st) < 0 ? -errno : 0;
}

static int link_facts(struct sc_check *c, const char *how, const char *detail)
{
	if (sc_json_set(c->facts, "image_link", json_string(how)) < 0 ||
	    sc_json_set(c->facts, "image_link_detail", sc_json_str(detail)) < 0)
		return -ENOMEM;
	return 0;
}

/*
 * Tie the mounted image to the measured file, where the kernel shows the link
 * (docs/threat-model.md T4): the overlay's source label "composefs:<digest>" is
 * a free string, but the EROFS mount beneath it is backed by a file the kernel
 * names. A loop device: /sys/dev/block/M:m/loop/backing_file, the kernel's path
 * of the file it reads now. A file-backed EROFS mount (Linux 6.12+): its
 * source, the path the kernel opened. Either must be the same file (device and
 * inode) as <sysroot>/composefs/images/<digest>. Returns 1 linked, 2 not
 * visible (label-only; the facts say why), 0 with a FAIL set, or -ENOMEM.
 */
static int check_image_link(const struct sc_paths *paths, struct libmnt_table *tb, const char *lower,
			    const struct sc_digest *mounted, struct sc_check *c)
{
	_cleanup_free_ char *image = NULL, *objects = NULL, *sysdev = NULL, *attr = NULL,
			      *backing = NULL, *detail = NULL;
	struct libmnt_iter *it _cleanup_(iterp) = mnt_new_iter(MNT_ITER_BACKWARD);
	struct libmnt_fs *fs, *erofs = NULL;
	char hex[SC_DIGEST_HEX_MAX + 1];
	struct stat want, got;
	size_t blen;
	dev_t dev;
	int r;

	sc_digest_to_hex(mounted, hex);
	if (!it || sc_composefs_paths(paths, mounted, &image, &objects) < 0)
		return -ENOMEM;
	while (lower && mnt_table_next_fs(tb, it, &fs) == 0)
		if (mnt_fs_streq_target(fs, lower)) {
			/* The last one listed on that path is the one on top: what the overlay's lower layer is. */
			if (strcmp(mnt_fs_get_fstype(fs) ?: "", "erofs") != 0) {
				sc_check_set(c, SC_STATUS_FAIL, "the overlay's lower layer %s is %s from %s (mount %d), not an EROFS image",
					     lower, mnt_fs_get_fstype(fs) ?: "?", mnt_fs_get_source(fs) ?: "?", mnt_fs_get_id(fs));
				return link_facts(c, "mismatch", mnt_fs_get_source(fs)) < 0 ? -ENOMEM : 0;
			}
			erofs = fs;
			break;
		}
	if (!erofs) {
		if (asprintf(&detail, "the overlay's lower layer %s is not an EROFS mount in mountinfo: only the source label names the image",
			     lower ?: "(none)") < 0)
			return -ENOMEM;
		return link_facts(c, "label-only", detail) < 0 ? -ENOMEM : 2;
	}
	dev = mnt_fs_get_devno(erofs);
	if (sc_json_set(c->facts, "erofs_mount",
			json_pack("{s:i, s:o, s:o}", "id", mnt_fs_get_id(erofs), "source", sc_json_str(mnt_fs_get_source(erofs)),
				  "devno", json_sprintf("%u:%u", major(dev), minor(dev)))) < 0)
		return -ENOMEM;
	if (stat(image, &want) < 0) {
		if (asprintf(&detail, "the image file %s cannot be examined (%s): only the source label names the image", image,
			     strerror(errno)) < 0)
			return -ENOMEM;
		return link_facts(c, "label-only", detail) < 0 ? -ENOMEM : 2;
	}
	if (major(dev) == 0) {
		/* An anonymous device: file-backed EROFS, its source the path the kernel opened at mount time. */
		const char *src = mnt_fs_get_source(erofs);

		r = stat_under(paths, src, &got);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			if (asprintf(&detail, "the EROFS mount's source %s cannot be examined (%s): only the source label names the image",
				     src ?: "?", strerror(-r)) < 0)
				return -ENOMEM;
			return link_facts(c, "label-only", detail) < 0 ? -ENOMEM : 2;
		}
		if (got.st_dev != want.st_dev || got.st_ino != want.st_ino) {
			sc_check_set(c, SC_STATUS_FAIL, "the EROFS image mounted beneath / is %s, not the file images/%.16s... names",
				     src, hex);
			return link_facts(c, "mismatch", src) < 0 ? -ENOMEM : 0;
		}
		return link_facts(c, "erofs-source-file", src) < 0 ? -ENOMEM : 1;
	}
	if (asprintf(&sysdev, "/sys/dev/block/%u:%u", major(dev), minor(dev)) < 0 ||
	    asprintf(&attr, "%s/loop/backing_file", sysdev) < 0)
		return -ENOMEM;
	r = stat_under(paths, sysdev, &got);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		if (asprintf(&detail, "%s cannot be examined (%s): only the source label names the image", sysdev, strerror(-r)) < 0)
			return -ENOMEM;
		return link_facts(c, "label-only", detail) < 0 ? -ENOMEM : 2;
	}
	{
		_cleanup_free_ char *attr_path = NULL;

		if (sc_path_join(paths, attr, &attr_path) < 0)
			return -ENOMEM;
		r = sc_read_file_capped(attr_path, 4096, &backing, &blen);
	}
	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT) {
		sc_check_set(c, SC_STATUS_FAIL, "the EROFS image beneath / is block device %u:%u (%s), not a loop device on images/%.16s...",
			     major(dev), minor(dev), mnt_fs_get_source(erofs) ?: "?", hex);
		return link_facts(c, "mismatch", mnt_fs_get_source(erofs)) < 0 ? -ENOMEM : 0;
	}
	if (r < 0) {
		if (asprintf(&detail, "%s cannot be read (%s): only the source label names the image", attr, strerror(-r)) < 0)
			return -ENOMEM;
		return link_facts(c, "label-only", detail) < 0 ? -ENOMEM : 2;
	}
	while (blen && backing[blen - 1] == '\n')
		backing[--blen] = '\0';
	r = stat_under(paths, backing, &got);
	if (r == -ENOMEM)
		return r;
	if (r < 0 || got.st_dev != want.st_dev || got.st_ino != want.st_ino) {
		/* Gone, renamed, "(deleted)", or another file: the mounted metadata is not the measured file. */
		sc_check_set(c, SC_STATUS_FAIL, "the loop device beneath / reads %s, not the file images/%.16s... names%s%s",
			     backing, hex, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
		return link_facts(c, "mismatch", backing) < 0 ? -ENOMEM : 0;
	}
	return link_facts(c, "loop-backing-file", backing) < 0 ? -ENOMEM : 1;
}

/* @path with its trailing slashes dropped ends in the two components @tail ("a/b"). */
static bool path_ends_with(const char *path, const char *tail)
{
	size_t n = strlen(path), t = strlen(tail);

	while (n > 1 && path[n - 1] == '/')
		n--;
	return n > t && path[n - t - 1] == '/' && memcmp(path + n - t, tail, t) == 0;
}

/*
 * A data-only layer may only be the composefs repository's objects directory
 * (<physical root>/composefs/objects, bootc crates/lib/src/bootc_composefs/repo.rs; composefs-rs
 * crates/composefs/src/repository.rs). mountinfo shows the path
 * the mounter gave in its own namespace (the initramfs's /sysroot or /phys),
 * so the name must end in composefs/objects, and where that path exists now
 * it must be <sysroot>/composefs/objects itself (device and inode).
 */
static int is_objects_dir(const struct sc_paths *paths, const char *layer, const char *objects, bool *ret)
{
	struct stat want, got;
	int r;

	*ret = false;
	if (!path_ends_with(layer, "composefs/objects"))
		return 0;
	r = stat_under(paths, layer, &got);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		*ret = true; /* not there now: a mount-time path, judged by its name */
		return 0;
	}
	*ret = stat(objects, &want) == 0 && want.st_dev == got.st_dev && want.st_ino == got.st_ino;
	return 0;
}

/*
 * The composefs overlay's layers as the kernel splits them (Linux
 * fs/overlayfs/params.c; Documentation/filesystems/overlayfs.rst "Data-only
 * lower layers"): a second lower layer is merged into / and its files are
 * served without verity (verity= only checks files that have a metacopy
 * digest), a data-only layer other than the object store can answer any
 * redirect, and an upper layer makes / writable. The one accepted shape: one
 * lower layer (the image), data-only layers that are the objects directory,
 * no upperdir=/workdir=. Returns 1 with *ret_image the image layer's index in
 * @l, 0 with a FAIL set, or -ENOMEM.
 */
static int check_layers(const struct sc_paths *paths, const struct sc_digest *mounted, const struct sc_overlay_opts *o,
			int split, const struct sc_overlay_layers *l, size_t *ret_image, struct sc_check *c)
{
	_cleanup_free_ char *image = NULL, *objects = NULL;
	int lower = -1;

	if (o->upperdir)
		return sc_check_set(c, SC_STATUS_FAIL, "the composefs overlay has an upper layer (upperdir=%s): / is writable",
				    o->upperdir) < 0 ? -ENOMEM : 0;
	if (o->workdir)
		return sc_check_set(c, SC_STATUS_FAIL, "the composefs overlay has workdir=%s: only a writable overlay has one",
				    o->workdir) < 0 ? -ENOMEM : 0;
	if (split == -ENOMEM)
		return -ENOMEM;
	if (split == -E2BIG)
		return sc_check_set(c, SC_STATUS_FAIL, "the composefs overlay has more than %d layers", SC_OVERLAY_MAX_LAYERS) < 0
			       ? -ENOMEM : 0;
	if (split < 0)
		return sc_check_set(c, SC_STATUS_FAIL,
				    "the composefs overlay's layers (lowerdir=%s, %zu lowerdir+=, %zu datadir+=) are not a list the kernel shows",
				    o->lowerdir ?: "", o->n_lower_plus, o->n_data_plus) < 0 ? -ENOMEM : 0;
	if (sc_composefs_paths(paths, mounted, &image, &objects) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		bool ok;

		if (!l->data[i]) {
			if (lower >= 0)
				return sc_check_set(c, SC_STATUS_FAIL,
						    "the composefs overlay has a second lower layer %s besides the image %s: its files are not verified",
						    l->path[i], l->path[lower]) < 0 ? -ENOMEM : 0;
			lower = (int)i;
			continue;
		}
		if (is_objects_dir(paths, l->path[i], objects, &ok) < 0)
			return -ENOMEM;
		if (!ok)
			return sc_check_set(c, SC_STATUS_FAIL,
					    "the composefs overlay has a data-only layer %s that is not the repository's composefs/objects",
					    l->path[i]) < 0 ? -ENOMEM : 0;
	}
	if (lower < 0)
		return sc_check_set(c, SC_STATUS_FAIL, "the composefs overlay has no lower layer: no image") < 0 ? -ENOMEM : 0;
	*ret_image = (size_t)lower;
	return 1;
}

/*
 * bootc's transient root (bootc crates/initramfs/src/lib.rs) is an overlay
 * with a tmpfs upper over the composefs overlay, its one lower layer. Its
 * label is a free string like the composefs one, so the label alone does not
 * make it that: it must have exactly one lower layer and no data-only layer,
 * and when mountinfo shows a mount at that lower path, the mount must be the
 * composefs overlay of @mounted. Returns 1 accepted, 0 with a FAIL set, or
 * -ENOMEM.
 */
static int check_transient(struct libmnt_table *tb, const char *buf, size_t len, struct libmnt_fs *t,
			   const struct sc_digest *mounted, struct sc_check *c)
{
	_cleanup_overlay_opts_ struct sc_overlay_opts o = { 0 };
	_cleanup_overlay_layers_ struct sc_overlay_layers l = { 0 };
	struct libmnt_iter *it _cleanup_(iterp) = mnt_new_iter(MNT_ITER_BACKWARD);
	struct libmnt_fs *fs;
	const char *raw;
	size_t rawlen;
	int id = mnt_fs_get_id(t), r;

	if (!it)
		return -ENOMEM;
	if (raw_super_options(buf, len, id, &raw, &rawlen) < 0)
		return sc_check_set(c, SC_STATUS_FAIL, "the options of the transient overlay (mount %d) are not in mountinfo", id) < 0
			       ? -ENOMEM : 0;
	r = sc_overlay_opts_parse(raw, rawlen, &o);
	if (r == 0)
		r = sc_overlay_opts_layers(&o, &l);
	if (r == -ENOMEM)
		return r;
	if (r < 0 || l.n != 1 || l.n_data != 0)
		return sc_check_set(c, SC_STATUS_FAIL,
				    "the transient overlay (mount %d) is not over one lower layer: %zu lower and %zu data-only layers",
				    id, r < 0 ? (size_t)0 : l.n - l.n_data, r < 0 ? (size_t)0 : l.n_data) < 0 ? -ENOMEM : 0;
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		struct sc_digest d;
		const char *src = mnt_fs_get_source(fs);
		bool composefs;

		if (!mnt_fs_streq_target(fs, l.path[0]))
			continue;
		composefs = starts_with(src, COMPOSEFS_SOURCE) && strcmp(mnt_fs_get_fstype(fs) ?: "", "overlay") == 0 &&
			    sc_digest_from_hex(src + strlen(COMPOSEFS_SOURCE), strlen(src + strlen(COMPOSEFS_SOURCE)), SC_HASH_NONE,
					       &d) >= 0 &&
			    sc_digest_equal(&d, mounted);
		if (!composefs)
			return sc_check_set(c, SC_STATUS_FAIL,
					    "the transient overlay (mount %d) is over %s, which is %s from %s (mount %d), not the composefs overlay",
					    id, l.path[0], mnt_fs_get_fstype(fs) ?: "?", src ?: "?", mnt_fs_get_id(fs)) < 0
				       ? -ENOMEM : 0;
		break; /* the one on top is the one the kernel opened */
	}
	return 1;
}

/*
 * The paths of the sealed tree where a mount replaces sealed files: /usr, all
 * of a bootc image's content (bootc docs/src/filesystem.md), and the
 * merged-/usr top-level directories that lead into it. /etc and /var are not
 * covered by the seal (bootc docs/src/filesystem.md: /etc is merged, /var is state); /proc, /sys, /dev, /run, /tmp,
 * /sysroot, /boot and the rest are state or kernel interfaces.
 */
static bool in_sealed_tree(const char *target)
{
	static const char *const sealed[] = { "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32" };

	if (!target)
		return false;
	for (size_t i = 0; i < ELEMENTSOF(sealed); i++) {
		size_t n = strlen(sealed[i]);

		if (strncmp(target, sealed[i], n) == 0 && (target[n] == '\0' || target[n] == '/'))
			return true;
	}
	return false;
}

/*
 * A filesystem mounted on a sealed path (docs/threat-model.md T5b) serves
 * its own files there, whatever the image holds. Two shapes replace nothing:
 * the composefs overlay bound onto itself at the same path (a read-only
 * remount, systemd's ProtectSystem=), and systemd's inaccessible node
 * (InaccessiblePaths=, ProtectKernelModules= over /usr/lib/modules: an empty
 * directory with mode 0000 from /run/systemd/inaccessible, systemd
 * src/core/namespace.c). Returns 1 none, 0 with a FAIL set, or -ENOMEM.
 */
static int check_foreign_mounts(struct libmnt_table *tb, struct libmnt_fs *root, struct sc_check *c)
{
	struct libmnt_iter *it _cleanup_(iterp) = mnt_new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *fs;

	if (!it)
		return -ENOMEM;
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *target = mnt_fs_get_target(fs), *fsroot = mnt_fs_get_root(fs) ?: "";

		if (!in_sealed_tree(target))
			continue;
		if (mnt_fs_get_devno(fs) == mnt_fs_get_devno(root) && strcmp(mnt_fs_get_fstype(fs) ?: "", "overlay") == 0 &&
		    strcmp(mnt_fs_get_source(fs) ?: "", mnt_fs_get_source(root) ?: "") == 0 && strcmp(fsroot, target) == 0)
			continue;
		if (strcmp(mnt_fs_get_fstype(fs) ?: "", "tmpfs") == 0 &&
		    (starts_with(fsroot, "/systemd/inaccessible/") || starts_with(fsroot, "/run/systemd/inaccessible/")))
			continue;
		if (sc_json_set(c->facts, "foreign_mount",
				json_pack("{s:i, s:o, s:o, s:o}", "id", mnt_fs_get_id(fs), "target", sc_json_str(target), "fstype",
					  sc_json_str(mnt_fs_get_fstype(fs)), "source", sc_json_str(mnt_fs_get_source(fs)))) < 0)
			return -ENOMEM;
		return sc_check_set(c, SC_STATUS_FAIL, "%s from %s (mount %d) is mounted on %s, inside the sealed tree",
				    mnt_fs_get_fstype(fs) ?: "?", mnt_fs_get_source(fs) ?: "?", mnt_fs_get_id(fs), target) < 0
			       ? -ENOMEM : 0;
	}
	return 1;
}

static int check_composefs_root(const struct sc_paths *paths, const struct sc_seal_cmdline *cmdline,
				struct libmnt_table *tb, const char *buf, size_t len, struct libmnt_fs *stack[], size_t n,
				int *chosen, struct sc_check *c)
{
	_cleanup_overlay_opts_ struct sc_overlay_opts o = { 0 };
	_cleanup_overlay_layers_ struct sc_overlay_layers layers = { 0 };
	size_t layer_at = 0;
	struct libmnt_fs *layer = NULL;
	struct sc_digest mounted;
	const char *src, *raw, *hex;
	char h1[SC_DIGEST_HEX_MAX + 1];
	size_t rawlen;
	bool transient = false;
	size_t image_layer = 0;
	int r, split;

	for (size_t i = 0; i < n && !layer; i++) {
		src = mnt_fs_get_source(stack[i]);
		if (starts_with(src, TRANSIENT_SOURCE))
			transient = true;
		if (starts_with(src, COMPOSEFS_SOURCE) && strcmp(mnt_fs_get_fstype(stack[i]) ?: "", "overlay") == 0)
			layer = stack[i], layer_at = i;
	}
	if (sc_json_set(c->facts, "transient", json_boolean(transient)) < 0)
		return -ENOMEM;
	if (!layer) {
		src = mnt_fs_get_source(stack[0]);
		/*
		 * A transient label over what mountinfo shows is not a composefs
		 * overlay: / is that filesystem under a writable layer. Only when
		 * nothing is visible beneath it (the composefs overlay left in the
		 * initramfs's namespace) is the answer unknown.
		 */
		if (transient && n > 1)
			return sc_check_set(c, SC_STATUS_FAIL, "%s (mount %d) lies over %s from %s (mount %d), not over a composefs overlay",
					    src, mnt_fs_get_id(stack[0]), mnt_fs_get_fstype(stack[1]) ?: "?",
					    mnt_fs_get_source(stack[1]) ?: "?", mnt_fs_get_id(stack[1]));
		if (transient)
			return sc_check_set(c, SC_STATUS_ERROR,
					    "transient root (%s) but the composefs overlay beneath it is not in mountinfo",
					    src);
		if (strcmp(mnt_fs_get_fstype(stack[0]) ?: "", "overlay") != 0)
			return sc_check_set(c, SC_STATUS_FAIL, "root is not composefs: / is %s from %s",
					    mnt_fs_get_fstype(stack[0]) ?: "?", src ?: "?");
		return sc_check_set(c, SC_STATUS_FAIL, "root is not composefs: overlay source is '%s'", src ?: "");
	}
	if (sc_json_set(c->facts, "mount_id", json_integer(mnt_fs_get_id(layer))) < 0 ||
	    sc_json_set(c->facts, "source", sc_json_str(mnt_fs_get_source(layer))) < 0)
		return -ENOMEM;

	r = raw_super_options(buf, len, mnt_fs_get_id(layer), &raw, &rawlen);
	if (r < 0)
		return sc_check_set(c, SC_STATUS_ERROR, "cannot find the options of mount %d in mountinfo",
				    mnt_fs_get_id(layer));
	r = sc_overlay_opts_parse(raw, rawlen, &o);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return sc_check_set(c, SC_STATUS_ERROR, "overlay options of mount %d: %s", mnt_fs_get_id(layer),
				    strerror(-r));
	split = sc_overlay_opts_layers(&o, &layers);
	if (split == -ENOMEM)
		return split;
	r = overlay_facts(&o, split == 0 ? &layers : NULL, raw, rawlen, c->facts);
	if (r < 0)
		return r;
	if (!o.verity || strcmp(o.verity, "require") != 0)
		return sc_check_set(c, SC_STATUS_FAIL, "composefs overlay mounted with verity=%s, not verity=require",
				    o.verity ? o.verity : "off");

	hex = mnt_fs_get_source(layer) + strlen(COMPOSEFS_SOURCE);
	r = sc_digest_from_hex(hex, strlen(hex), SC_HASH_NONE, &mounted);
	if (r < 0)
		return sc_check_set(c, SC_STATUS_FAIL, "root overlay source '%s' is not a composefs digest",
				    mnt_fs_get_source(layer));
	if (sc_json_set(c->facts, "digest", json_string(sc_digest_to_hex(&mounted, h1))) < 0)
		return -ENOMEM;
	r = check_layers(paths, &mounted, &o, split, &layers, &image_layer, c);
	if (r <= 0)
		return r;
	/*
	 * What sits on top is what / is (docs/threat-model.md T5): only bootc's
	 * transient overlay of this same digest may cover the composefs root.
	 */
	for (size_t i = 0; i < layer_at; i++) {
		struct sc_digest over;
		const char *t = mnt_fs_get_source(stack[i]);
		bool same = starts_with(t, TRANSIENT_SOURCE) && strcmp(mnt_fs_get_fstype(stack[i]) ?: "", "overlay") == 0 &&
			    sc_digest_from_hex(t + strlen(TRANSIENT_SOURCE), strlen(t + strlen(TRANSIENT_SOURCE)), SC_HASH_NONE,
					       &over) >= 0 &&
			    sc_digest_equal(&over, &mounted);

		if (!same)
			return sc_check_set(c, SC_STATUS_FAIL, "%s from %s (mount %d) is mounted over the composefs root",
					    mnt_fs_get_fstype(stack[i]) ?: "?", t ?: "?", mnt_fs_get_id(stack[i]));
		r = check_transient(tb, buf, len, stack[i], &mounted, c);
		if (r <= 0)
			return r;
	}
	for (size_t i = 0; i < cmdline->n_digests; i++)
		if (sc_digest_equal(&cmdline->digests[i].digest, &mounted)) {
			*chosen = (int)i;
			r = check_foreign_mounts(tb, layer, c);
			if (r <= 0)
				return r;
			r = check_image_link(paths, tb, layers.path[image_layer], &mounted, c);
			if (r <= 0)
				return r;
			return sc_check_set(c, SC_STATUS_PASS, "/ is composefs %.16s... with verity=require%s%s", h1,
					    transient ? " (beneath a transient root)" : "",
					    r == 2 ? "; the image is known by its label only" : "");
		}
	if (!cmdline->parsed)
		return sc_check_set(c, SC_STATUS_ERROR,
				    "/ is composefs %.16s... with verity=require; the cmdline could not be read to compare",
				    h1);
	if (cmdline->n_digests == 0)
		return sc_check_set(c, SC_STATUS_FAIL,
				    "/ is composefs %.16s... with verity=require, but no valid cmdline digest names it",
				    h1);
	{
		char h2[SC_DIGEST_HEX_MAX + 1];

		if (sc_json_set(c->facts, "cmdline_digest",
				json_string(sc_digest_to_hex(&cmdline->digests[0].digest, h2))) < 0)
			return -ENOMEM;
		return sc_check_set(c, SC_STATUS_FAIL,
				    "digest mismatch: root is composefs %s (%s) but the cmdline names %s (%s)", h1,
				    sc_hash_alg_name(mounted.alg), h2, sc_hash_alg_name(cmdline->digests[0].digest.alg));
	}
}

static int check_dmverity_root(const struct sc_paths *paths, const struct sc_seal_cmdline *cmdline,
			       struct libmnt_table *tb, struct libmnt_fs *stack[], size_t n, struct sc_check *c)
{
	bool usr = cmdline->roothash.len == 0;
	const struct sc_verity_hash *want = usr ? &cmdline->usrhash : &cmdline->roothash;
	struct libmnt_fs *fs = usr ? mnt_table_find_target(tb, "/usr", MNT_ITER_BACKWARD) : stack[0];
	struct sc_dmverity_info info;
	dev_t dev;
	int r;

	if (!fs)
		return sc_check_set(c, SC_STATUS_FAIL, "usrhash= given but /usr is not a separate mount");
	dev = mnt_fs_get_devno(fs);
	if (sc_json_set(c->facts, "device", sc_json_str(mnt_fs_get_source(fs))) < 0 ||
	    sc_json_set(c->facts, "fstype", sc_json_str(mnt_fs_get_fstype(fs))) < 0 ||
	    sc_json_set(c->facts, "devno", json_sprintf("%u:%u", major(dev), minor(dev))) < 0 ||
	    sc_json_set(c->facts, "target", json_string(usr ? "/usr" : "/")) < 0)
		return -ENOMEM;
	r = sc_dmverity_query(paths, dev, &info);
	if (r == -ENOMEM)
		return r;
	if (sc_json_set(c->facts, "dm_name", info.name[0] ? sc_json_str(info.name) : json_null()) < 0)
		return -ENOMEM;
	if (r == -ENOTBLK || r == -ENODEV)
		return sc_check_set(c, SC_STATUS_FAIL, "%s is not an active dm-verity device (%s)", usr ? "/usr" : "/",
				    mnt_fs_get_source(fs) ?: "?");
	if (r < 0)
		return sc_check_set(c, SC_STATUS_ERROR, "cannot query dm-verity device %s: %s",
				    info.name[0] ? info.name : "?", info.why[0] ? info.why : strerror(-r));
	if (info.root_hash_len != want->len || memcmp(info.root_hash, want->bytes, want->len) != 0)
		return sc_check_set(c, SC_STATUS_FAIL, "dm-verity root hash of %s differs from the cmdline's", info.name);
	return sc_check_set(c, SC_STATUS_PASS, "%s is dm-verity device %s with the cmdline's root hash",
			    usr ? "/usr" : "/", info.name);
}

int sc_check_root_mount(const struct sc_paths *paths, const struct sc_seal_cmdline *cmdline, int *chosen,
			struct sc_check *c)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	struct libmnt_table *tb _cleanup_(tablep) = NULL;
	struct libmnt_fs *stack[MAX_STACK];
	_cleanup_fclose_ FILE *f = NULL;
	int errors = 0, r;
	size_t len, n;

	*chosen = -1;
	if (sc_path_join(paths, "/proc/self/mountinfo", &path) < 0)
		return -ENOMEM;
	r = read_stable_mountinfo(path, &buf, &len);
	if (r == -ENOMEM)
		return r;
	if (r == -EAGAIN)
		return sc_check_set(c, SC_STATUS_ERROR, "%s kept changing while read", path);
	if (r == -EFBIG)
		return sc_check_set(c, SC_STATUS_ERROR, "%s is larger than %u bytes", path, SC_MOUNTINFO_MAX);
	if (r < 0)
		return sc_check_set(c, SC_STATUS_ERROR, "cannot read %s: %s", path, strerror(-r));

	tb = mnt_new_table();
	f = len ? fmemopen(buf, len, "r") : NULL;
	if (!tb || (len && !f))
		return -ENOMEM;
	mnt_table_set_userdata(tb, &errors);
	mnt_table_set_parser_errcb(tb, count_parse_error);
	if (f && mnt_table_parse_stream(tb, f, path) < 0)
		return sc_check_set(c, SC_STATUS_ERROR, "cannot parse %s", path);
	if (sc_json_set(c->facts, "unparsable_lines", json_integer(errors)) < 0)
		return -ENOMEM;

	n = root_stack(tb, stack);
	if (n == 0)
		return sc_check_set(c, SC_STATUS_ERROR, "no mount on / in %s", path);
	r = stack_facts(stack, n, c->facts);
	if (r < 0)
		return r;
	if (sc_json_set(c->facts, "fstype", sc_json_str(mnt_fs_get_fstype(stack[0]))) < 0)
		return -ENOMEM;

	if (cmdline->kind == SC_SEAL_DMVERITY)
		return check_dmverity_root(paths, cmdline, tb, stack, n, c);
	return check_composefs_root(paths, cmdline, tb, buf, len, stack, n, chosen, c);
}
