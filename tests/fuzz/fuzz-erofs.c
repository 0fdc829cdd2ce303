/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The EROFS reader over arbitrary bytes: open, walk every directory (bounded),
 * read each inode and both trusted.overlay xattrs of every regular file.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "sc-erofs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned budget;

static void walk(struct sc_erofs *e, const struct sc_erofs_inode *dir, unsigned depth)
{
	static uint8_t blks[8][65536];
	uint8_t *blk = blks[depth];

	for (uint64_t b = 0; b < sc_erofs_dir_blocks(e, dir) && b < 64; b++) {
		size_t len;

		if (sc_erofs_dir_block(e, dir, b, blk, &len) < 0)
			return;
		for (unsigned i = 0; budget > 0; i++, budget--) {
			struct sc_erofs_dirent de;
			struct sc_erofs_inode ino;
			uint8_t v[600];

			if (sc_erofs_dirent(blk, len, i, &de) <= 0)
				break;
			if (strcmp(de.name, ".") == 0 || strcmp(de.name, "..") == 0 ||
			    sc_erofs_inode(e, de.nid, &ino) < 0)
				continue;
			if (S_ISREG(ino.mode)) {
				(void)sc_erofs_getxattr(e, &ino, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.metacopy", v, 100);
				(void)sc_erofs_getxattr(e, &ino, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.redirect", v, 512);
			} else if (S_ISDIR(ino.mode) && depth + 1 < 8)
				walk(e, &ino, depth + 1);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_erofs *e;
	struct sc_erofs_inode root;

	if (size > (1u << 20) || sc_erofs_open_mem(data, size, &e) < 0)
		return 0;
	budget = 4096;
	if (sc_erofs_inode(e, sc_erofs_root_nid(e), &root) == 0)
		walk(e, &root, 0);
	sc_erofs_free(e);
	return 0;
}
