/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image walked as parsed EROFS (sc-erofs.h), never mounted (sc-verify-internal.h). */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <libmount.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "sc-erofs.h"
#include "sc-fsverity.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-metacopy.h"
#include "sc-verify-internal.h"
#include "sc-verify.h"
#include "sc-why.h"

/*
 * The directories a parsed walk has entered, by nid: an EROFS directory
 * reachable twice (a loop, or a directory hard link) is corrupt metadata and
 * is walked once. Open addressing, nid + 1 stored (0: empty), at most half full.
 */
#define NIDSET_MAX (1u << 22) /* slots: 32 MiB; a real image has tens of thousands of directories */

struct nidset {
	uint64_t *slot;
	size_t cap, n;
};

static int nidset_add(struct nidset *s, uint64_t nid)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint64_t *slot;

		if (cap > NIDSET_MAX)
			return -E2BIG;
		slot = calloc(cap, sizeof(*slot));
		if (!slot)
			return -ENOMEM;
		for (size_t k = 0; k < s->cap; k++)
			if (s->slot[k]) {
				for (i = (size_t)(s->slot[k] * 0x9E3779B97F4A7C15ull) & (cap - 1); slot[i]; i = (i + 1) & (cap - 1))
					;
				slot[i] = s->slot[k];
			}
		free(s->slot);
		s->slot = slot, s->cap = cap;
	}
	for (i = (size_t)((nid + 1) * 0x9E3779B97F4A7C15ull) & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1))
		if (s->slot[i] == nid + 1)
			return 0;
	s->slot[i] = nid + 1;
	s->n++;
	return 1;
}

/*
 * The image could not be read at @path: EIO from a verity-protected image is
 * the kernel refusing damaged metadata (the seal is broken: unreadable);
 * anything else leaves the answer open.
 */
void sc_verify_image_problem(struct walk *w, const char *path, int r)
{
	if (r == -EIO)
		sc_verify_problem(w, SC_OBJ_UNREADABLE, path, NULL, "verity violation: EIO reading the image's own metadata");
	else
		sc_verify_problem(w, SC_OBJ_ERROR, path, NULL, sc_verify_erofs_strerror(r));
}

struct parsed_walk {
	struct sc_erofs *e;
	struct nidset dirs;
	uint32_t block_size;
};

/*
 * Depth-first over the parsed image: the same accounting as walk_dir(), with
 * names, modes, sizes and xattrs read from the image bytes (sc-erofs.h), so
 * no system call per file but the object's open, measure and close.
 * Memory: one directory block per level, MAX_DEPTH levels at most.
 */
static int walk_parsed_dir(struct walk *w, struct parsed_walk *pw, const struct sc_erofs_inode *dir, char *path,
			   size_t plen, size_t psize, unsigned depth, struct sc_verify_result *res)
{
	_cleanup_free_ uint8_t *blk = malloc(pw->block_size);
	uint64_t nblocks = sc_erofs_dir_blocks(pw->e, dir);
	int r;

	if (!blk)
		return -ENOMEM;
	res->dirs++;
	for (uint64_t b = 0; b < nblocks; b++) {
		size_t len;

		r = sc_erofs_dir_block(pw->e, dir, b, blk, &len);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			sc_verify_image_problem(w, plen ? path : "/", r);
			break;
		}
		for (unsigned i = 0;; i++) {
			uint8_t mc[SC_METACOPY_MAX + 1];
			char rd[SC_REDIRECT_MAX + 1];
			struct sc_erofs_dirent de;
			struct sc_erofs_inode ino;
			ssize_t n, m = -ENODATA;

			r = sc_erofs_dirent(blk, len, i, &de);
			if (r == 0)
				break;
			if (r < 0) {
				sc_verify_problem(w, SC_OBJ_ERROR, plen ? path : "/", NULL, "corrupt EROFS directory entry");
				break;
			}
			if (strcmp(de.name, ".") == 0 || strcmp(de.name, "..") == 0)
				continue;
			if (sc_verify_stopping(w, res))
				return 0;
			if (!sc_verify_path_push(w, path, plen, psize, de.name, de.name_len))
				continue;
			r = sc_erofs_inode(pw->e, de.nid, &ino);
			if (r < 0) {
				sc_verify_image_problem(w, path, r);
				continue;
			}
			if (S_ISREG(ino.mode)) {
				if (!sc_verify_take_file(w, res)) {
					path[plen] = '\0';
					return 0;
				}
				n = sc_erofs_getxattr(pw->e, &ino, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.metacopy", mc,
						      sizeof(mc));
				if (n != -ENODATA)
					m = sc_erofs_getxattr(pw->e, &ino, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.redirect",
							      rd, sizeof(rd) - 1);
				sc_verify_visit_file(w, path, ino.size, mc, n, rd, m);
			} else if (S_ISDIR(ino.mode)) {
				if (depth >= MAX_DEPTH) {
					sc_verify_problem(w, SC_OBJ_ERROR, path, NULL, "directories nested too deep");
					continue;
				}
				r = nidset_add(&pw->dirs, de.nid);
				if (r == -ENOMEM)
					return r;
				if (r <= 0) {
					sc_verify_problem(w, SC_OBJ_ERROR, path, NULL,
						r == 0 ? "corrupt EROFS metadata: a directory reachable twice (a loop)"
						       : "more directories than this walk keeps track of");
					continue;
				}
				r = walk_parsed_dir(w, pw, &ino, path, plen + 1 + de.name_len, psize, depth + 1, res);
				if (r < 0)
					return r;
			} else
				res->other++;
		}
	}
	path[plen] = '\0';
	return 0;
}

int sc_verify_walk_parsed(struct walk *w, struct sc_erofs *e, struct sc_verify_result *res)
{
	struct parsed_walk pw = { .e = e, .block_size = sc_erofs_block_size(e) };
	struct sc_erofs_inode root;
	char path[PATH_MAX] = "";
	int r;

	r = sc_erofs_inode(e, sc_erofs_root_nid(e), &root);
	if (r >= 0)
		r = nidset_add(&pw.dirs, root.nid);
	if (r < 0) {
		sc_verify_image_problem(w, "/", r);
		free(pw.dirs.slot);
		return r == -ENOMEM ? r : 0;
	}
	if (w->pooled)
		sc_verify_pool_start(w);
	r = walk_parsed_dir(w, &pw, &root, path, 0, sizeof(path), 0, res);
	free(pw.dirs.slot);
	return r;
}
