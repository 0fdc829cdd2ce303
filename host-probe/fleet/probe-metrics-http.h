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
/* A changed fleet is rendered again at most this often (the default of probe_metrics_server_set_render_interval()). */
#define PROBE_METRICS_RENDER_INTERVAL_US (1000 * 1000)

struct probe_metrics_server;

/*
 * probe_metrics_server_new() - listen on @listen ("ADDR:PORT", see above)
 * and serve GET and HEAD of /metrics (PROBE_METRICS_CONTENT_TYPE), 404 for
 * any other path, 405 (with Allow) for any other method, at most
 * PROBE_METRICS_CONNECTIONS_MAX connections. The server's descriptors and
 * timers are sources on @e. The page is rendered (@snapshot, then
 * probe_metrics_render()) at the first scrape and kept: every scrape is served
 * that one page until probe_metrics_server_changed() says the fleet changed;
 * then the next scrape renders again, but at most once per render interval
 * (PROBE_METRICS_RENDER_INTERVAL_US): within it scrapes get the page before the
 * change. So any number of scrapes costs the loop at most one render per
 * interval. A failed render (the scrape gets a 500) is not kept. Returns
 * 0 with *ret, -EINVAL (a bad @listen), -EADDRINUSE/-EACCES/... when the
 * address cannot be bound, -ENOMEM.
 */
int probe_metrics_server_new(sd_event *e, const char *listen, probe_metrics_snapshot_t snapshot, void *userdata,
			     struct probe_metrics_server **ret);
/* The port the server listens on (the kernel's choice for port 0). */
unsigned probe_metrics_server_port(const struct probe_metrics_server *s);
/* Scrapes answered with 200 so far (for tests and the watch's log). */
uint64_t probe_metrics_server_scrapes(const struct probe_metrics_server *s);
/* Pages rendered so far (each scrape that did not reuse the kept page). */
uint64_t probe_metrics_server_renders(const struct probe_metrics_server *s);
/* The fleet changed: the next scrape past the render interval renders again. @s may be NULL. */
void probe_metrics_server_changed(struct probe_metrics_server *s);
/* The least time between two renders (0: a changed fleet is rendered at the next scrape). */
void probe_metrics_server_set_render_interval(struct probe_metrics_server *s, uint64_t usec);
/* Where to say what goes wrong while serving (accept() failing: EMFILE), once per distinct error; NULL: nowhere. */
void probe_metrics_server_set_log(struct probe_metrics_server *s, void (*log)(const char *msg, void *userdata),
				  void *userdata);
/* Stops listening, closes every connection. Returns NULL. */
struct probe_metrics_server *probe_metrics_server_free(struct probe_metrics_server *s);

static inline void probe_metrics_server_freep(struct probe_metrics_server **s)
{
	if (*s)
		probe_metrics_server_free(*s);
}
#define _cleanup_metrics_server_ __attribute__((cleanup(probe_metrics_server_freep)))
