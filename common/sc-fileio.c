/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sc-fileio.h"
#include "sc-macro.h"

int sc_path_join(const struct sc_paths *paths, const char *abs, char **ret)
{
	const char *root = paths && paths->root ? paths->root : "";
	size_t rl;
	char *p;

	if (!abs || abs[0] != '/')
		return -EINVAL;
	rl = strlen(root);
	while (rl > 0 && root[rl - 1] == '/')
		rl--;
	if (asprintf(&p, "%.*s%s", (int)rl, root, abs) < 0)
		return -ENOMEM;
	*ret = p;
	return 0;
}

int sc_read_fd_capped(int fd, size_t cap, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, alloc = 0;
	unsigned interrupted = 0;

	if (cap >= SIZE_MAX - 1)
		return -EINVAL;
	for (;;) {
		ssize_t n;

		if (len == alloc) {
			size_t want = alloc ? alloc * 2 : 4096;
			char *nb;

			/* One byte past the cap tells a file that is too large from one that fits. */
			if (want > cap + 1)
				want = cap + 1;
			if (want <= alloc)
				return -EFBIG;
			nb = realloc(buf, want + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
			alloc = want;
		}
		n = read(fd, buf + len, alloc - len);
		if (n < 0) {
			if (errno == EINTR && ++interrupted < SC_READ_EINTR_RETRIES)
				continue;
			return sc_negative_errno();
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > cap)
			return -EFBIG;
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf)
			return -ENOMEM;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int sc_read_file_capped(const char *path, size_t cap, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	unsigned interrupted = 0;

	for (;;) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0)
			break;
		if (errno != EINTR || ++interrupted >= SC_READ_EINTR_RETRIES)
			return sc_negative_errno();
	}
	return sc_read_fd_capped(fd, cap, ret, ret_len);
}
