/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sealcheck agent: the guest side of attestation over virtio-serial.
 *
 * Finds the port by name under /sys/class/virtio-ports (no udev needed),
 * pushes a report when it starts and answers each host nonce with a fresh
 * report. Never blocks: the port is non-blocking, every frame has a deadline,
 * an absent host (POLLHUP) only delays the push. Nothing the host sends is
 * used except a nonce of fixed size and charset.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli-agent.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-wire.h"

#define HOST_POLL_MS 500      /* host absent: look again this often (qemu-ga waits 100 ms) */
#define FRAME_DEADLINE_MS 5000
#define AGENT_MAX_INPUT 4096        /* the host only ever sends nonces */

static bool to_journal;

_printf_(2, 3) static void logmsg(int level, const char *fmt, ...)
{
	va_list ap;

	/* Under systemd, a <N> prefix sets the journal priority. */
	if (to_journal)
		fprintf(stderr, "<%d>", level);
	fputs("sealcheck-agent: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* /dev/vportNpM of the port called @name, from sysfs under the root. */
static int find_port(const struct sc_paths *paths, const char *name, char **ret)
{
	_cleanup_free_ char *dir = NULL;
	DIR *d;
	struct dirent *de;
	int r = -ENOENT;

	if (sc_path_join(paths, "/sys/class/virtio-ports", &dir) < 0)
		return -ENOMEM;
	d = opendir(dir);
	if (!d)
		return -ENOENT;
	while (r == -ENOENT && (de = readdir(d))) {
		_cleanup_free_ char *p = NULL, *buf = NULL;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s/name", dir, de->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		if (sc_read_file_capped(p, SC_SMALL_FILE_MAX, &buf, &len) < 0)
			continue;
		while (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		if (strcmp(buf, name) == 0) {
			_cleanup_free_ char *rel = NULL;

			if (asprintf(&rel, "/dev/%s", de->d_name) < 0 || sc_path_join(paths, rel, ret) < 0)
				r = -ENOMEM;
			else
				r = 0;
		}
	}
	closedir(d);
	return r;
}

static int open_port(const struct sc_paths *paths, const char *name, const char *device, unsigned wait_s,
		     char **ret_path)
{
	long long deadline = sc_now_ms() + (long long)wait_s * 1000;

	for (;;) {
		_cleanup_free_ char *path = NULL;
		int fd, r;

		if (device) {
			path = strdup(device);
			r = path ? 0 : -ENOMEM;
		} else
			r = find_port(paths, name, &path);
		if (r == -ENOMEM)
			return r;
		if (r == 0) {
			fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
			if (fd >= 0) {
				*ret_path = TAKE_PTR(path);
				return fd;
			}
			if (errno == EBUSY) {
				logmsg(3, "%s: busy: another process holds the port", path);
				return -EBUSY;
			}
		}
		if (sc_now_ms() >= deadline)
			return r < 0 ? r : -ENODEV;
		sleep(2);
	}
}

static int make_report_frame(const struct sc_paths *paths, const struct sc_collect_options *collect,
			     const char *nonce, char **ret, size_t *ret_len, const char **verdict)
{
	struct sc_report rep;
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *text = NULL;
	int r;

	r = sc_report_collect(paths, collect, &rep);
	if (r < 0)
		return r;
	*verdict = sc_verdict_name(rep.verdict);
	r = sc_report_to_json(paths, &rep, nonce, &doc);
	sc_report_done(&rep);
	if (r < 0)
		return r;
	text = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!text)
		return -ENOMEM;
	return sc_wire_encode(SC_WIRE_REPORT, text, strlen(text), ret, ret_len);
}

int cli_agent(const struct sc_paths *paths, const struct cli_agent_options *o)
{
	struct sc_wire_decoder dec;
	_cleanup_free_ char *path = NULL, *pending = NULL;
	size_t pending_len = 0;
	const char *verdict = "error";
	int fd, r;

	to_journal = getenv("JOURNAL_STREAM") != NULL;
	fd = open_port(paths, o->port, o->device, o->wait_port_s, &path);
	if (fd < 0) {
		logmsg(3, "no virtio-serial port '%s' after %us (%s); not attesting", o->port, o->wait_port_s,
		       strerror(-fd));
		return 1;
	}
	logmsg(6, "attesting over %s (port %s)", path, o->port);
	if (sc_wire_decoder_init(&dec, AGENT_MAX_INPUT) < 0)
		return 2;

	/* The push at start: a report without a nonce, for hosts that only listen. */
	r = make_report_frame(paths, &o->collect, NULL, &pending, &pending_len, &verdict);
	if (r < 0)
		logmsg(3, "making the report: %s", strerror(-r));
	else
		logmsg(6, "verdict at start: %s", verdict);

	for (unsigned answered = 0; o->max_answers == 0 || answered < o->max_answers;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct sc_wire_frame fr;
		uint8_t buf[512];
		ssize_t n;

		if (pending) {
			/* The whole frame or nothing: a frame cut short is resent whole, never resumed. */
			r = sc_write_all(fd, pending, pending_len, sc_now_ms() + FRAME_DEADLINE_MS);
			if (r == 0) {
				free(TAKE_PTR(pending));
				answered += o->max_answers ? 1 : 0;
				continue;
			}
			if (r != -ENOTCONN && r != -ETIMEDOUT)
				logmsg(4, "sending the report: %s", strerror(-r));
		}
		if (poll(&p, 1, pending ? HOST_POLL_MS : -1) < 0 && errno != EINTR) {
			logmsg(3, "poll: %m");
			break;
		}
		if (p.revents & POLLHUP) {
			/* Host side closed: nothing to read; wait for it to come back. */
			usleep(HOST_POLL_MS * 1000);
			continue;
		}
		if (!(p.revents & POLLIN))
			continue;
		n = read(fd, buf, sc_wire_space(&dec) < sizeof(buf) ? sc_wire_space(&dec) : sizeof(buf));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			if (errno == ENODEV) { /* port unplugged: find it again */
				close(fd);
				free(TAKE_PTR(path));
				fd = open_port(paths, o->port, o->device, o->wait_port_s, &path);
				if (fd < 0)
					break;
				continue;
			}
			logmsg(3, "read: %m");
			break;
		}
		if (n == 0) {
			usleep(HOST_POLL_MS * 1000);
			continue;
		}
		sc_wire_feed(&dec, buf, (size_t)n);
		while (sc_wire_next(&dec, &fr) == 1) {
			if (fr.type != SC_WIRE_NONCE || !sc_nonce_valid((const char *)fr.payload, fr.len)) {
				logmsg(4, "ignoring a frame of type '%c' (%zu bytes) from the host", fr.type, fr.len);
				continue;
			}
			free(TAKE_PTR(pending));
			r = make_report_frame(paths, &o->collect, (const char *)fr.payload, &pending, &pending_len,
					      &verdict);
			if (r < 0)
				logmsg(3, "making the report: %s", strerror(-r));
			else
				logmsg(6, "answering a nonce: verdict %s", verdict);
		}
	}
	sc_wire_decoder_done(&dec);
	if (fd >= 0)
		close(fd);
	return 0;
}
