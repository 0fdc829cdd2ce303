/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A reader of the EROFS metadata a composefs image is made of: superblock,
 * inodes, directories and extended attributes, read as the kernel reads them
 * (fs/erofs/erofs_fs.h, super.c, inode.c, dir.c, xattr.c), so that a walk
 * sees the names, modes, sizes and trusted.overlay.* values the kernel would
 * serve, without mounting anything and without root.
 *
 * Only what a composefs walk needs: file data is never read. What this reader
 * does not know (compressed or chunk-based directories, long xattr name
 * prefixes, block sizes over 64 KiB, features newer than Linux 6.12's) is
 * -EOPNOTSUPP, so the caller can fall back to the kernel's own mount. A
 * structure that does not hold together is -EUCLEAN, never a read out of
 * bounds. The image is read through a few 128 KiB windows: memory stays
 * bounded whatever the image's size.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SC_EROFS_NAME_MAX 255
#define SC_EROFS_XATTR_INDEX_TRUSTED 4

struct sc_erofs;

struct sc_erofs_inode {
	uint64_t nid;
	uint64_t pos;         /* byte offset of the on-disk inode */
	uint64_t size;
	uint32_t mode;        /* S_IFMT and permission bits */
	uint32_t raw_blkaddr;
	uint32_t xattr_size;  /* inline xattr area after the inode */
	uint32_t name_filter; /* xattr name filter: bit set = name absent */
	uint8_t layout;       /* EROFS_INODE_FLAT_PLAIN, ... */
	uint8_t isize;        /* 32 (compact) or 64 (extended) */
};

struct sc_erofs_dirent {
	uint64_t nid;
	uint8_t type;     /* as stored: 1 regular, 2 directory, ... 7 symlink */
	uint8_t name_len;
	char name[SC_EROFS_NAME_MAX + 1]; /* NUL-terminated */
};

/* Read the image from @fd (not taken; must stay open) or from memory (@data must outlive the reader). */
int sc_erofs_open_fd(int fd, struct sc_erofs **ret);
int sc_erofs_open_mem(const void *data, size_t size, struct sc_erofs **ret);
void sc_erofs_free(struct sc_erofs *e);
static inline void sc_erofs_freep(struct sc_erofs **e)
{
	sc_erofs_free(*e);
}
#define _cleanup_erofs_ __attribute__((cleanup(sc_erofs_freep)))

uint64_t sc_erofs_root_nid(const struct sc_erofs *e);
uint32_t sc_erofs_block_size(const struct sc_erofs *e);

/* The on-disk inode @nid. */
int sc_erofs_inode(struct sc_erofs *e, uint64_t nid, struct sc_erofs_inode *ret);

/* Number of directory blocks of @dir (i_size rounded up to blocks). */
uint64_t sc_erofs_dir_blocks(const struct sc_erofs *e, const struct sc_erofs_inode *dir);

/* Block @blk of directory @dir copied into @buf (at least the block size); @len_ret its valid length. */
int sc_erofs_dir_block(struct sc_erofs *e, const struct sc_erofs_inode *dir, uint64_t blk, uint8_t *buf,
		       size_t *len_ret);

/*
 * Entry @i of a directory block read by sc_erofs_dir_block(). Returns 1 with
 * @ret filled, 0 past the last entry, -EUCLEAN for an entry that does not hold
 * together (name offsets out of order or out of the block, empty name, a
 * name with '/' or NUL).
 */
int sc_erofs_dirent(const uint8_t *blk, size_t len, unsigned i, struct sc_erofs_dirent *ret);

/*
 * The value of extended attribute @index.@name (e.g. TRUSTED, "overlay.metacopy")
 * of @ino, looked up as the kernel does: the name filter, then the inline
 * entries, then the shared ones; the first match. Returns the value's length
 * (copied into @buf), -ENODATA, -ERANGE when longer than @size, or -EUCLEAN.
 */
ssize_t sc_erofs_getxattr(struct sc_erofs *e, const struct sc_erofs_inode *ino, unsigned index, const char *name,
			  void *buf, size_t size);

/* xxHash32, as the EROFS xattr name filter uses it (exposed for the tests). */
uint32_t sc_erofs_xxh32(const void *data, size_t len, uint32_t seed);
