/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sc-endian.h"
#include "sc-erofs.h"
#include "sc-macro.h"

/* On-disk constants (fs/erofs/erofs_fs.h). */
#define EROFS_SUPER_OFFSET 1024
#define EROFS_SUPER_MAGIC_V1 0xE0F5E1E2u
#define EROFS_FEATURE_COMPAT_XATTR_FILTER 0x00000004u
/*
 * Incompatible features this reader walks past: they concern the data of
 * regular files (compression, chunks, extra devices), which a composefs walk
 * never reads, or are checked where they matter (xattr prefixes: count 0).
 * Newer bits (48-bit layouts, metabox: Linux 6.15+) are not known here.
 */
#define EROFS_FEATURE_INCOMPAT_KNOWN 0x0000007fu
#define EROFS_INODE_FLAT_PLAIN 0
#define EROFS_INODE_FLAT_INLINE 2
#define EROFS_INODE_DATALAYOUT_MAX 5
#define EROFS_I_ALL 0x000f
#define EROFS_ISLOT_BITS 5
#define EROFS_DIRENT_SIZE 12
#define EROFS_XATTR_IBODY_HEADER_SIZE 12
#define EROFS_XATTR_FILTER_SEED 0x25BBE08Fu

#define WINDOW_SIZE (128u * 1024u)
#define WINDOWS 8
#define FETCH_MAX (64u * 1024u) /* the largest single read: one block of the largest size */

struct window {
	uint64_t start;
	size_t len;
	uint8_t *buf;
};

struct sc_erofs {
	int fd;                 /* -1: in memory */
	const uint8_t *mem;
	uint64_t size;
	uint32_t blkszbits;
	uint64_t meta_base;     /* meta_blkaddr in bytes */
	uint64_t xattr_base;    /* xattr_blkaddr in bytes */
	uint64_t root_nid;
	bool xattr_filter;
	struct window win[WINDOWS];
	unsigned next_victim;
};

/*
 * A pointer to @len bytes at @off, valid until the next fetch. Bytes past the
 * end of the image are corruption (-EUCLEAN); a failed read is its errno
 * (EIO on a verity-protected image whose bytes changed).
 */
