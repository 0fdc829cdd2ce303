/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Deadlines and whole-buffer writes on non-blocking descriptors (port, socket). */
#pragma once

#include <stddef.h>

/* CLOCK_MONOTONIC in milliseconds / microseconds. */
long long sc_now_ms(void);
long long sc_now_us(void);

/*
 * sc_write_all() - write all @len bytes to the non-blocking @fd before
 * @deadline_ms (sc_now_ms() time). Returns 0, -ETIMEDOUT, -ENOTCONN when the
 * peer is gone (POLLHUP/POLLERR: resend the whole buffer later, never the
 * rest of it), or another negative errno. Callers on sockets ignore SIGPIPE.
 */
int sc_write_all(int fd, const void *buf, size_t len, long long deadline_ms);
