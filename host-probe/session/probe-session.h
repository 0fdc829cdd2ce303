/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One attestation session: a state machine over one guest socket.
 *
 *   IDLE -> CONNECTING -> WAITING -> DONE
 *
 * CONNECTING retries connect() until the socket exists (QEMU creates it a
 * moment after it starts); WAITING has sent a fresh nonce (again every
 * resend_ms until answered) and decodes what the guest sends, frame by frame,
 * until a valid report echoes the nonce, the deadline passes, the guest
 * floods or the connection ends. DONE says why (enum probe_session_end).
 *
 * The session never blocks and never sleeps: its owner polls the fd for
 * probe_session_events() and calls probe_session_io() when it is ready, and
 * probe_session_tick() at probe_session_wakeup(). Time is passed in, so tests
 * and fuzzers drive it without a clock, and one event loop drives any number
 * of sessions (probe-loop.h binds them to sd-event). Every byte from the guest
 * is hostile (docs/threat-model.md): bounded per read, per frame and per round.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe-credential.h"
#include "sc-wire.h"

enum probe_session_state {
	PROBE_SESSION_IDLE = 0,
	PROBE_SESSION_CONNECTING,
	PROBE_SESSION_WAITING,
	PROBE_SESSION_DONE,
};

enum probe_session_end {
	PROBE_END_NONE = 0,
	PROBE_END_REPORT,  /* a valid report that echoes our nonce: s->report */
	PROBE_END_TIMEOUT, /* no valid report before the deadline */
	PROBE_END_CLOSED,  /* the other end closed the socket (QEMU or the VM went away) */
	PROBE_END_FLOOD,   /* too many malformed, oversized or unanswered frames: cut off */
	PROBE_END_STOPPED, /* the owner stopped it (VM died, signal): s->why */
	PROBE_END_ERROR,   /* a system error: s->error */
};

struct probe_session_config {
	long long deadline_ms;	  /* absolute, sc_now_ms() clock; required */
	unsigned resend_ms;	  /* nonce again after this long unanswered (default 5000) */
	unsigned retry_ms;	  /* connect() again after this long (default 100) */
	unsigned max_bad_frames;  /* malformed frames before the guest is cut off (default 64) */
	unsigned max_frames;	  /* frames of any kind in one session (default 256) */
	size_t max_payload;	  /* largest frame payload (default SC_WIRE_MAX_PAYLOAD): evidence frames */
	size_t max_report;	  /* largest payload of every other frame, reports first (default SC_WIRE_MAX_REPORT):
				   * refused at its header, before its CRC or a parse (sc_wire_decoder_limit()) */
	unsigned max_refused;	  /* frames refused in one round before the guest is cut off as a flood (default 8):
				   * oversized, with a bad CRC, invalid or stale reports, evidence not for this round */
	size_t max_refused_bytes; /* ... or when the refused frames CRC-checked or parsed whole carry more than this
				   * (default 2 x max_report: a guest's frames just under the report cap cost 3 parses) */
	size_t max_read_per_io;	  /* bytes read per probe_session_io() call: fairness (default 64 KiB) */
	bool expect_evidence;	  /* after the report, wait for its TPM evidence frame (common/sc-evidence.h) */
	unsigned evidence_wait_ms; /* ... this long at most (default 30000, never past the deadline) */
	bool keep_connection;	  /* PROBE_END_REPORT leaves the fd open for probe_session_take_fd() (watch's next round) */
	/*
	 * With expect_evidence: how the host trusts the AK (probe-credential.h). No AK pinned: after the
	 * evidence, the credential phase (the EK request 'K', the challenge 'C', the answer 'A') binds the
	 * evidence's AK to the EK, and s->credential says how it went. NULL: no credential phase.
	 */
	const struct probe_credential_config *credential;
	unsigned credential_wait_ms; /* each of its two round trips this long at most (default 30000, never past the deadline) */
};

