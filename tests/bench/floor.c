/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The floor of the benchmark: the unavoidable system calls and nothing else,
 * single-threaded. Walk the mounted EROFS image, read each regular file's
 * metacopy and redirect xattrs, open + FS_IOC_MEASURE_VERITY + close the
 * object it names. No checks beyond the ioctl's success, no output per file.
 *   floor MOUNTED_IMAGE OBJECTS_DIR
 */
#include <fcntl.h>
#include <ftw.h>
#include <linux/fsverity.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>

static int objects_fd;
static unsigned long measured, failed;

static int one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	union {
		struct fsverity_digest d;
		uint8_t raw[sizeof(struct fsverity_digest) + 64];
	} u;
	uint8_t mc[80];
	char rd[512];
	ssize_t n;
	int fd;

	(void)st;
	(void)ftw;
	if (type != FTW_F || lgetxattr(path, "trusted.overlay.metacopy", mc, sizeof(mc)) < 0)
		return 0;
	n = lgetxattr(path, "trusted.overlay.redirect", rd, sizeof(rd) - 1);
	if (n < 2)
		return 0;
	rd[n] = '\0';
	fd = openat(objects_fd, rd + 1, O_RDONLY | O_CLOEXEC);
	u.d.digest_size = 64;
	if (fd >= 0 && ioctl(fd, FS_IOC_MEASURE_VERITY, &u.d) == 0)
		measured++;
	else
		failed++;
	if (fd >= 0)
		close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	objects_fd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (objects_fd < 0 || nftw(argv[1], one, 64, FTW_PHYS) < 0) {
		perror("floor");
		return 1;
	}
	printf("floor: %lu measured, %lu failed\n", measured, failed);
	return failed ? 1 : 0;
}
