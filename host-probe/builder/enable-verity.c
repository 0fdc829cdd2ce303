/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * enable-verity: FS_IOC_ENABLE_VERITY on every regular file below the
 * directories given, from one process (one `fsverity enable` process per
 * file costs ~78 ms under TCG; this costs a few ms per file). Used by the
 * image builder's install boot, inside the guest.
 *   enable-verity sha512|sha256 DIR...
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fsverity.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static unsigned hash_alg;
static unsigned long enabled, already, failed;

static int one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct fsverity_enable_arg arg = {
		.version = 1,
		.hash_algorithm = hash_alg,
		.block_size = 4096,
	};
	int fd;

	(void)st;
	(void)ftw;
	if (type != FTW_F)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		fprintf(stderr, "enable-verity: %s: %s\n", path, strerror(errno));
		failed++;
		return 0;
	}
	if (ioctl(fd, FS_IOC_ENABLE_VERITY, &arg) == 0)
		enabled++;
	else if (errno == EEXIST)
		already++;
	else {
		fprintf(stderr, "enable-verity: %s: %s\n", path, strerror(errno));
		failed++;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "sha512") != 0 && strcmp(argv[1], "sha256") != 0)) {
		fprintf(stderr, "usage: enable-verity sha512|sha256 DIR...\n");
		return 2;
	}
	hash_alg = strcmp(argv[1], "sha512") == 0 ? FS_VERITY_HASH_ALG_SHA512 : FS_VERITY_HASH_ALG_SHA256;
	for (int i = 2; i < argc; i++)
		if (nftw(argv[i], one, 64, FTW_PHYS) < 0) {
			fprintf(stderr, "enable-verity: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
	printf("enable-verity: %lu enabled, %lu already, %lu failed\n", enabled, already, failed);
	return failed ? 1 : 0;
}
