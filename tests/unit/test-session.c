/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The probe's attestation session driven over socketpairs and by hand-fed
 * bytes, with a clock the test owns: no VM, no sleeps, no timing.
 */
#include "unit.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "probe-console.h"
#include "probe-loop.h"
#include "sc-io.h"
#include "probe-policy.h"
#include "probe-session.h"
#include "sc-fileio.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-evidence.h"
#include "sc-wire.h"

#include <openssl/sha.h>

#define TEMPLATE FIXTURES_DIR "/../probe/sealed-report.json"
#define T0 1000000LL

static json_t *template_doc(void)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	json_t *doc;

	assert_int_equal(sc_read_file_capped(TEMPLATE, 1u << 20, &buf, &len), 0);
	doc = json_loadb(buf, len, 0, NULL);
	assert_non_null(doc);
	return doc;
}

/* A report frame echoing @nonce (NULL: JSON null), malloc'd. */
static char *report_frame(const char *nonce, size_t *ret_len)
{
	_cleanup_json_ json_t *doc = template_doc();
	_cleanup_free_ char *text = NULL;
	char *frame;

	json_object_set_new(doc, "nonce", nonce ? json_string(nonce) : json_null());
	text = json_dumps(doc, JSON_COMPACT);
	assert_non_null(text);
	assert_int_equal(sc_wire_encode(SC_WIRE_REPORT, text, strlen(text), &frame, ret_len), 0);
	return frame;
}

static void start(struct probe_session *s, int *peer, const struct probe_session_config *cfg)
{
	int sv[2];
	struct probe_session_config def = { .deadline_ms = T0 + 60000 };

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(probe_session_init(s, cfg ? cfg : &def), 0);
	assert_int_equal(probe_session_attach(s, sv[0], T0), 0);
	*peer = sv[1];
}

