/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "probe-session.h"
#include "sc-macro.h"
#include "sc-digest.h"
#include "sc-evidence.h"
#include "sc-json.h"
#include "sc-report-validate.h"

#define DEFAULT_RESEND_MS 5000 /* a guest agent that restarted has lost the nonce: say it again */
#define DEFAULT_RETRY_MS 100
#define DEFAULT_MAX_BAD_FRAMES 64
#define DEFAULT_MAX_FRAMES 256
#define DEFAULT_MAX_READ (64u * 1024u)
/*
 * Frames refused in one round (oversized, bad CRC, invalid or stale reports, stray evidence) before the
 * guest is cut off. An honest agent sends at most its push at connect (no nonce) and late answers to an
 * earlier round's resent nonce (a resend every 5 s within a 20 s deadline: 4) that are stale here; each
 * refused frame costs at most a CRC and a parse of max_report bytes, so a round costs a hostile guest's
 * host at most 9 of them, not MAX_BYTES_PER_ROUND of parsing; and those CRC-checked or parsed whole may
 * carry at most max_refused_bytes (2 reports' worth: an honest agent's are ~5 KiB), so frames just under
 * the report cap cost at most 3 parses.
 */
#define DEFAULT_MAX_REFUSED 8
/*
 * Bytes one round may bring: a report, its evidence and the credential answers are well under
 * this; past it a guest is cut off, so whole frames with valid CRCs (each parsed and validated)
 * cannot make the host's one loop parse megabytes per round for it.
 */
#define MAX_BYTES_PER_ROUND (8u * SC_WIRE_MAX_PAYLOAD)

const char *probe_session_end_name(enum probe_session_end e)
{
	static const char *const names[] = {
		[PROBE_END_NONE] = "none",	     [PROBE_END_REPORT] = "report", [PROBE_END_TIMEOUT] = "timeout",
		[PROBE_END_CLOSED] = "closed",	     [PROBE_END_FLOOD] = "flood",   [PROBE_END_STOPPED] = "stopped",
		[PROBE_END_ERROR] = "error",
	};

	return (unsigned)e < ELEMENTSOF(names) ? names[e] : "?";
}

static int make_nonce(char out[SC_NONCE_HEX_LEN + 1])
{
	uint8_t raw[SC_NONCE_HEX_LEN / 2];
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
	sc_hex_encode(raw, sizeof(raw), out);
	return 0;
}

int probe_session_init(struct probe_session *s, const struct probe_session_config *cfg)
{
	int r;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->cfg = *cfg;
	if (!s->cfg.resend_ms)
		s->cfg.resend_ms = DEFAULT_RESEND_MS;
	if (!s->cfg.retry_ms)
		s->cfg.retry_ms = DEFAULT_RETRY_MS;
	if (!s->cfg.max_bad_frames)
		s->cfg.max_bad_frames = DEFAULT_MAX_BAD_FRAMES;
	if (!s->cfg.max_frames)
		s->cfg.max_frames = DEFAULT_MAX_FRAMES;
	if (!s->cfg.max_payload || s->cfg.max_payload > SC_WIRE_MAX_PAYLOAD)
		s->cfg.max_payload = SC_WIRE_MAX_PAYLOAD;
	if (!s->cfg.max_report || s->cfg.max_report > SC_WIRE_MAX_REPORT)
		s->cfg.max_report = SC_WIRE_MAX_REPORT;
	if (!s->cfg.max_refused)
		s->cfg.max_refused = DEFAULT_MAX_REFUSED;
	if (!s->cfg.max_refused_bytes)
		s->cfg.max_refused_bytes = 2 * s->cfg.max_report;
	if (!s->cfg.max_read_per_io)
		s->cfg.max_read_per_io = DEFAULT_MAX_READ;
	if (!s->cfg.evidence_wait_ms)
		s->cfg.evidence_wait_ms = 30000;
	if (!s->cfg.credential_wait_ms)
		s->cfg.credential_wait_ms = 30000;
	r = make_nonce(s->nonce);
	if (r < 0)
		return r;
	r = sc_wire_encode(SC_WIRE_NONCE, s->nonce, SC_NONCE_HEX_LEN, &s->nonce_frame, &s->nonce_frame_len);
	if (r < 0)
		return r;
	r = sc_wire_decoder_init(&s->dec, s->cfg.max_payload);
	if (r < 0) {
		free(TAKE_PTR(s->nonce_frame));
		return r;
	}
	/* Only evidence may be larger than a report (common/sc-wire.h). */
	sc_wire_decoder_limit(&s->dec, s->cfg.max_report, (const char[]){ SC_WIRE_EVIDENCE, '\0' });
	return 0;
}

