/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fs-verity: measuring a file's digest in the kernel (FS_IOC_MEASURE_VERITY)
 * and computing the same digest in userspace (libfsverity), so the host can
 * know a UKI's composefs= before the guest boots.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "sc-digest.h"

/*
 * sc_fsverity_measure_fd() - the fs-verity digest the kernel holds for @fd.
 * Returns 0, or the ioctl's negative errno:
 *   -ENODATA     the file has no fs-verity;
 *   -ENOTTY      the filesystem does not implement fs-verity (overlayfs, tmpfs, ...);
 *   -EOPNOTSUPP  fs-verity is off in this kernel or filesystem instance;
 *   -EOVERFLOW   only if the kernel needs more than FS_VERITY_MAX_DIGEST_SIZE;
 *   -EPROTO      the kernel answered with an algorithm or size we do not know.
 */
int sc_fsverity_measure_fd(int fd, struct sc_digest *ret);

/*
 * sc_fsverity_measure_path() - open @path (O_RDONLY|O_NONBLOCK; with
 * @follow false also O_NOFOLLOW, as walks of untrusted trees need) and
 * measure it. Regular files only: -EINVAL otherwise.
 */
int sc_fsverity_measure_path(const char *path, bool follow, struct sc_digest *ret);

/* A short human explanation of a measure errno ("the file has no fs-verity"...). */
const char *sc_fsverity_strerror(int negative_errno);

/*
 * sc_fsverity_compute_fd() - compute the fs-verity digest of @fd's content
 * in userspace (libfsverity; 4096-byte blocks, no salt), reading from the
 * current offset to EOF. Returns 0 or a negative errno.
 */
int sc_fsverity_compute_fd(int fd, enum sc_hash_alg alg, struct sc_digest *ret);
