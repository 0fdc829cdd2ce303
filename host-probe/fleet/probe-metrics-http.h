/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The /metrics server: an embedded libmicrohttpd server that runs inside the
 * probe's sd-event loop (no threads of its own, so the snapshot callback
 * reads the fleet's state without locks). Built only with libmicrohttpd
 * (meson option metrics); probe_metrics_parse_listen() always.
 */
#pragma once

#include <stdint.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "probe-metrics.h"

/* The server: at most this many connections at once, each idle at most this long. */
#define PROBE_METRICS_CONNECTIONS_MAX 8
#define PROBE_METRICS_PER_IP_MAX 4 /* of those, from one client address: one client cannot take them all */
#define PROBE_METRICS_CONNECTION_TIMEOUT_S 10

struct probe_metrics_server;

/*
 * probe_metrics_server_new() - listen on @listen ("ADDR:PORT", see above)
 * and serve GET and HEAD of /metrics (PROBE_METRICS_CONTENT_TYPE), 404 for
 * any other path, 405 (with Allow) for any other method, at most
 * PROBE_METRICS_CONNECTIONS_MAX connections. The server's descriptor and
 * timer are sources on @e; each scrape calls @snapshot and renders. Returns
 * 0 with *ret, -EINVAL (a bad @listen), -EADDRINUSE/-EACCES/... when the
 * address cannot be bound, -ENOMEM.
 */
int probe_metrics_server_new(sd_event *e, const char *listen, probe_metrics_snapshot_t snapshot, void *userdata,
			     struct probe_metrics_server **ret);
/* The port the server listens on (the kernel's choice for port 0). */
unsigned probe_metrics_server_port(const struct probe_metrics_server *s);
/* Scrapes answered with 200 so far (for tests and the watch's log). */
uint64_t probe_metrics_server_scrapes(const struct probe_metrics_server *s);
/* Stops listening, closes every connection. Returns NULL. */
struct probe_metrics_server *probe_metrics_server_free(struct probe_metrics_server *s);

static inline void probe_metrics_server_freep(struct probe_metrics_server **s)
{
	if (*s)
		probe_metrics_server_free(*s);
}
#define _cleanup_metrics_server_ __attribute__((cleanup(probe_metrics_server_freep)))
