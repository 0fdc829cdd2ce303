/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "probe.h"
#include "sc-io.h"
#include "sc-macro.h"
#include "sc-report-validate.h"
#include "sc-wire.h"

#define NONCE_RESEND_MS 5000   /* a guest agent that restarted has lost the nonce: say it again */
#define MAX_BAD_FRAMES 64      /* a guest that floods garbage is cut off */

static int make_nonce(char out[65])
{
	uint8_t raw[32];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

static int connect_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static void judge_frame(struct probe_collect *c, const struct sc_wire_frame *fr)
{
	json_t *doc = NULL, *nonce;
	char why[200];

	if (fr->type != SC_WIRE_REPORT)
		return; /* unknown frame types are for later versions */
	if (sc_report_validate((const char *)fr->payload, fr->len, &doc, why, sizeof(why)) < 0) {
		c->rejected++;
		snprintf(c->last_reject, sizeof(c->last_reject), "report rejected: %s", why);
		return;
	}
	nonce = json_object_get(doc, "nonce");
	if (!json_is_string(nonce) || strcmp(json_string_value(nonce), c->nonce) != 0) {
		/* The push at start (no nonce), or a replay of an older report. */
		c->stale++;
		snprintf(c->last_reject, sizeof(c->last_reject), "report rejected: %s",
			 json_is_string(nonce) ? "stale or foreign nonce (replay?)" : "no nonce (unsolicited)");
		json_decref(doc);
		return;
	}
	c->report = doc;
}

int probe_collect(const char *socket_path, long long deadline, bool (*alive)(void *), void *userdata,
		  struct probe_collect *c)
{
	_cleanup_free_ char *frame = NULL;
	_cleanup_close_ int fd = -1;
	struct sc_wire_decoder dec;
	long long start, next_nonce = 0;
	size_t frame_len;
	int r;

	memset(c, 0, sizeof(*c));
	r = make_nonce(c->nonce);
	if (r < 0)
		return r;
	r = sc_wire_encode(SC_WIRE_NONCE, c->nonce, 64, &frame, &frame_len);
	if (r < 0)
		return r;
	/* QEMU creates the socket a moment after it starts. */
	while ((fd = connect_socket(socket_path)) < 0) {
		if (alive && !alive(userdata))
			return -ECHILD;
		if (sc_now_ms() >= deadline)
			return fd == -ENOENT || fd == -ECONNREFUSED ? -ETIMEDOUT : fd;
		usleep(100 * 1000);
	}
	start = sc_now_ms();
	r = sc_wire_decoder_init(&dec, SC_WIRE_MAX_PAYLOAD);
	if (r < 0)
		return r;
	r = -ETIMEDOUT;
	while (!c->report) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct sc_wire_frame fr;
		long long now = sc_now_ms(), wait;
		uint8_t buf[16384];
		ssize_t n;

		if (now >= deadline)
			break;
		if (now >= next_nonce) {
			if (sc_write_all(fd, frame, frame_len, deadline) < 0)
				break;
			next_nonce = now + NONCE_RESEND_MS;
		}
		wait = (next_nonce < deadline ? next_nonce : deadline) - now;
		if (poll(&p, 1, (int)(wait > 1000 ? 1000 : wait)) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (alive && !alive(userdata) && !(p.revents & POLLIN)) {
			r = -ECHILD; /* the VM is gone and nothing is left to read */
			break;
		}
		if (!(p.revents & (POLLIN | POLLHUP)))
			continue;
		/* Back-pressure: read only what the decoder has room for. */
		n = read(fd, buf, sc_wire_space(&dec) < sizeof(buf) ? sc_wire_space(&dec) : sizeof(buf));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			r = n == 0 ? -ECONNRESET : -errno;
			break;
		}
		sc_wire_feed(&dec, buf, (size_t)n);
		while (!c->report && sc_wire_next(&dec, &fr) == 1)
			judge_frame(c, &fr);
		c->bad_frames = dec.bad_frames;
		c->oversized = dec.oversized;
		if (dec.bad_frames > MAX_BAD_FRAMES) {
			snprintf(c->last_reject, sizeof(c->last_reject), "%u malformed frames: the guest is cut off",
				 dec.bad_frames);
			r = -EPROTO;
			break;
		}
	}
	if (c->report)
		r = 0;
	c->seconds = (double)(sc_now_ms() - start) / 1000.0;
	sc_wire_decoder_done(&dec);
	return r;
}