static int fetch(struct sc_erofs *e, uint64_t off, size_t len, const uint8_t **ret)
{
	struct window *w;
	uint64_t start;
	size_t want, got = 0;

	if (len > FETCH_MAX || off > e->size || len > e->size - off)
		return len > FETCH_MAX ? -EOPNOTSUPP : -EUCLEAN;
	if (!e->mem && e->fd < 0)
		return -EBADF;
	if (e->mem) {
		*ret = e->mem + off;
		return 0;
	}
	for (unsigned i = 0; i < WINDOWS; i++) {
		w = &e->win[i];
		if (w->buf && off >= w->start && off + len <= w->start + w->len) {
			*ret = w->buf + (off - w->start);
			return 0;
		}
	}
	w = &e->win[e->next_victim];
	e->next_victim = (e->next_victim + 1) % WINDOWS;
	if (!w->buf) {
		w->buf = malloc(WINDOW_SIZE);
		if (!w->buf)
			return -ENOMEM;
	}
	/* From the 4 KiB boundary below: off % 4096 + FETCH_MAX fits the window. */
	start = off & ~(uint64_t)4095;
	want = (size_t)(e->size - start < WINDOW_SIZE ? e->size - start : WINDOW_SIZE);
	w->len = 0;
	while (got < want) {
		ssize_t n = pread(e->fd, w->buf + got, want - got, (off_t)(start + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sc_negative_errno();
		if (n == 0)
			break; /* shorter than at open: checked below */
		got += (size_t)n;
	}
	if (off + len > start + got)
		return -EUCLEAN;
	w->start = start;
	w->len = got;
	*ret = w->buf + (off - start);
	return 0;
}

static int open_common(struct sc_erofs *e)
{
	const uint8_t *sb;
	uint32_t incompat;
	uint8_t blkszbits;
	int r;

	r = fetch(e, EROFS_SUPER_OFFSET, 128, &sb);
	if (r < 0)
		return r;
	if (sc_le32(sb) != EROFS_SUPER_MAGIC_V1)
		return -EUCLEAN;
	blkszbits = sb[12];
	if (blkszbits < 9 || blkszbits > 16)
		return -EOPNOTSUPP;
	incompat = sc_le32(sb + 80);
	if (incompat & ~EROFS_FEATURE_INCOMPAT_KNOWN)
		return -EOPNOTSUPP;
	if (sb[90] != 0) /* dirblkbits: directory blocks other than the block size */
		return -EOPNOTSUPP;
	if (sb[91] != 0) /* long xattr name prefixes */
		return -EOPNOTSUPP;
	e->blkszbits = blkszbits;
	e->root_nid = sc_le16(sb + 14);
	e->meta_base = (uint64_t)sc_le32(sb + 40) << blkszbits;
	e->xattr_base = (uint64_t)sc_le32(sb + 44) << blkszbits;
	/*
	 * The name filter is trusted only as the kernel trusts it (fs/erofs/xattr.c):
	 * the feature bit set and the superblock's xattr_filter_reserved byte (104)
	 * zero. Otherwise every xattr is looked up, whatever the filter bits say.
	 */
	e->xattr_filter = (sc_le32(sb + 8) & EROFS_FEATURE_COMPAT_XATTR_FILTER) && sb[104] == 0;
	return 0;
}

static int open_finish(struct sc_erofs *e, struct sc_erofs **ret)
{
	struct sc_erofs_inode root;
	int r = open_common(e);

	if (r >= 0)
		r = sc_erofs_inode(e, e->root_nid, &root);
	if (r >= 0 && !S_ISDIR(root.mode))
		r = -EUCLEAN;
	if (r < 0) {
		sc_erofs_free(e);
		return r;
	}
	*ret = e;
	return 0;
}

int sc_erofs_open_fd(int fd, struct sc_erofs **ret)
{
	struct sc_erofs *e;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return sc_negative_errno();
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return -EINVAL;
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(fd, 0, SEEK_END);

		if (end < 0)
			return sc_negative_errno();
		st.st_size = end;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->fd = fd;
	e->size = (uint64_t)st.st_size;
	return open_finish(e, ret);
}

int sc_erofs_open_mem(const void *data, size_t size, struct sc_erofs **ret)
{
	struct sc_erofs *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->fd = -1;
	e->mem = data;
	e->size = size;
	return open_finish(e, ret);
}

void sc_erofs_free(struct sc_erofs *e)
{
	if (!e)
		return;
	for (unsigned i = 0; i < WINDOWS; i++)
		free(e->win[i].buf);
	free(e);
}

uint64_t sc_erofs_root_nid(const struct sc_erofs *e)
{
	return e->root_nid;
}

uint32_t sc_erofs_block_size(const struct sc_erofs *e)
{
	return 1u << e->blkszbits;
}

int sc_erofs_inode(struct sc_erofs *e, uint64_t nid, struct sc_erofs_inode *ret)
{
	struct sc_erofs_inode ino = { .nid = nid };
	const uint8_t *p;
	uint16_t fmt, icount;
	int r;

	if (nid > (UINT64_MAX - e->meta_base) >> EROFS_ISLOT_BITS)
		return -EUCLEAN;
	ino.pos = e->meta_base + (nid << EROFS_ISLOT_BITS);
	r = fetch(e, ino.pos, 32, &p);
	if (r < 0)
		return r;
	fmt = sc_le16(p);
	if (fmt & ~EROFS_I_ALL)
		return -EOPNOTSUPP;
	ino.layout = (uint8_t)((fmt >> 1) & 7);
	if (ino.layout >= EROFS_INODE_DATALAYOUT_MAX)
		return -EOPNOTSUPP;
	icount = sc_le16(p + 2);
	ino.mode = sc_le16(p + 4);
	if (fmt & 1) { /* extended, 64 bytes */
		r = fetch(e, ino.pos, 64, &p);
		if (r < 0)
			return r;
		ino.isize = 64;
		ino.size = sc_le64(p + 8);
	} else {
		ino.isize = 32;
		ino.size = sc_le32(p + 8);
	}
	ino.raw_blkaddr = sc_le32(p + 16);
	switch (ino.mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR: case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		break;
	default:
		return -EUCLEAN; /* the kernel's "bogus i_mode" */
	}
	ino.xattr_size = icount ? EROFS_XATTR_IBODY_HEADER_SIZE + 4u * (icount - 1u) : 0;
	*ret = ino;
	return 0;
}

uint64_t sc_erofs_dir_blocks(const struct sc_erofs *e, const struct sc_erofs_inode *dir)
{
	uint64_t bs = 1u << e->blkszbits;

	return dir->size / bs + (dir->size % bs != 0);
}

int sc_erofs_dir_block(struct sc_erofs *e, const struct sc_erofs_inode *dir, uint64_t blk, uint8_t *buf,
		       size_t *len_ret)
{
	uint64_t bs = 1u << e->blkszbits, nblocks = sc_erofs_dir_blocks(e, dir), pos;
	size_t len;
	const uint8_t *p;
	int r;

	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (blk >= nblocks)
		return -EINVAL;
	len = (size_t)(dir->size - blk * bs < bs ? dir->size - blk * bs : bs);
	if (dir->layout == EROFS_INODE_FLAT_INLINE && blk == nblocks - 1) {
		/* The tail, after the inode and its xattrs, inside the same block (as the kernel insists). */
		pos = dir->pos + dir->isize + dir->xattr_size;
		if ((pos & (bs - 1)) + len > bs)
			return -EUCLEAN;
	} else if (dir->layout == EROFS_INODE_FLAT_PLAIN || dir->layout == EROFS_INODE_FLAT_INLINE) {
		if ((uint64_t)dir->raw_blkaddr + blk > (UINT64_MAX >> e->blkszbits))
			return -EUCLEAN;
		pos = ((uint64_t)dir->raw_blkaddr + blk) << e->blkszbits;
	} else
		return -EOPNOTSUPP; /* compressed or chunk-based directories */
	r = fetch(e, pos, len, &p);
	if (r < 0)
		return r;
	memcpy(buf, p, len);
	*len_ret = len;
	return 0;
}

int sc_erofs_dirent(const uint8_t *blk, size_t len, unsigned i, struct sc_erofs_dirent *ret)
{
	size_t nameoff0, nameoff, end, n;

	if (len < EROFS_DIRENT_SIZE)
		return -EUCLEAN;
	nameoff0 = sc_le16(blk + 8);
	/* The first name starts where the entries end: the kernel's check, plus whole entries. */
	if (nameoff0 < EROFS_DIRENT_SIZE || nameoff0 >= len || nameoff0 % EROFS_DIRENT_SIZE)
		return -EUCLEAN;
	if ((size_t)i >= nameoff0 / EROFS_DIRENT_SIZE)
		return 0;
	nameoff = sc_le16(blk + (size_t)i * EROFS_DIRENT_SIZE + 8);
	if (nameoff < nameoff0 || nameoff >= len)
		return -EUCLEAN;
	if ((size_t)i + 1 < nameoff0 / EROFS_DIRENT_SIZE) {
		end = sc_le16(blk + ((size_t)i + 1) * EROFS_DIRENT_SIZE + 8);
		if (end < nameoff || end > len)
			return -EUCLEAN;
	} else
		end = nameoff + strnlen((const char *)blk + nameoff, len - nameoff); /* the last: up to a NUL */
	n = end - nameoff;
	if (n == 0 || n > SC_EROFS_NAME_MAX || memchr(blk + nameoff, '/', n) || memchr(blk + nameoff, '\0', n))
		return -EUCLEAN;
	ret->nid = sc_le64(blk + (size_t)i * EROFS_DIRENT_SIZE);
	ret->type = blk[(size_t)i * EROFS_DIRENT_SIZE + 10];
	ret->name_len = (uint8_t)n;
	memcpy(ret->name, blk + nameoff, n);
	ret->name[n] = '\0';
	return 1;
}

/* One xattr entry at @pos (inside [pos, limit)): its size, and the value's length when it is @index.@name. */
static int xattr_entry(struct sc_erofs *e, uint64_t pos, uint64_t limit, unsigned index, const char *name,
		       size_t name_len, void *buf, size_t size, uint64_t *entry_size, ssize_t *found)
{
	const uint8_t *p;
	uint64_t esize;
	uint16_t vsize;
	uint8_t nlen, idx;
	int r;

	*found = -ENODATA;
	if (limit < pos || limit - pos < 4)
		return -EUCLEAN;
	r = fetch(e, pos, 4, &p);
	if (r < 0)
		return r;
	nlen = p[0], idx = p[1], vsize = sc_le16(p + 2);
	esize = (4u + nlen + vsize + 3u) & ~3u;
	if (limit - pos < esize)
		return -EUCLEAN;
	*entry_size = esize;
	if (idx != index || nlen != name_len)
		return 0;
	r = fetch(e, pos + 4, nlen, &p);
	if (r < 0)
		return r;
	if (memcmp(p, name, nlen) != 0)
		return 0;
	if (vsize > size)
		return (*found = -ERANGE), 0;
	r = fetch(e, pos + 4 + nlen, vsize, &p);
	if (r < 0)
		return r;
	memcpy(buf, p, vsize);
	*found = vsize;
	return 0;
}

ssize_t sc_erofs_getxattr(struct sc_erofs *e, const struct sc_erofs_inode *ino, unsigned index, const char *name,
			  void *buf, size_t size)
{
	size_t name_len = strlen(name);
	uint64_t base = ino->pos + ino->isize, pos, end, esize = 0;
	uint32_t shared_ids[255];
	const uint8_t *p;
	unsigned shared;
	ssize_t found;
	int r;

	/* As erofs_init_inode_xattrs(): none, a lone header (not defined yet), or too small to hold one. */
	if (ino->xattr_size == 0)
		return -ENODATA;
	if (ino->xattr_size == EROFS_XATTR_IBODY_HEADER_SIZE)
		return -EOPNOTSUPP;
	if (ino->xattr_size < EROFS_XATTR_IBODY_HEADER_SIZE)
		return -EUCLEAN;
	if (name_len > UINT8_MAX)
		return -ENODATA;
	r = fetch(e, base, EROFS_XATTR_IBODY_HEADER_SIZE, &p);
	if (r < 0)
		return r;
	shared = p[4];
	if (e->xattr_filter) {
		uint32_t filter = sc_le32(p), bit = sc_erofs_xxh32(name, name_len, EROFS_XATTR_FILTER_SEED + index) & 31;

		if (filter & (1u << bit))
			return -ENODATA; /* the kernel trusts the filter: the name is absent */
	}
	if (EROFS_XATTR_IBODY_HEADER_SIZE + 4u * shared > ino->xattr_size)
		return -EUCLEAN;
	if (shared) {
		r = fetch(e, base + EROFS_XATTR_IBODY_HEADER_SIZE, 4u * shared, &p);
		if (r < 0)
			return r;
		for (unsigned i = 0; i < shared; i++)
			shared_ids[i] = sc_le32(p + 4u * i);
	}
	end = base + ino->xattr_size;
	for (pos = base + EROFS_XATTR_IBODY_HEADER_SIZE + 4u * shared; pos < end; pos += esize) {
		r = xattr_entry(e, pos, end, index, name, name_len, buf, size, &esize, &found);
		if (r < 0)
			return r;
		if (found != -ENODATA)
			return found;
	}
	for (unsigned i = 0; i < shared; i++) {
		pos = e->xattr_base + ((uint64_t)shared_ids[i] << 2);
		r = xattr_entry(e, pos, e->size, index, name, name_len, buf, size, &esize, &found);
		if (r < 0)
			return r;
		if (found != -ENODATA)
			return found;
	}
	return -ENODATA;
}

/* xxHash32 (Yann Collet's specification), for the xattr name filter. */
#define XXH_P1 0x9E3779B1u
#define XXH_P2 0x85EBCA77u
#define XXH_P3 0xC2B2AE3Du
#define XXH_P4 0x27D4EB2Fu
#define XXH_P5 0x165667B1u

static inline uint32_t rotl32(uint32_t x, unsigned r)
{
	return (x << r) | (x >> (32 - r));
}

static inline uint32_t xxh_round(uint32_t acc, uint32_t lane)
{
	return rotl32(acc + lane * XXH_P2, 13) * XXH_P1;
}

uint32_t sc_erofs_xxh32(const void *data, size_t len, uint32_t seed)
{
	const uint8_t *p = data, *end = p + len;
	uint32_t h;

	if (len >= 16) {
		uint32_t v1 = seed + XXH_P1 + XXH_P2, v2 = seed + XXH_P2, v3 = seed, v4 = seed - XXH_P1;

		for (; end - p >= 16; p += 16) {
			v1 = xxh_round(v1, sc_le32(p));
			v2 = xxh_round(v2, sc_le32(p + 4));
			v3 = xxh_round(v3, sc_le32(p + 8));
			v4 = xxh_round(v4, sc_le32(p + 12));
		}
		h = rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18);
	} else
		h = seed + XXH_P5;
	h += (uint32_t)len;
	for (; end - p >= 4; p += 4)
		h = rotl32(h + sc_le32(p) * XXH_P3, 17) * XXH_P4;
	for (; p < end; p++)
		h = rotl32(h + *p * XXH_P5, 11) * XXH_P1;
	h ^= h >> 15;
	h *= XXH_P2;
	h ^= h >> 13;
	h *= XXH_P3;
	h ^= h >> 16;
	return h;
}
