/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest's serial console, as the probe receives it: QEMU connects to a
 * socket the probe listens on (QEMU never writes a host file of the guest's
 * making), the probe keeps at most log_max bytes of it in the work directory,
 * the last lines in memory, and watches the bytes as they come, once each,
 * for signs that no report will come (a panic, an initramfs that refused to
 * boot, firmware that booted nothing).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROBE_CONSOLE_LOG_MAX (4u << 20) /* what is kept on disk; the rest is counted */
#define PROBE_CONSOLE_TAIL 16384          /* the last bytes, for a verdict without a report */
#define PROBE_CONSOLE_SIGNS 4

struct probe_console {
	int listen_fd, fd, log_fd;
	uint64_t bytes;   /* received */
	uint64_t logged;  /* written to the log (<= log_max) */
	size_t log_max;
	char tail[PROBE_CONSOLE_TAIL];
	size_t tail_len;  /* ring: valid bytes */
	size_t tail_pos;  /* ring: next write */
	char carry[64];   /* the end of the last chunk: a sign split across two reads is still found */
	size_t carry_len;
	long long sign_seen_ms[PROBE_CONSOLE_SIGNS];
};

/* Listen on @sock_path and write the log to @log_path (created 0600). 0 or a negative errno. */
int probe_console_open(struct probe_console *c, const char *sock_path, const char *log_path, size_t log_max);
void probe_console_close(struct probe_console *c);
/* Forget the connection (a restarted QEMU connects again) and start the log afresh. */
void probe_console_reset(struct probe_console *c);

/* Accept QEMU's connection if one waits (non-blocking). 1 accepted, 0 none, or a negative errno. */
int probe_console_accept(struct probe_console *c);
/* Read what is there (non-blocking). Bytes read, 0 at end of stream, -EAGAIN, or a negative errno. */
ssize_t probe_console_read(struct probe_console *c, long long now_ms);
/* Bytes received (the scanning path; also for tests). */
void probe_console_feed(struct probe_console *c, const void *buf, size_t n, long long now_ms);

/*
 * probe_console_stopped() - why the guest will not answer, or NULL. Acting
 * on a sign can only end a wait early as "no report", never make a verdict
 * pass, so a guest that prints them on purpose gains nothing. A fs-verity
 * violation may be the agent's own deep walk finding a damaged object, which
 * it then reports: that sign counts only after a grace period.
 */
const char *probe_console_stopped(const struct probe_console *c, long long now_ms);

/* The first sign seen, grace or not (the VM has gone: no report can come any more), or NULL. */
const char *probe_console_sign(const struct probe_console *c);

/* The last @lines lines, terminal escapes stripped and every other control shown as \xNN; malloc'd. */
char *probe_console_tail_text(const struct probe_console *c, unsigned lines);