void probe_session_done(struct probe_session *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(TAKE_PTR(s->nonce_frame));
	sc_wire_decoder_done(&s->dec);
	if (s->report)
		json_decref(TAKE_PTR(s->report));
	if (s->evidence)
		json_decref(TAKE_PTR(s->evidence));
	free(TAKE_PTR(s->report_bytes));
	free(TAKE_PTR(s->out_frame));
}

static void finish(struct probe_session *s, enum probe_session_end end, long long now, const char *why)
{
	if (s->state == PROBE_SESSION_DONE)
		return;
	s->state = PROBE_SESSION_DONE;
	s->end = end;
	s->ended_ms = now;
	if (why && why != s->why)
		snprintf(s->why, sizeof(s->why), "%s", why);
	/* The connection is of no more use: a flooding guest is not read any further. An owner that keeps
	 * connections between rounds (watch) keeps an answering guest's. */
	if (s->fd >= 0 && !(end == PROBE_END_REPORT && s->cfg.keep_connection))
		close(TAKE_FD(s->fd));
}

int probe_session_take_fd(struct probe_session *s)
{
	return s->state == PROBE_SESSION_DONE && s->end == PROBE_END_REPORT ? TAKE_FD(s->fd) : -1;
}

void probe_session_stop(struct probe_session *s, enum probe_session_end end, const char *why, long long now)
{
	finish(s, end, now, why);
}

/* Write what is left of the nonce frame; never blocks. */
static void flush_nonce(struct probe_session *s, long long now)
{
	while (s->nonce_sent < s->nonce_frame_len) {
		ssize_t n = send(s->fd, s->nonce_frame + s->nonce_sent, s->nonce_frame_len - s->nonce_sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* POLLOUT will say when */
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)) {
			finish(s, PROBE_END_CLOSED, now, "the socket closed while the nonce was sent");
			return;
		}
		if (n < 0) {
			s->error = -errno;
			snprintf(s->why, sizeof(s->why), "sending the nonce: %s", strerror(errno));
			finish(s, PROBE_END_ERROR, now, s->why);
			return;
		}
		s->nonce_sent += (size_t)n;
	}
	s->next_send_ms = now + s->cfg.resend_ms;
}

/* Write what is left of our credential frame (the EK request, the challenge); never blocks. */
static void flush_out(struct probe_session *s, long long now)
{
	while (s->out_frame && s->out_sent < s->out_frame_len) {
		ssize_t n = send(s->fd, s->out_frame + s->out_sent, s->out_frame_len - s->out_sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			snprintf(s->credential.why, sizeof(s->credential.why),
				 "AK not bound to the EK: the socket failed while the host asked (%s)", strerror(errno));
			s->credential.status = PROBE_CRED_FAILED;
			finish(s, PROBE_END_REPORT, now, "a valid report echoed the nonce, with its evidence; the credential phase broke off");
			return;
		}
		s->out_sent += (size_t)n;
	}
}

static void send_out(struct probe_session *s, char type, const void *payload, size_t len, long long now)
{
	free(TAKE_PTR(s->out_frame));
	s->out_sent = 0;
	if (sc_wire_encode(type, payload, len, &s->out_frame, &s->out_frame_len) < 0) {
		s->error = -ENOMEM;
		finish(s, PROBE_END_ERROR, now, "out of memory");
		return;
	}
	s->credential_deadline_ms = now + s->cfg.credential_wait_ms;
	if (s->credential_deadline_ms > s->cfg.deadline_ms)
		s->credential_deadline_ms = s->cfg.deadline_ms;
	flush_out(s, now);
}

