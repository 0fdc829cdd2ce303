/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * LD_PRELOAD shim for whole-program tests on hosts without fs-verity.
 *
 * Answers FS_IOC_MEASURE_VERITY as a kernel with fs-verity would, computing
 * the digest of the file's bytes with libfsverity (4096-byte blocks, no
 * salt). Every other ioctl goes to libc.
 *
 *   FAKE_FSVERITY      compute (default) | nodata | notty | opnotsupp | overflow |
 *                      name (the digest an object store names the file by, read from
 *                      its path ".../XX/REST" without reading the file: for profiling)
 *   FAKE_FSVERITY_ALG  sha512 (default) | sha256
 * and per file: an xattr user.fake_fsverity=none means "no fs-verity here".
 */
#include <dlfcn.h>
#include <errno.h>
#include <linux/fsverity.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "sc-fsverity.h"

int ioctl(int fd, unsigned long request, ...);

int ioctl(int fd, unsigned long request, ...)
{
	static int (*real_ioctl)(int, unsigned long, ...);
	const char *mode = getenv("FAKE_FSVERITY"), *alg_name = getenv("FAKE_FSVERITY_ALG");
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);

	if (request == FS_IOC_MEASURE_VERITY) {
		struct fsverity_digest *d = arg;
		enum sc_hash_alg alg = alg_name && strcmp(alg_name, "sha256") == 0 ? SC_HASH_SHA256 : SC_HASH_SHA512;
		struct sc_digest out;
		off_t saved;
		int r;

		char flag[8] = "";

		if ((mode && strcmp(mode, "nodata") == 0) ||
		    (fgetxattr(fd, "user.fake_fsverity", flag, sizeof(flag) - 1) == 4 && memcmp(flag, "none", 4) == 0))
			return errno = ENODATA, -1;
		if (mode && strcmp(mode, "notty") == 0)
			return errno = ENOTTY, -1;
		if (mode && strcmp(mode, "opnotsupp") == 0)
			return errno = EOPNOTSUPP, -1;
		if ((mode && strcmp(mode, "overflow") == 0) || d->digest_size < sc_hash_alg_size(alg))
			return errno = EOVERFLOW, -1;
		if (mode && strcmp(mode, "name") == 0) {
			char link[64], path[4096];
			ssize_t n;
			char *slash;
			size_t hl = 0;

			snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
			n = readlink(link, path, sizeof(path) - 1);
			if (n <= 0)
				return errno = EIO, -1;
			path[n] = '\0';
			slash = strrchr(path, '/');
			if (!slash || slash - path < 3)
				return errno = ENODATA, -1;
			d->digest_algorithm = FS_VERITY_HASH_ALG_SHA512;
			d->digest_size = 64;
			for (const char *p = slash - 2; *p && hl < 128; p++)
				if (*p != '/') {
					unsigned v = (unsigned)(*p <= '9' ? *p - '0' : *p - 'a' + 10);

					if (hl % 2 == 0)
						d->digest[hl / 2] = (uint8_t)(v << 4);
					else
						d->digest[hl / 2] |= (uint8_t)v;
					hl++;
				}
			return hl == 128 ? 0 : (errno = ENODATA, -1);
		}
		saved = lseek(fd, 0, SEEK_CUR);
		if (lseek(fd, 0, SEEK_SET) < 0)
			return -1;
		r = sc_fsverity_compute_fd(fd, alg, &out);
		(void)lseek(fd, saved, SEEK_SET);
		if (r < 0)
			return errno = -r, -1;
		d->digest_algorithm = (uint16_t)out.alg;
		d->digest_size = out.len;
		memcpy(d->digest, out.bytes, out.len);
		return 0;
	}
	if (!real_ioctl)
		real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	return real_ioctl(fd, request, arg);
}