/* What the guest side reads: the nonce the session sent. */
static void read_nonce(int peer, char out[SC_NONCE_HEX_LEN + 1])
{
	char buf[SC_WIRE_HEADER_LEN + SC_NONCE_HEX_LEN + 1];

	assert_int_equal(read(peer, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, "\x1eSC1N", 5);
	memcpy(out, buf + SC_WIRE_HEADER_LEN, SC_NONCE_HEX_LEN);
	out[SC_NONCE_HEX_LEN] = '\0';
	assert_true(sc_nonce_valid(out, SC_NONCE_HEX_LEN));
}

static void test_honest_guest(void **state)
{
	struct probe_session s;
	char nonce[SC_NONCE_HEX_LEN + 1];
	_cleanup_free_ char *frame = NULL;
	size_t len;
	int peer;

	(void)state;
	start(&s, &peer, NULL);
	assert_int_equal(s.state, PROBE_SESSION_WAITING);
	assert_int_equal(probe_session_events(&s) & POLLIN, POLLIN);
	read_nonce(peer, nonce);
	assert_string_equal(nonce, s.nonce);
	frame = report_frame(nonce, &len);
	assert_int_equal(write(peer, frame, len), (ssize_t)len);
	assert_int_equal(probe_session_io(&s, POLLIN, T0 + 5), 0);
	assert_int_equal(s.state, PROBE_SESSION_DONE);
	assert_int_equal(s.end, PROBE_END_REPORT);
	assert_non_null(s.report);
	assert_int_equal(probe_session_wakeup(&s), -1);
	assert_int_equal(probe_session_fd(&s), -1);
	probe_session_done(&s);
	close(peer);
}

/* the same verdict one byte at a time, and after noise and a stale push. */
static void test_odd_chunking(void **state)
{
	struct probe_session s;
	_cleanup_free_ char *stale = NULL, *good = NULL;
	size_t stale_len, good_len;
	int peer;

	(void)state;
	start(&s, &peer, NULL);
	stale = report_frame(NULL, &stale_len);
	good = report_frame(s.nonce, &good_len);
	probe_session_feed(&s, "noise\x1eSC1Rxx", 12, T0);
	probe_session_feed(&s, stale, stale_len, T0);
	assert_int_equal(s.stale, 1);
	assert_int_equal(s.state, PROBE_SESSION_WAITING);
	for (size_t i = 0; i < good_len; i++) {
		assert_int_equal(s.state, PROBE_SESSION_WAITING);
		probe_session_feed(&s, good + i, 1, T0 + 1);
	}
	assert_int_equal(s.end, PROBE_END_REPORT);
	probe_session_done(&s);
	close(peer);
}

/* a report with another nonce is a replay, never an answer. */
static void test_replay(void **state)
{
	struct probe_session s;
	_cleanup_free_ char *old = NULL;
	size_t len;
	int peer;

	(void)state;
	start(&s, &peer, NULL);
	old = report_frame("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &len);
	for (int i = 0; i < 5; i++)
		probe_session_feed(&s, old, len, T0 + i);
	assert_int_equal(s.state, PROBE_SESSION_WAITING);
	assert_int_equal(s.stale, 5);
	assert_non_null(strstr(s.last_reject, "replay"));
	probe_session_tick(&s, T0 + 60000);
	assert_int_equal(s.end, PROBE_END_TIMEOUT);
	assert_null(s.report);
	probe_session_done(&s);
	close(peer);
}

/* T2: garbage or endless stale frames cut the guest off. */
static void test_flood(void **state)
{
	struct probe_session s;
	_cleanup_free_ char *old = NULL;
	char bad[SC_WIRE_HEADER_LEN + 2];
	size_t len;
	int peer;

	(void)state;
	start(&s, &peer, NULL);
	memcpy(bad, "\x1eSC1Rzzzzzzzz00000000:x\n", sizeof(bad));
	for (int i = 0; i < 200 && s.state == PROBE_SESSION_WAITING; i++)
		probe_session_feed(&s, bad, sizeof(bad), T0);
	assert_int_equal(s.end, PROBE_END_FLOOD);
	assert_non_null(strstr(s.why, "malformed"));
	probe_session_done(&s);
	close(peer);

	/* Endless stale reports: each is parsed, so the refused-frame cap ends it. */
	start(&s, &peer, NULL);
	old = report_frame(NULL, &len);
	for (int i = 0; i < 1000 && s.state == PROBE_SESSION_WAITING; i++)
		probe_session_feed(&s, old, len, T0);
	assert_int_equal(s.end, PROBE_END_FLOOD);
	assert_int_equal(s.frames, 9);
	assert_int_equal(s.stale, 9);
	assert_non_null(strstr(s.why, "9 frames refused"));
	probe_session_done(&s);
	close(peer);

	/* Frames of no known type are ignored, not refused: the frame cap ends an endless stream of them. */
	start(&s, &peer, NULL);
	{
		_cleanup_free_ char *unknown = NULL;

		assert_int_equal(sc_wire_encode('Z', "{}", 2, &unknown, &len), 0);
		for (int i = 0; i < 1000 && s.state == PROBE_SESSION_WAITING; i++)
			probe_session_feed(&s, unknown, len, T0);
	}
	assert_int_equal(s.end, PROBE_END_FLOOD);
	assert_int_equal(s.frames, 257);
	probe_session_done(&s);
	close(peer);

	/* Whole frames with valid CRCs, over the report cap: refused at their headers, none parsed. */
	{
		_cleanup_free_ char *big = NULL, *frame = NULL;
		size_t big_len = SC_WIRE_MAX_PAYLOAD - 16, frame_len = 0;
		unsigned sent = 0;

		big = malloc(big_len);
		assert_non_null(big);
		memset(big, 'x', big_len);
		assert_int_equal(sc_wire_encode(SC_WIRE_REPORT, big, big_len, &frame, &frame_len), 0);
		start(&s, &peer, NULL);
		while (s.state == PROBE_SESSION_WAITING && sent < 20) {
			probe_session_feed(&s, frame, frame_len, T0);
			sent++;
		}
		assert_int_equal(s.end, PROBE_END_FLOOD);
		assert_non_null(strstr(s.why, "bytes in one round"));
		assert_true(sent <= 9); /* 8 x 256 KiB and the frame that passed it */
		assert_int_equal(s.rejected, 0);
		assert_int_equal(s.frames, 0);
		assert_true(s.dec.oversized >= 7);
		probe_session_done(&s);
		close(peer);
	}
}

/* A report frame echoing @nonce whose payload is exactly @payload_len bytes (a long note pads it), malloc'd. */
static char *padded_report_frame(const char *nonce, size_t payload_len, size_t *ret_len)
{
	_cleanup_json_ json_t *doc = template_doc();
	_cleanup_free_ char *text = NULL, *pad = NULL;
	size_t len;
	char *frame;

	json_object_set_new(doc, "nonce", json_string(nonce));
	text = json_dumps(doc, JSON_COMPACT);
	assert_non_null(text);
	len = strlen(text);
	assert_true(payload_len > len + 3);
	pad = malloc(payload_len - len - 3 + 1);
	assert_non_null(pad);
	memset(pad, 'x', payload_len - len - 3);
	pad[payload_len - len - 3] = '\0';
	json_array_append_new(json_object_get(doc, "notes"), json_string(pad)); /* ,"xxx" */
	free(text);
	text = json_dumps(doc, JSON_COMPACT);
	assert_non_null(text);
	assert_int_equal(strlen(text), payload_len);
	assert_int_equal(sc_wire_encode(SC_WIRE_REPORT, text, payload_len, &frame, ret_len), 0);
	return frame;
}

/*
 * A report frame over the report cap is refused at its header: counted oversized, never parsed (not
 * counted rejected, even though its JSON is a valid report echoing the nonce). One at the cap is taken;
 * evidence, which may be larger than a report, too.
 */
static void test_report_cap(void **state)
{
	struct probe_session_config cfg = { .deadline_ms = T0 + 60000, .expect_evidence = true };
	struct probe_session s;
	_cleanup_free_ char *over = NULL, *at = NULL, *ev = NULL, *big = NULL, *text = NULL;
	size_t over_len, at_len, ev_len;
	int peer;

	(void)state;
	start(&s, &peer, NULL);
	over = padded_report_frame(s.nonce, SC_WIRE_MAX_REPORT + 1, &over_len);
	probe_session_feed(&s, over, over_len, T0 + 1);
	assert_int_equal(s.state, PROBE_SESSION_WAITING);
	assert_int_equal(s.dec.oversized, 1);
	assert_int_equal(s.rejected, 0);
	assert_int_equal(s.frames, 0);
	assert_null(s.report);
	at = padded_report_frame(s.nonce, SC_WIRE_MAX_REPORT, &at_len);
	probe_session_feed(&s, at, at_len, T0 + 2);
	assert_int_equal(s.end, PROBE_END_REPORT);
	assert_int_equal(s.dec.oversized, 1);
	probe_session_done(&s);
	close(peer);

	/* Evidence of 3 x the report cap (a long event log) is still evidence. */
	start(&s, &peer, &cfg);
	free(at);
	at = padded_report_frame(s.nonce, 5000, &at_len);
	probe_session_feed(&s, at, at_len, T0 + 1);
	assert_non_null(s.report);
	big = malloc(3 * SC_WIRE_MAX_REPORT + 1);
	assert_non_null(big);
	memset(big, 'A', 3 * SC_WIRE_MAX_REPORT);
	big[3 * SC_WIRE_MAX_REPORT] = '\0';
	{
		unsigned char d[32];
		char hex[65];

		SHA256((const uint8_t *)at + SC_WIRE_HEADER_LEN, at_len - SC_WIRE_HEADER_LEN - 1, d);
		for (size_t i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", d[i]);
		assert_true(asprintf(&text, "{\"schema\":\"sealcheck.evidence.v1\",\"nonce\":\"%s\",\"report_sha256\":\"%s\","
					   "\"eventlog\":\"%s\"}", s.nonce, hex, big) > 0);
	}
	assert_int_equal(sc_wire_encode(SC_WIRE_EVIDENCE, text, strlen(text), &ev, &ev_len), 0);
	probe_session_feed(&s, ev, ev_len, T0 + 2);
	assert_int_equal(s.end, PROBE_END_REPORT);
	assert_non_null(s.evidence);
	assert_int_equal(s.dec.oversized, 0);
	probe_session_done(&s);
	close(peer);
}

/*
 * After max_refused refused frames of any kind (oversized, bad CRC, invalid, stale, stray evidence) the
 * next one ends the round as a flood, and the guest is not read further; so does the refused frame that
 * brings those CRC-checked or parsed whole past max_refused_bytes.
 */
static void test_refused_cap(void **state)
{
	struct probe_session s;
	_cleanup_free_ char *invalid = NULL, *stale = NULL, *good = NULL;
	char bad_crc[] = "\x1eSC1R00000002deadbeef:{}\n", over[] = "\x1eSC1R00010001deadbeef:";
	size_t invalid_len, stale_len, good_len;
	int peer;

	(void)state;
	assert_int_equal(sc_wire_encode(SC_WIRE_REPORT, "{}", 2, &invalid, &invalid_len), 0);
	start(&s, &peer, NULL);
	for (int i = 0; i < 8; i++)
		probe_session_feed(&s, invalid, invalid_len, T0);
	assert_int_equal(s.state, PROBE_SESSION_WAITING);
	assert_int_equal(s.rejected, 8);
	probe_session_feed(&s, invalid, invalid_len, T0 + 1);
	assert_int_equal(s.end, PROBE_END_FLOOD);
	assert_int_equal(s.rejected, 9);
	assert_non_null(strstr(s.why, "9 frames refused"));
	assert_int_equal(probe_session_fd(&s), -1);
	assert_int_equal(s.fd, -1); /* closed: not read further */
	probe_session_done(&s);
	close(peer);

	/* Each kind counts; up to the cap an answer is still taken. */
	start(&s, &peer, NULL);
	stale = report_frame(NULL, &stale_len);
	good = report_frame(s.nonce, &good_len);
	for (int i = 0; i < 2; i++) {
		probe_session_feed(&s, invalid, invalid_len, T0);
		probe_session_feed(&s, stale, stale_len, T0);
		probe_session_feed(&s, bad_crc, strlen(bad_crc), T0);
		probe_session_feed(&s, over, strlen(over), T0); /* a header announcing 65,537 bytes: nothing after */
	}
	assert_int_equal(s.state, PROBE_SESSION_WAITING);
	assert_int_equal(s.rejected, 2);
	assert_int_equal(s.stale, 2);
	assert_int_equal(s.dec.bad_crc, 2);
	assert_int_equal(s.dec.oversized, 2);
	probe_session_feed(&s, good, good_len, T0 + 1);
	assert_int_equal(s.end, PROBE_END_REPORT);
	probe_session_done(&s);
	close(peer);

	/* ... and one more refused frame instead ends it. */
	start(&s, &peer, NULL);
	for (int i = 0; i < 2; i++) {
		probe_session_feed(&s, invalid, invalid_len, T0);
		probe_session_feed(&s, stale, stale_len, T0);
		probe_session_feed(&s, bad_crc, strlen(bad_crc), T0);
		probe_session_feed(&s, over, strlen(over), T0);
	}
	probe_session_feed(&s, bad_crc, strlen(bad_crc), T0 + 1);
	assert_int_equal(s.end, PROBE_END_FLOOD);
	assert_non_null(strstr(s.why, "9 frames refused (2 oversized, 3 bad CRC, 2 invalid, 2 stale"));
	probe_session_done(&s);
	close(peer);

	/* Refused frames just under the report cap: the third parsed whole passes 2 reports' worth of bytes. */
	start(&s, &peer, NULL);
	{
		_cleanup_free_ char *big_stale = padded_report_frame("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
								     SC_WIRE_MAX_REPORT - 100, &stale_len);

		probe_session_feed(&s, big_stale, stale_len, T0);
		probe_session_feed(&s, big_stale, stale_len, T0);
		assert_int_equal(s.state, PROBE_SESSION_WAITING);
		assert_int_equal(s.refused_bytes, 2 * (SC_WIRE_MAX_REPORT - 100));
		probe_session_feed(&s, big_stale, stale_len, T0);
		assert_int_equal(s.end, PROBE_END_FLOOD);
		assert_int_equal(s.stale, 3);
		assert_non_null(strstr(s.why, "bytes of refused frames"));
	}
	probe_session_done(&s);
	close(peer);
}

static char *evidence_frame(const char *nonce, const char *report, size_t report_len, size_t *ret_len);

/*
 * The deadline is judged on what the guest sent before it. The answer is already in the socket when the
 * deadline's tick runs (the loop ran late: a stall, or other VMs' events first): the tick reads what is
 * ready before it judges, and the VM is judged on its answer, not "no report".
 */
static void test_deadline_reads_first(void **state)
{
	struct probe_session_config cfg = { .deadline_ms = T0 + 2000, .expect_evidence = true, .evidence_wait_ms = 500 };
	struct probe_session s;
	_cleanup_free_ char *good = NULL, *ev = NULL;
	size_t good_len, ev_len;
	int peer;

	(void)state;
	start(&s, &peer, NULL);
	good = report_frame(s.nonce, &good_len);
	assert_int_equal(write(peer, good, good_len), (ssize_t)good_len);
	probe_session_tick(&s, T0 + 60000); /* the deadline, and the answer unread */
	assert_int_equal(s.end, PROBE_END_REPORT);
	assert_non_null(s.report);
	probe_session_done(&s);
	close(peer);

	/* Nothing there: a timeout as before; and with the peer gone unnoticed, still the deadline's judgement. */
	start(&s, &peer, NULL);
	probe_session_tick(&s, T0 + 60000);
	assert_int_equal(s.end, PROBE_END_TIMEOUT);
	probe_session_done(&s);
	close(peer);
	start(&s, &peer, NULL);
	close(peer);
	probe_session_tick(&s, T0 + 60000);
	assert_int_equal(s.end, PROBE_END_TIMEOUT);
	probe_session_done(&s);

	/* The evidence's deadline too: evidence that came before it is taken. */
	start(&s, &peer, &cfg);
	free(good);
	good = report_frame(s.nonce, &good_len);
	probe_session_feed(&s, good, good_len, T0 + 1);
	assert_non_null(s.report);
	ev = evidence_frame(s.nonce, good + SC_WIRE_HEADER_LEN, good_len - SC_WIRE_HEADER_LEN - 1, &ev_len);
	assert_int_equal(write(peer, ev, ev_len), (ssize_t)ev_len);
	probe_session_tick(&s, T0 + 501);
	assert_int_equal(s.end, PROBE_END_REPORT);
	assert_non_null(s.evidence);
	probe_session_done(&s);
	close(peer);
}

/* --- the same on sd-event: the deadline's timer dispatched before the answer's io --- */

struct late_loop {
	int peer;
	const char *frame;
	size_t len;
	bool done;
};

/*
 * The guest answers while the deadline's timer is already pending, before the loop polls again: the
 * next iteration has both, and sd-event dispatches the older pending source, the timer, first
 * (sd-event's pending queue: priority, then the iteration it became pending in). The order a loop
 * late by a stall sees for any VM whose deadline passed while other events were dispatched.
 */
static int late_answer(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct late_loop *l = userdata;
	char c;

	(void)revents;
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(write(l->peer, l->frame, l->len), (ssize_t)l->len);
	return sd_event_source_set_enabled(src, SD_EVENT_OFF);
}

static void late_done(struct probe_session *s, void *userdata)
{
	(void)s;
	((struct late_loop *)userdata)->done = true;
}

static void test_deadline_reads_first_loop(void **state)
{
	struct probe_session_config cfg = { .deadline_ms = sc_now_ms() - 1 }; /* already past */
	struct probe_session s;
	struct late_loop l = { 0 };
	_cleanup_free_ char *good = NULL;
	struct probe_watch *w = NULL;
	sd_event_source *kick = NULL;
	sd_event *e = NULL;
	int sv[2], kp[2];

	(void)state;
	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(kp, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(probe_session_init(&s, &cfg), 0);
	assert_int_equal(probe_session_attach(&s, sv[0], sc_now_ms()), 0);
	good = report_frame(s.nonce, &l.len);
	l.peer = sv[1];
	l.frame = good;
	assert_int_equal(probe_watch_new(e, &s, late_done, &l, &w), 0);
	/* Dispatched first in the first iteration (higher priority), with the deadline's timer pending. */
	assert_int_equal(sd_event_add_io(e, &kick, kp[0], EPOLLIN, late_answer, &l), 0);
	assert_int_equal(sd_event_source_set_priority(kick, SD_EVENT_PRIORITY_IMPORTANT), 0);
	assert_int_equal(write(kp[1], "x", 1), 1);
	for (int i = 0; i < 10 && !l.done; i++)
		assert_true(sd_event_run(e, 1000 * 1000) >= 0);
	assert_true(l.done);
	assert_int_equal(s.end, PROBE_END_REPORT);
	assert_non_null(s.report);
	probe_watch_free(w);
	sd_event_source_disable_unref(kick);
	probe_session_done(&s);
	sd_event_unref(e);
	close(sv[1]);
	close(kp[0]);
	close(kp[1]);
}

/* The nonce again every resend_ms while unanswered (a restarted agent lost it); the deadline ends it. */
static void test_resend_and_deadline(void **state)
{
	struct probe_session_config cfg = { .deadline_ms = T0 + 12000, .resend_ms = 5000 };
	struct probe_session s;
	char n1[SC_NONCE_HEX_LEN + 1], n2[SC_NONCE_HEX_LEN + 1], buf[16];
	int peer;

	(void)state;
	start(&s, &peer, &cfg);
	read_nonce(peer, n1);
	assert_int_equal(probe_session_wakeup(&s), T0 + 5000);
	probe_session_tick(&s, T0 + 4999);
	assert_int_equal(read(peer, buf, sizeof(buf)), -1); /* nothing yet */
	probe_session_tick(&s, T0 + 5000);
	read_nonce(peer, n2);
	assert_string_equal(n1, n2); /* the same nonce: a resend, not a new round */
	assert_int_equal(probe_session_wakeup(&s), T0 + 10000);
	probe_session_tick(&s, T0 + 10000);
	read_nonce(peer, n2);
	assert_int_equal(probe_session_wakeup(&s), T0 + 12000);
	probe_session_tick(&s, T0 + 12000);
	assert_int_equal(s.end, PROBE_END_TIMEOUT);
	assert_non_null(strstr(s.why, "deadline"));
	probe_session_done(&s);
	close(peer);
}

static void test_peer_closes(void **state)
{
	struct probe_session s;
	int peer;

	(void)state;
	start(&s, &peer, NULL);
	close(peer);
	probe_session_io(&s, POLLIN | POLLHUP, T0 + 1);
	assert_int_equal(s.end, PROBE_END_CLOSED);
	probe_session_done(&s);
}

/* T2: back-pressure and fairness: one call reads at most max_read_per_io. */
static void test_read_budget(void **state)
{
	struct probe_session_config cfg = { .deadline_ms = T0 + 60000, .max_read_per_io = 4096 };
	struct probe_session s;
	char junk[65536];
	int peer;

	(void)state;
	start(&s, &peer, &cfg);
	memset(junk, 'x', sizeof(junk));
	assert_true(write(peer, junk, sizeof(junk)) > 8192);
	probe_session_io(&s, POLLIN, T0);
	assert_int_equal(s.bytes_in, 4096);
	assert_int_equal(s.state, PROBE_SESSION_WAITING);
	probe_session_done(&s);
	close(peer);
}

/* QEMU creates the socket a moment after it starts: connecting is retried, not failed. */
static void test_connect_retry(void **state)
{
	struct probe_session_config cfg = { .deadline_ms = T0 + 10000, .retry_ms = 100 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/sealcheck-session-XXXXXX", path[64], nonce[SC_NONCE_HEX_LEN + 1];
	struct probe_session s;
	int lfd, peer;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/attest.sock", dir);
	assert_int_equal(probe_session_init(&s, &cfg), 0);
	assert_int_equal(probe_session_connect(&s, path, T0), 0);
	assert_int_equal(s.state, PROBE_SESSION_CONNECTING);
	assert_int_equal(probe_session_fd(&s), -1);
	assert_int_equal(probe_session_wakeup(&s), T0 + 100);

	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	probe_session_tick(&s, T0 + 100);
	assert_int_equal(s.state, PROBE_SESSION_WAITING);
	peer = accept(lfd, NULL, NULL);
	assert_true(peer >= 0);
	read_nonce(peer, nonce);
	assert_string_equal(nonce, s.nonce);
	probe_session_done(&s);
	close(peer);
	close(lfd);
	unlink(path);
	rmdir(dir);

	/* Never there: the deadline says what was tried. */
	assert_int_equal(probe_session_init(&s, &cfg), 0);
	assert_int_equal(probe_session_connect(&s, "/nonexistent/attest.sock", T0), 0);
	probe_session_tick(&s, T0 + 10000);
	assert_int_equal(s.end, PROBE_END_TIMEOUT);
	assert_non_null(strstr(s.why, "could not connect"));
	probe_session_done(&s);
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* Nobody connected to the listener @fd. */
static bool untouched(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 0;
}

/* A pinned connect reaches only the socket it was given (dev/ino), checked at every attempt, never a
 * symlink, a file or another socket put at its path since. */
static void test_connect_pinned(void **state)
{
	struct probe_session_config cfg = { .deadline_ms = T0 + 10000, .retry_ms = 100 };
	char dir[] = "/tmp/sealcheck-session-XXXXXX", a[64], b[64], t[64], nonce[SC_NONCE_HEX_LEN + 1];
	struct probe_session s;
	struct stat st;
	int la, lb, lc, peer;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.sock", dir);
	snprintf(b, sizeof(b), "%s/b.sock", dir);
	snprintf(t, sizeof(t), "%s/t", dir);
	la = listen_at(a);
	lb = listen_at(b);
	assert_int_equal(lstat(a, &st), 0);

	/* The socket itself: connected, through /proc/self/fd. */
	assert_int_equal(probe_session_init(&s, &cfg), 0);
	assert_int_equal(probe_session_connect_pinned(&s, a, st.st_dev, st.st_ino, T0), 0);
	assert_int_equal(s.state, PROBE_SESSION_WAITING);
	peer = accept(la, NULL, NULL);
	assert_true(peer >= 0);
	read_nonce(peer, nonce);
	assert_string_equal(nonce, s.nonce);
	probe_session_done(&s);
	close(peer);

	/* A symlink to another socket renamed over it: refused, the other socket never connected to. */
	assert_int_equal(symlink(b, t), 0);
	assert_int_equal(rename(t, a), 0);
	assert_int_equal(probe_session_init(&s, &cfg), 0);
	assert_int_equal(probe_session_connect_pinned(&s, a, st.st_dev, st.st_ino, T0), 0);
	assert_int_equal(s.state, PROBE_SESSION_DONE);
	assert_int_equal(s.end, PROBE_END_ERROR);
	assert_int_equal(s.error, -ESTALE);
	assert_non_null(strstr(s.why, "no longer the socket"));
	assert_true(untouched(lb));
	probe_session_done(&s);

	/* Another socket renamed over it: the same. */
	assert_int_equal(rename(b, a), 0);
	assert_int_equal(probe_session_init(&s, &cfg), 0);
	assert_int_equal(probe_session_connect_pinned(&s, a, st.st_dev, st.st_ino, T0), 0);
	assert_int_equal(s.end, PROBE_END_ERROR);
	assert_true(untouched(lb));
	probe_session_done(&s);

	/* Gone: retried; a socket made at the path meanwhile is not the one pinned, at the next attempt either. */
	assert_int_equal(unlink(a), 0);
	assert_int_equal(probe_session_init(&s, &cfg), 0);
	assert_int_equal(probe_session_connect_pinned(&s, a, st.st_dev, st.st_ino, T0), 0);
	assert_int_equal(s.state, PROBE_SESSION_CONNECTING);
	assert_int_equal(s.error, -ENOENT);
	lc = listen_at(a);
	probe_session_tick(&s, T0 + 100);
	assert_int_equal(s.end, PROBE_END_ERROR);
	assert_int_equal(s.error, -ESTALE);
	assert_true(untouched(lc));
	probe_session_done(&s);

	close(la);
	close(lb);
	close(lc);
	unlink(a);
	rmdir(dir);
}

static void test_stop(void **state)
{
	struct probe_session s;
	int peer;

	(void)state;
	start(&s, &peer, NULL);
	probe_session_stop(&s, PROBE_END_STOPPED, "interrupted by SIGTERM", T0 + 3);
	assert_int_equal(s.end, PROBE_END_STOPPED);
	assert_string_equal(s.why, "interrupted by SIGTERM");
	/* A stop after the end changes nothing. */
	probe_session_stop(&s, PROBE_END_ERROR, "later", T0 + 4);
	assert_int_equal(s.end, PROBE_END_STOPPED);
	probe_session_done(&s);
	close(peer);
}

/* With evidence expected: the E frame must name our nonce and the very report bytes. */
static char *evidence_frame(const char *nonce, const char *report, size_t report_len, size_t *ret_len)
{
	uint8_t d[32];
	char hex[65], text[400], *frame;

	SHA256((const uint8_t *)report, report_len, d);
	for (size_t i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	snprintf(text, sizeof(text), "{\"schema\":\"sealcheck.evidence.v1\",\"nonce\":\"%s\",\"report_sha256\":\"%s\"}",
		 nonce, hex);
	assert_int_equal(sc_wire_encode(SC_WIRE_EVIDENCE, text, strlen(text), &frame, ret_len), 0);
	return frame;
}

static void test_evidence(void **state)
{
	struct probe_session_config cfg = { .deadline_ms = T0 + 60000, .expect_evidence = true, .evidence_wait_ms = 5000 };
	struct probe_session s;
	_cleanup_free_ char *r = NULL, *e_other = NULL, *e_good = NULL;
	size_t r_len, e_len;
	int peer;

	(void)state;
	start(&s, &peer, &cfg);
	r = report_frame(s.nonce, &r_len);
	probe_session_feed(&s, r, r_len, T0 + 1);
	/* The report is in; the session waits for its evidence, and resends no nonce meanwhile. */
	assert_int_equal(s.state, PROBE_SESSION_WAITING);
	assert_non_null(s.report);
	assert_int_equal(probe_session_wakeup(&s), T0 + 1 + 5000);
	/* Evidence for other bytes is refused. */
	e_other = evidence_frame(s.nonce, "{}", 2, &e_len);
	probe_session_feed(&s, e_other, e_len, T0 + 2);
	assert_int_equal(s.evidence_rejected, 1);
	assert_int_equal(s.state, PROBE_SESSION_WAITING);
	e_good = evidence_frame(s.nonce, r + SC_WIRE_HEADER_LEN, r_len - SC_WIRE_HEADER_LEN - 1, &e_len);
	probe_session_feed(&s, e_good, e_len, T0 + 3);
	assert_int_equal(s.end, PROBE_END_REPORT);
	assert_non_null(s.evidence);
	probe_session_done(&s);
	close(peer);

	/* No evidence in time: the report stands without it. */
	start(&s, &peer, &cfg);
	free(r);
	r = report_frame(s.nonce, &r_len);
	probe_session_feed(&s, r, r_len, T0 + 1);
	probe_session_tick(&s, T0 + 5001);
	assert_int_equal(s.end, PROBE_END_REPORT);
	assert_null(s.evidence);
	assert_non_null(strstr(s.why, "no TPM evidence"));
	probe_session_done(&s);
	close(peer);
}

/* --- the console --- */

/* What the guest prints is kept up to a cap, scanned once per byte (a sign split across reads is found), escaped. */
static void test_console(void **state)
{
	char dir[] = "/tmp/sealcheck-console-XXXXXX", sock[80], log[80], chunk[4096];
	struct probe_console c;
	struct stat st;
	_cleanup_free_ char *tail = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/console.sock", dir);
	snprintf(log, sizeof(log), "%s/console.log", dir);
	assert_int_equal(probe_console_open(&c, sock, log, 10000), 0);
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 10; i++)
		probe_console_feed(&c, chunk, sizeof(chunk), T0);
	assert_int_equal(c.bytes, 40960);
	assert_int_equal(c.logged, 10000);
	assert_int_equal(stat(log, &st), 0);
	assert_int_equal(st.st_size, 10000);
	assert_null(probe_console_stopped(&c, T0));

	/* "Kernel panic" in two reads, and the corruption sign with its grace. */
	probe_console_feed(&c, STR_AND_LEN("\r\n[ 1.0] Kernel pa"), T0 + 1);
	probe_console_feed(&c, STR_AND_LEN("nic - not syncing\r\n"), T0 + 2);
	assert_non_null(probe_console_stopped(&c, T0 + 2));
	assert_non_null(strstr(probe_console_stopped(&c, T0 + 2), "panicked"));
	probe_console_reset(&c);
	probe_console_feed(&c, STR_AND_LEN("FILE CORRUPTED\n"), T0);
	assert_null(probe_console_stopped(&c, T0 + 19999));
	assert_non_null(probe_console_stopped(&c, T0 + 20000));

	/* The tail: escapes stripped, other controls shown, newlines kept, the last lines only. */
	probe_console_reset(&c);
	{
		static const char text[] = "one\ntwo\n\x1b[1;31mred\x1b[0m \x07" "bell \xc2\x9b" "2J\nthree\n";

		probe_console_feed(&c, text, sizeof(text) - 1, T0);
	}
	tail = probe_console_tail_text(&c, 2);
	assert_string_equal(tail, "red \\x07bell \\xc2\\x9b2J\nthree");
	probe_console_close(&c);
	unlink(log);
	unlink(sock);
	rmdir(dir);
}

/* --- the policy --- */

static const char *const D512 =
	"08e7b4457007bff582941a5b9ea4ad1743493fdc806efdc8e18aea2564b725e544ac0face3114e82ac0f9fd1affb536c6664270d9b4fcb539f612a2ee81b6747";

static int parse(const char *doc, const char *name, const char *uuid, struct probe_policy *p, char *why)
{
	return probe_policy_parse(doc, strlen(doc), name, uuid, p, why, 256);
}

static void test_policy_parse(void **state)
{
	struct probe_policy p;
	char why[256], doc[1024];

	(void)state;
	snprintf(doc, sizeof(doc),
		 "{\"schema\":\"sealcheck.policy.v1\",\"vms\":{\"web-01\":{\"digests\":[\"sha512:%s\"]},"
		 "\"6f1c2d3e-0000-4000-8000-000000000001\":{\"digests\":[\"%s\"],\"secure_boot\":false}}}",
		 D512, D512);
	assert_int_equal(parse(doc, "web-01", NULL, &p, why), 0);
	assert_int_equal(p.n_allowed, 1);
	assert_int_equal(p.allowed[0].alg, SC_HASH_SHA512);
	assert_true(p.require_secure_boot);
	/* The UUID wins over a name. */
	assert_int_equal(parse(doc, "web-01", "6f1c2d3e-0000-4000-8000-000000000001", &p, why), 0);
	assert_false(p.require_secure_boot);
	assert_int_equal(parse(doc, "db-01", NULL, &p, why), -ENOENT);
	assert_non_null(strstr(why, "db-01"));

	static const struct {
		const char *doc, *why;
	} bad[] = {
		{ "{\"schema\":\"sealcheck.policy.v2\",\"vms\":{}}", "schema" },
		{ "{\"schema\":\"sealcheck.policy.v1\",\"vms\":{},\"x\":1}", "unknown key" },
		{ "{\"schema\":\"sealcheck.policy.v1\",\"vms\":{\"a\":{\"digests\":[\"ABCD\"]}}}", "digests[0]" },
		{ "{\"schema\":\"sealcheck.policy.v1\",\"vms\":{\"a\":{\"digests\":[]}}}", "1 to 16" },
		{ "{\"schema\":\"sealcheck.policy.v1\",\"vms\":{\"a\":{\"digest\":[]}}}", "unknown key" },
		{ "{\"schema\":\"sealcheck.policy.v1\",\"vms\":{\"a\":{}}}", "no \"digests\"" },
		{ "{\"schema\":\"sealcheck.policy.v1\",\"schema\":\"sealcheck.policy.v1\",\"vms\":{}}", "duplicate" },
		{ "{\"schema\":\"sealcheck.policy.v1\",\"vms\":{\"a\":{\"digests\":[\"md5:00\"]}}}", "digests[0]" },
		{ "[1]", "not a JSON object" },
		{ "{\"schema\":\"sealcheck.policy.v1\",\"vms\":{\"\":{\"digests\":[]}}}", "empty VM name" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		why[0] = '\0';
		assert_int_equal(parse(bad[i].doc, "a", NULL, &p, why), -EINVAL);
		if (!strstr(why, bad[i].why))
			fail_msg("case %zu: '%s' lacks '%s'", i, why, bad[i].why);
	}
	assert_int_equal(probe_policy_parse("{\"a\xff\":1}", 9, "a", NULL, &p, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "UTF-8"));
}

static size_t count_link(json_t *links, const char *link)
{
	size_t i, n = 0;
	json_t *l;

	json_array_foreach(links, i, l)
		n += strcmp(json_string_value(json_object_get(l, "link")), link) == 0;
	return n;
}

static void test_policy_check(void **state)
{
	_cleanup_json_ json_t *doc = template_doc();
	json_t *links, *checks = json_object_get(doc, "checks");
	const char *cmdline_digest;
	struct probe_policy p;

	(void)state;
	cmdline_digest = json_string_value(
		json_object_get(json_array_get(json_object_get(json_object_get(checks, "cmdline"), "digests"), 0), "digest"));
	assert_non_null(cmdline_digest);

	/* No digests: never sealed. */
	probe_policy_init(&p);
	links = probe_policy_check(&p, doc);
	assert_int_equal(count_link(links, "policy:digest"), 1);
	json_decref(links);

	assert_int_equal(probe_policy_allow(&p, cmdline_digest), 0);
	links = probe_policy_check(&p, doc);
	assert_int_equal(json_array_size(links), 0);
	json_decref(links);

	/* The guest's verdict is never read; a failing required check is. */
	json_object_set_new(doc, "verdict", json_string("sealed"));
	json_object_set_new(json_object_get(checks, "root_mount"), "status", json_string("fail"));
	links = probe_policy_check(&p, doc);
	assert_int_equal(count_link(links, "root_mount"), 1);
	json_decref(links);
	json_object_set_new(json_object_get(checks, "root_mount"), "status", json_string("pass"));

	/* A dm-verity root is not covered by composefs digests: fail closed. */
	json_object_set_new(doc, "seal_kind", json_string("dm-verity"));
	links = probe_policy_check(&p, doc);
	assert_int_equal(count_link(links, "policy:digest"), 1);
	json_decref(links);
}

/* keep_connection: an answered round leaves the connection to its owner, who
 * runs the next round (a fresh nonce) over it; any other end still closes it. */
static void test_keep_connection(void **state)
{
	struct probe_session s;
	struct probe_session_config cfg = { .deadline_ms = T0 + 60000, .keep_connection = true };
	char nonce[SC_NONCE_HEX_LEN + 1], first[SC_NONCE_HEX_LEN + 1];
	_cleanup_free_ char *frame = NULL;
	size_t len;
	int peer, fd;

	(void)state;
	start(&s, &peer, &cfg);
	read_nonce(peer, first);
	frame = report_frame(first, &len);
	assert_int_equal(write(peer, frame, len), (ssize_t)len);
	assert_int_equal(probe_session_io(&s, POLLIN, T0 + 5), 0);
	assert_int_equal(s.end, PROBE_END_REPORT);
	assert_int_equal(probe_session_fd(&s), -1); /* done: nothing to poll */
	fd = probe_session_take_fd(&s);
	assert_true(fd >= 0);
	assert_int_equal(probe_session_take_fd(&s), -1);
	probe_session_done(&s); /* does not close what was taken */
	assert_true(fcntl(fd, F_GETFD) >= 0);

	/* The next round over the same connection: a new nonce, and the old report is a replay. */
	assert_int_equal(probe_session_init(&s, &cfg), 0);
	assert_int_equal(probe_session_attach(&s, fd, T0 + 10), 0);
	read_nonce(peer, nonce);
	assert_string_equal(nonce, s.nonce);
	assert_string_not_equal(nonce, first);
	assert_int_equal(write(peer, frame, len), (ssize_t)len);
	assert_int_equal(probe_session_io(&s, POLLIN, T0 + 15), 0);
	assert_int_equal(s.state, PROBE_SESSION_WAITING);
	assert_int_equal(s.stale, 1);
	/* A round that times out closes the connection even so: the guest sees EOF. */
	probe_session_tick(&s, T0 + 60000);
	assert_int_equal(s.end, PROBE_END_TIMEOUT);
	assert_int_equal(probe_session_take_fd(&s), -1);
	{
		char c;

		assert_int_equal(read(peer, &c, 1), 0);
	}
	probe_session_done(&s);
	close(peer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_honest_guest),	   cmocka_unit_test(test_odd_chunking),
		cmocka_unit_test(test_replay),		   cmocka_unit_test(test_flood),
		cmocka_unit_test(test_resend_and_deadline), cmocka_unit_test(test_peer_closes),
		cmocka_unit_test(test_read_budget),	   cmocka_unit_test(test_connect_retry),
		cmocka_unit_test(test_stop),		   cmocka_unit_test(test_policy_parse),
		cmocka_unit_test(test_policy_check),	   cmocka_unit_test(test_console),
		cmocka_unit_test(test_evidence),	   cmocka_unit_test(test_keep_connection),
		cmocka_unit_test(test_connect_pinned),
		cmocka_unit_test(test_report_cap),	   cmocka_unit_test(test_refused_cap),
		cmocka_unit_test(test_deadline_reads_first), cmocka_unit_test(test_deadline_reads_first_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