/* The agent's EK document (step 1) or its answer (step 2); anything else is ignored. */
static void judge_credential(struct probe_session *s, const struct sc_wire_frame *fr, long long now)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;

	if (s->credential_step == 1 && fr->type == SC_WIRE_EK) {
		if (probe_credential_challenge(s->cfg.credential, s->nonce, s->evidence, fr->payload, fr->len,
					       &s->credential, &text, &len) < 0) {
			finish(s, PROBE_END_REPORT, now, "a valid report echoed the nonce, with its evidence; its AK is not bound to the EK");
			return;
		}
		s->credential_step = 2;
		send_out(s, SC_WIRE_CHALLENGE, text, len, now);
	} else if (s->credential_step == 2 && fr->type == SC_WIRE_ANSWER) {
		(void)probe_credential_check_answer(&s->credential, s->nonce, fr->payload, fr->len);
		finish(s, PROBE_END_REPORT, now,
		       s->credential.status == PROBE_CRED_PROVEN
			       ? "a valid report echoed the nonce, with its evidence; its AK is bound to the EK"
			       : "a valid report echoed the nonce, with its evidence; its AK is not bound to the EK");
	}
}

int probe_session_attach(struct probe_session *s, int fd, long long now)
{
	if (s->state == PROBE_SESSION_DONE) {
		close(fd);
		return -ESTALE;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	s->state = PROBE_SESSION_WAITING;
	s->connected_ms = now;
	s->nonce_sent = 0;
	flush_nonce(s, now);
	return 0;
}

/*
 * A pinned session's socket: s->path opened without following a symlink (open(2): O_PATH with O_NOFOLLOW
 * opens the link itself, never its target) and checked to be the very socket the source found. Its
 * descriptor, -ENOENT (nothing there: retried) or -ESTALE (something else is there now).
 */
static int open_pinned(const struct probe_session *s)
{
	_cleanup_close_ int fd = open(s->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode) || (uint64_t)st.st_dev != s->pin_dev || (uint64_t)st.st_ino != s->pin_ino)
		return -ESTALE;
	return TAKE_FD(fd);
}

/* One connect() attempt. The socket may not exist yet: that is retried. */
static void try_connect(struct probe_session *s, long long now)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1, pinned = -1;

	if (s->pinned) {
		/* Checked on every attempt: what is at the path now, not what was there at the last one. */
		pinned = open_pinned(s);
		if (pinned == -ENOENT) {
			s->error = -ENOENT;
			s->next_connect_ms = now + s->cfg.retry_ms;
			return;
		}
		if (pinned < 0) {
			s->error = pinned;
			if (pinned == -ESTALE)
				snprintf(s->why, sizeof(s->why),
					 "%s is no longer the socket the VM was found as (replaced): not connected", s->path);
			else
				snprintf(s->why, sizeof(s->why), "opening %s: %s", s->path, strerror(-pinned));
			finish(s, PROBE_END_ERROR, now, s->why);
			return;
		}
		/* proc(5): /proc/self/fd/N of an O_PATH descriptor is a link to its file, and connect() through it
		 * reaches the socket that inode is (systemd's connect_unix_path() connects so too). */
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", pinned);
	} else
		memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		s->error = -errno;
		snprintf(s->why, sizeof(s->why), "socket(): %s", strerror(errno));
		finish(s, PROBE_END_ERROR, now, s->why);
		return;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		(void)probe_session_attach(s, TAKE_FD(fd), now);
		return;
	}
	/* Pinned, ENOENT is /proc/self/fd itself missing (the socket is held open): not retried. */
	if ((errno == ENOENT && !s->pinned) || errno == ECONNREFUSED || errno == EAGAIN || errno == EINTR) {
		s->error = -errno;
		s->next_connect_ms = now + s->cfg.retry_ms;
		return;
	}
	s->error = -errno;
	snprintf(s->why, sizeof(s->why), "connecting to %s%s: %s", s->path,
		 s->pinned ? " through /proc/self/fd" : "", strerror(errno));
	finish(s, PROBE_END_ERROR, now, s->why);
}

