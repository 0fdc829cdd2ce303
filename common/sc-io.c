/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "sc-io.h"

long long sc_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long long sc_now_ms(void)
{
	return sc_now_us() / 1000;
}

int sc_write_all(int fd, const void *buf, size_t len, long long deadline_ms)
{
	const char *p = buf;
	size_t off = 0;

	while (off < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		long long left = deadline_ms - sc_now_ms();
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd.revents & (POLLHUP | POLLERR))
			return -ENOTCONN;
		if (!(pfd.revents & POLLOUT))
			continue;
		n = write(fd, p + off, len - off);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return errno == EPIPE ? -ENOTCONN : -errno;
		}
		off += (size_t)n;
	}
	return 0;
}