struct probe_session {
	struct probe_session_config cfg;
	enum probe_session_state state;
	enum probe_session_end end;
	int fd;
	int error;		/* PROBE_END_ERROR (and a failed connect): negative errno */
	char path[108];		/* the socket, for CONNECTING */
	bool pinned;		/* probe_session_connect_pinned(): only the socket inode pin_dev/pin_ino */
	uint64_t pin_dev, pin_ino;
	char nonce[SC_NONCE_HEX_LEN + 1];
	char *nonce_frame;
	size_t nonce_frame_len, nonce_sent; /* bytes of the frame written so far */
	long long next_send_ms, next_connect_ms;
	long long connected_ms, ended_ms;
	struct sc_wire_decoder dec;
	unsigned frames, rejected, stale; /* frames judged; reports invalid; reports of another nonce */
	uint64_t refused_bytes;	/* payload bytes of the reports and evidence refused after a parse */
	uint64_t bytes_in;
	json_t *report;		/* PROBE_END_REPORT: the validated report (owned) */
	char *report_bytes;	/* ... exactly as received (the evidence is bound to these bytes) */
	size_t report_len;
	char report_sha256[65];	/* ... their hash, as the evidence must name it (sc_evidence_report_sha256()) */
	long long evidence_deadline_ms; /* set once the report came and evidence is expected */
	json_t *evidence;	/* the evidence frame for this report and nonce (owned), or NULL */
	unsigned evidence_rejected;
	/* The credential phase (cfg.credential, no AK pinned): our frame going out, the step, its deadline, the result. */
	char *out_frame;
	size_t out_frame_len, out_sent;
	int credential_step;	/* 0 none, 1 the EK asked for, 2 the challenge sent */
	long long credential_deadline_ms;
	struct probe_credential_state credential;
	char why[256];		/* the end in words; for PROBE_END_STOPPED the owner's */
	char last_reject[256];	/* the last frame refused and why */
};


/* Fills a fresh random nonce. Returns 0, or a negative errno (getrandom, ENOMEM). */
int probe_session_init(struct probe_session *s, const struct probe_session_config *cfg);
void probe_session_done(struct probe_session *s);

/* Start connecting to the UNIX socket @path (retried until the deadline). 0 or -ENAMETOOLONG. */
int probe_session_connect(struct probe_session *s, const char *path, long long now_ms);
/*
 * probe_session_connect_pinned() - the same, but only to the socket that is
 * the inode @dev/@ino (what its source found, stat(2) st_dev/st_ino): each
 * attempt opens @path with O_PATH|O_NOFOLLOW, checks it is that socket and
 * connects through /proc/self/fd/N, so nothing swapped in at @path since (a
 * symlink, another socket, a file) is ever connected to. @path absent is
 * retried like a socket not there yet; anything else at @path ends the
 * session PROBE_END_ERROR (s->error -ESTALE). 0 or -ENAMETOOLONG.
 */
int probe_session_connect_pinned(struct probe_session *s, const char *path, uint64_t dev, uint64_t ino,
				 long long now_ms);
/* Use @fd, already connected (non-blocking; the session takes it). 0, or a negative errno. */
int probe_session_attach(struct probe_session *s, int fd, long long now_ms);

/* The descriptor to poll (-1: none now) and for what (POLLIN/POLLOUT bits). */
int probe_session_fd(const struct probe_session *s);
short probe_session_events(const struct probe_session *s);
/* When probe_session_tick() must run next (absolute ms), or -1 when done. */
long long probe_session_wakeup(const struct probe_session *s);

/* The fd is ready (@revents: POLLIN/POLLOUT/POLLHUP/POLLERR). Returns 0; the state tells the rest. */
int probe_session_io(struct probe_session *s, short revents, long long now_ms);
/* Timers: connect retries, nonce resends, the deadlines. A deadline first reads what the socket already
 * holds (non-blocking, one max_read_per_io), so an answer that came before it is judged. Returns 0. */
int probe_session_tick(struct probe_session *s, long long now_ms);
/* Bytes received (fuzzers, tests, and the io path): decoded and judged. Returns 0. */
int probe_session_feed(struct probe_session *s, const void *buf, size_t n, long long now_ms);
/*
 * With cfg.keep_connection, the connection of a session that ended with
 * PROBE_END_REPORT: the caller owns it now (and attaches it to the next
 * round's session). -1 when there is none (any other end closes it).
 */
int probe_session_take_fd(struct probe_session *s);
/* End it for the owner's reason (copied to s->why). */
void probe_session_stop(struct probe_session *s, enum probe_session_end end, const char *why, long long now_ms);

static inline bool probe_session_finished(const struct probe_session *s)
{
	return s->state == PROBE_SESSION_DONE;
}

const char *probe_session_end_name(enum probe_session_end e);