int probe_session_connect(struct probe_session *s, const char *path, long long now)
{
	if (strlen(path) >= sizeof(s->path) || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->state = PROBE_SESSION_CONNECTING;
	try_connect(s, now);
	return 0;
}

int probe_session_connect_pinned(struct probe_session *s, const char *path, uint64_t dev, uint64_t ino,
				 long long now)
{
	if (strlen(path) >= sizeof(s->path))
		return -ENAMETOOLONG;
	s->pinned = true;
	s->pin_dev = dev;
	s->pin_ino = ino;
	return probe_session_connect(s, path, now);
}

int probe_session_fd(const struct probe_session *s)
{
	return s->state == PROBE_SESSION_WAITING ? s->fd : -1;
}

short probe_session_events(const struct probe_session *s)
{
	if (s->state != PROBE_SESSION_WAITING)
		return 0;
	/* Back-pressure: while the decoder has no room, do not read. It always has room after sc_wire_next(). */
	return (short)(POLLIN | (s->nonce_sent < s->nonce_frame_len || (s->out_frame && s->out_sent < s->out_frame_len)
					 ? POLLOUT
					 : 0));
}

long long probe_session_wakeup(const struct probe_session *s)
{
	long long t = s->cfg.deadline_ms;

	switch (s->state) {
	case PROBE_SESSION_CONNECTING:
		return s->next_connect_ms < t ? s->next_connect_ms : t;
	case PROBE_SESSION_WAITING:
		if (s->credential_step)
			return s->credential_deadline_ms;
		if (s->report)
			return s->evidence_deadline_ms; /* the nonce was answered: no more resends */
		if (s->nonce_sent >= s->nonce_frame_len && s->next_send_ms < t)
			return s->next_send_ms;
		return t;
	case PROBE_SESSION_IDLE:
		return t;
	default:
		return -1;
	}
}

static void reject(struct probe_session *s, const char *detail)
{
	snprintf(s->last_reject, sizeof(s->last_reject), "report rejected: %s", detail);
}

/* An evidence frame: taken only for the report we accepted, our nonce and those very bytes. */
static void judge_evidence(struct probe_session *s, const struct sc_wire_frame *fr, long long now)
{
	json_t *doc;
	const char *nonce, *sha;

	if (!s->report_bytes || s->evidence)
		return; /* evidence for no report of ours, or after the one taken: ignored */
	doc = sc_utf8_valid((const char *)fr->payload, fr->len)
		      ? json_loadb((const char *)fr->payload, fr->len, JSON_REJECT_DUPLICATES, NULL)
		      : NULL;
	nonce = json_string_value(json_object_get(doc, "nonce"));
	sha = json_string_value(json_object_get(doc, "report_sha256"));
	if (!json_is_object(doc) || !nonce || strcmp(nonce, s->nonce) != 0 || !sha || strcmp(sha, s->report_sha256) != 0) {
		s->evidence_rejected++;
		s->refused_bytes += fr->len;
		snprintf(s->last_reject, sizeof(s->last_reject), "evidence rejected: %s",
			 !json_is_object(doc) ? "not a JSON object" : "not for this nonce and report");
		json_decref(doc);
		return;
	}
	s->evidence = doc;
	if (s->cfg.credential && !s->cfg.credential->pinned_name) {
		/* No AK pinned: ask for the EK, then challenge it (judge_credential()). */
		s->credential_step = 1;
		send_out(s, SC_WIRE_EK, s->nonce, SC_NONCE_HEX_LEN, now);
		return;
	}
	finish(s, PROBE_END_REPORT, now, "a valid report echoed the nonce, with its evidence");
}

static void judge_frame(struct probe_session *s, const struct sc_wire_frame *fr, long long now)
{
	json_t *doc = NULL, *nonce;
	char why[200];

	s->frames++;
	if (fr->type == SC_WIRE_EVIDENCE) {
		judge_evidence(s, fr, now);
		return;
	}
	if (fr->type == SC_WIRE_EK || fr->type == SC_WIRE_ANSWER) {
		judge_credential(s, fr, now);
		return;
	}
	if (fr->type != SC_WIRE_REPORT || s->report)
		return; /* unknown frame types are for later versions; a second report changes nothing */
	if (sc_report_validate((const char *)fr->payload, fr->len, &doc, why, sizeof(why)) < 0) {
		s->rejected++;
		s->refused_bytes += fr->len;
		reject(s, why);
		return;
	}
	nonce = json_object_get(doc, "nonce");
	if (!json_is_string(nonce) || strcmp(json_string_value(nonce), s->nonce) != 0) {
		/* The push at start (no nonce), or a replay of an older report. */
		s->stale++;
		s->refused_bytes += fr->len;
		reject(s, json_is_string(nonce) ? "stale or foreign nonce (replay?)" : "no nonce (unsolicited)");
		json_decref(doc);
		return;
	}
	s->report = doc;
	if (!s->cfg.expect_evidence) {
		finish(s, PROBE_END_REPORT, now, "a valid report echoed the nonce");
		return;
	}
	s->report_bytes = malloc(fr->len ? fr->len : 1);
	if (!s->report_bytes) {
		s->error = -ENOMEM;
		finish(s, PROBE_END_ERROR, now, "out of memory");
		return;
	}
	memcpy(s->report_bytes, fr->payload, fr->len);
	s->report_len = fr->len;
	/* Once: every evidence frame is compared with it, however many a guest sends. */
	sc_evidence_report_sha256(s->report_bytes, s->report_len, s->report_sha256);
	s->evidence_deadline_ms = now + s->cfg.evidence_wait_ms;
	if (s->evidence_deadline_ms > s->cfg.deadline_ms)
		s->evidence_deadline_ms = s->cfg.deadline_ms;
}

static unsigned refused(const struct probe_session *s)
{
	return s->dec.oversized + s->dec.bad_crc + s->rejected + s->stale + s->evidence_rejected;
}

/* Past a cap: the round ends as a flood, and the guest is not read further. */
static bool flooded(struct probe_session *s, long long now)
{
	if (s->state == PROBE_SESSION_DONE)
		return true;
	if (refused(s) > s->cfg.max_refused)
		snprintf(s->why, sizeof(s->why),
			 "%u frames refused (%u oversized, %u bad CRC, %u invalid, %u stale reports, %u stray evidence): "
			 "the guest is cut off",
			 refused(s), s->dec.oversized, s->dec.bad_crc, s->rejected, s->stale, s->evidence_rejected);
	else if (s->refused_bytes + s->dec.bad_crc_bytes > s->cfg.max_refused_bytes)
		snprintf(s->why, sizeof(s->why),
			 "%llu bytes of refused frames (%u bad CRC, %u invalid, %u stale reports, %u stray evidence): "
			 "the guest is cut off",
			 (unsigned long long)(s->refused_bytes + s->dec.bad_crc_bytes), s->dec.bad_crc, s->rejected,
			 s->stale, s->evidence_rejected);
	else if (s->dec.bad_frames > s->cfg.max_bad_frames)
		snprintf(s->why, sizeof(s->why), "%u malformed frames (%u oversized): the guest is cut off",
			 s->dec.bad_frames, s->dec.oversized);
	else if (s->frames > s->cfg.max_frames)
		snprintf(s->why, sizeof(s->why), "%u frames without a valid answer: the guest is cut off", s->frames);
	else
		return false;
	finish(s, PROBE_END_FLOOD, now, s->why);
	return true;
}

int probe_session_feed(struct probe_session *s, const void *buf, size_t n, long long now)
{
	const uint8_t *p = buf;

	s->bytes_in += n;
	if (s->bytes_in > MAX_BYTES_PER_ROUND && s->state != PROBE_SESSION_DONE) {
		snprintf(s->why, sizeof(s->why), "more than %u bytes in one round: the guest is cut off", MAX_BYTES_PER_ROUND);
		finish(s, PROBE_END_FLOOD, now, s->why);
		return 0;
	}
	while (n > 0 && s->state != PROBE_SESSION_DONE) {
		struct sc_wire_frame fr;
		size_t took = sc_wire_feed(&s->dec, p, n);

		p += took;
		n -= took;
		/* The caps are checked after every frame: the one past a cap is the last one looked at. */
		while (!flooded(s, now) && sc_wire_next(&s->dec, &fr) == 1)
			judge_frame(s, &fr, now);
		if (flooded(s, now)) /* also what sc_wire_next() refused at its last call */
			break;
		if (took == 0)
			break; /* cannot happen: after sc_wire_next() the buffer has room; never spin */
	}
	return 0;
}

/*
 * Read and judge what the socket holds, at most max_read_per_io, never blocking. @at_deadline: only the
 * bytes already there count; the end of the stream or an error is left to the deadline to judge.
 */
static void read_ready(struct probe_session *s, long long now, bool at_deadline)
{
	size_t budget = s->cfg.max_read_per_io;

	while (s->state == PROBE_SESSION_WAITING && budget > 0) {
		uint8_t buf[16384];
		size_t want = sc_wire_space(&s->dec);
		ssize_t n;

		if (want > sizeof(buf))
			want = sizeof(buf);
		if (want > budget)
			want = budget;
		n = recv(s->fd, buf, want, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0 && at_deadline)
			return;
		if (n < 0 && errno != ECONNRESET) {
			s->error = -errno;
			snprintf(s->why, sizeof(s->why), "reading from the guest: %s", strerror(errno));
			finish(s, PROBE_END_ERROR, now, s->why);
			return;
		}
		if (n <= 0) {
			finish(s, PROBE_END_CLOSED, now, "the guest's socket closed (the VM or its QEMU went away)");
			return;
		}
		budget -= (size_t)n;
		probe_session_feed(s, buf, (size_t)n, now);
	}
}

int probe_session_io(struct probe_session *s, short revents, long long now)
{
	if (s->state != PROBE_SESSION_WAITING)
		return 0;
	if ((revents & POLLOUT) && s->nonce_sent < s->nonce_frame_len)
		flush_nonce(s, now);
	if ((revents & POLLOUT) && s->out_frame && s->out_sent < s->out_frame_len)
		flush_out(s, now);
	if (revents & (POLLIN | POLLHUP | POLLERR))
		read_ready(s, now, false);
	return 0;
}

/* A deadline of the round is due at @now (not a resend or a connect retry). */
static bool deadline_due(const struct probe_session *s, long long now)
{
	return now >= s->cfg.deadline_ms || (s->credential_step && now >= s->credential_deadline_ms) ||
	       (s->report && !s->evidence && now >= s->evidence_deadline_ms);
}

int probe_session_tick(struct probe_session *s, long long now)
{
	if (s->state == PROBE_SESSION_DONE)
		return 0;
	/*
	 * A deadline is judged on what the guest sent before it: what already waits in the socket is read
	 * first (one read budget, never blocking). An event loop that runs late (stopped, or busy with other
	 * VMs) may dispatch the deadline's timer before the io event of an answer that came in time:
	 * sd-event dispatches pending sources of one priority oldest first (systemd
	 * src/libsystemd/sd-event/sd-event.c, pending_prioq_compare(): "Older entries first").
	 */
	if (s->state == PROBE_SESSION_WAITING && s->fd >= 0 && deadline_due(s, now)) {
		read_ready(s, now, true);
		if (s->state == PROBE_SESSION_DONE)
			return 0;
	}
	if (s->credential_step && now >= s->credential_deadline_ms) {
		s->credential.status = PROBE_CRED_FAILED;
		snprintf(s->credential.why, sizeof(s->credential.why),
			 "AK not bound to the EK: the agent sent no %s before the deadline",
			 s->credential_step == 1 ? "EK" : "answer to the credential challenge");
		finish(s, PROBE_END_REPORT, now, "a valid report echoed the nonce, with its evidence; the credential phase timed out");
		return 0;
	}
	if (s->report && !s->evidence && now >= s->evidence_deadline_ms) {
		/* The report stands; the verdict says its evidence never came. */
		finish(s, PROBE_END_REPORT, now, "a valid report echoed the nonce; no TPM evidence followed it");
		return 0;
	}
	if (now >= s->cfg.deadline_ms) {
		if (s->state == PROBE_SESSION_CONNECTING)
			snprintf(s->why, sizeof(s->why), "could not connect to %s before the deadline: %s", s->path,
				 strerror(-s->error ?: ETIMEDOUT));
		else
			snprintf(s->why, sizeof(s->why), "no valid report within the deadline");
		finish(s, PROBE_END_TIMEOUT, now, s->why);
		return 0;
	}
	if (s->state == PROBE_SESSION_CONNECTING && now >= s->next_connect_ms)
		try_connect(s, now);
	else if (s->state == PROBE_SESSION_WAITING && !s->report && s->nonce_sent >= s->nonce_frame_len &&
		 now >= s->next_send_ms) {
		s->nonce_sent = 0;
		flush_nonce(s, now);
	}
	return 0;
}
