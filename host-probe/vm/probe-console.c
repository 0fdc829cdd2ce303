/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "probe-console.h"
#include "sc-macro.h"
#include "sc-term.h"

static const struct {
	const char *text, *why;
	unsigned grace_ms;
} signs[PROBE_CONSOLE_SIGNS] = {
	{ "FILE CORRUPTED", "the guest kernel reported a fs-verity violation (FILE CORRUPTED)", 20000 },
	{ "refusing to boot", "the guest's initramfs refused to boot", 0 },
	{ "Kernel panic", "the guest kernel panicked", 0 },
	{ "No bootable option or device was found", "the firmware booted nothing (Secure Boot refused the UKI?)", 0 },
};

int probe_console_open(struct probe_console *c, const char *sock_path, const char *log_path, size_t log_max)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(c, 0, sizeof(*c));
	c->fd = c->log_fd = -1;
	c->log_max = log_max;
	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->listen_fd < 0)
		return -errno;
	(void)unlink(sock_path);
	if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(c->listen_fd, 2) < 0) {
		int r = -errno;

		probe_console_close(c);
		return r;
	}
	c->log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (c->log_fd < 0) {
		int r = -errno;

		probe_console_close(c);
		return r;
	}
	return 0;
}

void probe_console_close(struct probe_console *c)
{
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->fd >= 0)
		close(c->fd);
	if (c->log_fd >= 0)
		close(c->log_fd);
	c->listen_fd = c->fd = c->log_fd = -1;
}

void probe_console_reset(struct probe_console *c)
{
	if (c->fd >= 0)
		close(TAKE_FD(c->fd));
	if (c->log_fd >= 0 && ftruncate(c->log_fd, 0) == 0)
		(void)lseek(c->log_fd, 0, SEEK_SET);
	c->bytes = c->logged = 0;
	c->tail_len = c->tail_pos = c->carry_len = 0;
	memset(c->sign_seen_ms, 0, sizeof(c->sign_seen_ms));
}

int probe_console_accept(struct probe_console *c)
{
	int fd;

	if (c->listen_fd < 0)
		return 0;
	fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
	if (c->fd >= 0)
		close(c->fd); /* one console: the newest QEMU's */
	c->fd = fd;
	return 1;
}

static void scan(struct probe_console *c, const char *buf, size_t n, long long now)
{
	char win[sizeof(c->carry) + 4096];

	/* Scan carry + chunk in windows, each overlapping the last by the carry. */
	while (n > 0) {
		size_t take = n < 4096 ? n : 4096, len = c->carry_len + take;

		memcpy(win, c->carry, c->carry_len);
		memcpy(win + c->carry_len, buf, take);
		for (size_t i = 0; i < PROBE_CONSOLE_SIGNS; i++)
			if (!c->sign_seen_ms[i] && memmem(win, len, signs[i].text, strlen(signs[i].text)))
				c->sign_seen_ms[i] = now ? now : 1;
		c->carry_len = len < sizeof(c->carry) ? len : sizeof(c->carry);
		memcpy(c->carry, win + len - c->carry_len, c->carry_len);
		buf += take;
		n -= take;
	}
}

void probe_console_feed(struct probe_console *c, const void *data, size_t n, long long now)
{
	const char *buf = data;

	c->bytes += n;
	if (c->log_fd >= 0 && c->logged < c->log_max) {
		size_t room = c->log_max - (size_t)c->logged, w = n < room ? n : room;
		ssize_t k = write(c->log_fd, buf, w);

		if (k > 0)
			c->logged += (uint64_t)k;
	}
	for (size_t i = 0; i < n; i++) {
		c->tail[c->tail_pos] = buf[i];
		c->tail_pos = (c->tail_pos + 1) % sizeof(c->tail);
		if (c->tail_len < sizeof(c->tail))
			c->tail_len++;
	}
	scan(c, buf, n, now);
}

ssize_t probe_console_read(struct probe_console *c, long long now)
{
	char buf[16384];
	ssize_t n;

	if (c->fd < 0)
		return -EAGAIN;
	n = read(c->fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EINTR || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == 0) {
		close(TAKE_FD(c->fd));
		return 0;
	}
	probe_console_feed(c, buf, (size_t)n, now);
	return n;
}

const char *probe_console_stopped(const struct probe_console *c, long long now)
{
	for (size_t i = 0; i < PROBE_CONSOLE_SIGNS; i++)
		if (c->sign_seen_ms[i] && now - c->sign_seen_ms[i] >= (long long)signs[i].grace_ms)
			return signs[i].why;
	return NULL;
}

const char *probe_console_sign(const struct probe_console *c)
{
	for (size_t i = 0; i < PROBE_CONSOLE_SIGNS; i++)
		if (c->sign_seen_ms[i])
			return signs[i].why;
	return NULL;
}

char *probe_console_tail_text(const struct probe_console *c, unsigned lines)
{
	_cleanup_free_ char *plain = malloc(c->tail_len + 1);
	char *start, *out = NULL;
	size_t o = 0, first = (c->tail_pos + sizeof(c->tail) - c->tail_len) % sizeof(c->tail);
	unsigned seen = 0;

	if (!plain)
		return NULL;
	/* Strip terminal escape sequences (firmware draws with them) and carriage returns. */
	for (size_t k = 0; k < c->tail_len; k++) {
		unsigned char ch = (unsigned char)c->tail[(first + k) % sizeof(c->tail)];

		if (ch == 0x1b) {
			while (k + 1 < c->tail_len) {
				unsigned char nx = (unsigned char)c->tail[(first + k + 1) % sizeof(c->tail)];

				k++;
				if ((nx >= 'A' && nx <= 'Z') || (nx >= 'a' && nx <= 'z'))
					break;
			}
			continue;
		}
		if (ch == '\r')
			continue;
		plain[o++] = (char)ch;
	}
	while (o > 0 && plain[o - 1] == '\n')
		o--;
	plain[o] = '\0';
	for (start = plain + o; start > plain; start--)
		if (start[-1] == '\n' && ++seen >= lines)
			break;
	if (sc_term_escape(start, (size_t)(plain + o - start), SC_TERM_KEEP_NEWLINE, &out) < 0)
		return NULL;
	return out;
}
