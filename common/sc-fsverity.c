/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <libfsverity.h>
#include <linux/fsverity.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sc-fsverity.h"
#include "sc-macro.h"

int sc_fsverity_measure_fd(int fd, struct sc_digest *ret)
{
	/* The header's flexible array needs real storage behind it, suitably aligned. */
	union {
		struct fsverity_digest d;
		uint8_t raw[sizeof(struct fsverity_digest) + SC_DIGEST_MAX];
	} u;
	struct sc_digest out;

	memset(&u, 0, sizeof(u));
	u.d.digest_size = SC_DIGEST_MAX;
	if (ioctl(fd, FS_IOC_MEASURE_VERITY, &u.d) < 0)
		return sc_negative_errno();
	/* Digest compared by algorithm AND length: an algorithm we do not know is not a match. */
	if (sc_digest_set(&out, (enum sc_hash_alg)u.d.digest_algorithm, u.raw + sizeof(struct fsverity_digest),
			  u.d.digest_size) < 0)
		return -EPROTO;
	*ret = out;
	return 0;
}

int sc_fsverity_measure_path(const char *path, bool follow, struct sc_digest *ret)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0)
		return errno == ELOOP ? -EINVAL : sc_negative_errno();
	if (fstat(fd, &st) < 0)
		return sc_negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	return sc_fsverity_measure_fd(fd, ret);
}

const char *sc_fsverity_strerror(int e)
{
	switch (e) {
	case -ENODATA:
		return "no fs-verity on this file";
	case -ENOTTY:
		return "filesystem without fs-verity (ENOTTY): fs-verity not available on this path";
	case -EOPNOTSUPP:
		return "fs-verity not enabled in this kernel or filesystem (EOPNOTSUPP)";
	case -EOVERFLOW:
		return "digest larger than 64 bytes (EOVERFLOW)";
	case -EPROTO:
		return "kernel reported an unknown digest algorithm or size";
	case -EINVAL:
		return "not a regular file";
	case -ENOENT:
		return "no such file";
	case -EACCES:
	case -EPERM:
		return "permission denied";
	case -EIO:
		return "I/O error (EIO)";
	default:
		return NULL;
	}
}

static int read_cb(void *fd_p, void *buf, size_t count)
{
	int fd = *(int *)fd_p;
	uint8_t *p = buf;

	while (count > 0) {
		ssize_t n = read(fd, p, count);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return sc_negative_errno();
		}
		if (n == 0)
			return -EIO; /* the file shrank under us */
		p += n;
		count -= (size_t)n;
	}
	return 0;
}

int sc_fsverity_compute_fd(int fd, enum sc_hash_alg alg, struct sc_digest *ret)
{
	struct libfsverity_merkle_tree_params params = {
		.version = 1,
		.hash_algorithm = (uint32_t)alg,
		.block_size = 4096,
	};
	struct libfsverity_digest *d = NULL;
	struct stat st;
	int r;

	if (sc_hash_alg_size(alg) == 0)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return sc_negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	params.file_size = (uint64_t)st.st_size;
	r = libfsverity_compute_digest(&fd, read_cb, &params, &d);
	if (r < 0)
		return r;
	r = sc_digest_set(ret, (enum sc_hash_alg)d->digest_algorithm, d->digest, d->digest_size);
	free(d);
	return r;
}
