/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The /metrics server: libmicrohttpd inside the probe's sd-event loop (probe-metrics-http.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe-metrics-http.h"
#include "sc-macro.h"

struct probe_metrics_server {
	struct MHD_Daemon *daemon;
	sd_event *event;
	sd_event_source *io, *timer;
	probe_metrics_snapshot_t snapshot;
	void *userdata;
	unsigned port;
	uint64_t scrapes, renders;
	/* The rendered page, shared by every scrape until the fleet changes: MHD counts its users
	 * (MHD_destroy_response() "may keep some of the resources around if the response is still in the
	 * queue for some clients", libmicrohttpd's manual), so a page being sent outlives its replacement. */
	struct MHD_Response *page;
	bool dirty;
	uint64_t rendered_usec, min_render_usec; /* CLOCK_MONOTONIC */
	/* Our own accept: the listening socket is ours, handed to MHD one connection at a time. */
	int listen_fd;
	sd_event_source *accept_io, *accept_retry;
	int accept_error; /* the last accept() error said, 0: none since the last success */
	void (*log)(const char *msg, void *userdata);
	void *log_userdata;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result r;

	resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8") != MHD_YES ||
	    (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static uint64_t monotonic_usec(struct probe_metrics_server *s)
{
	uint64_t now = 0;

	(void)sd_event_now(s->event, CLOCK_MONOTONIC, &now);
	return now;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	static int seen;
	struct probe_metrics_server *s = cls;
	struct probe_metrics_snapshot snap = { 0 };
	_cleanup_free_ char *text = NULL;
	enum MHD_Result mr;
	size_t len;

	/* Any other method is refused at once, its body (if any) never read. */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	/* The first call has the headers only; answer on the second, as MHD recommends. */
	if (!*req_cls) {
		*req_cls = &seen;
		return MHD_YES;
	}
	if (*upload_data_size > 0) /* a GET with a body: ignore it */
		*upload_data_size = 0;
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n");

	if (!s->page || (s->dirty && monotonic_usec(s) - s->rendered_usec >= s->min_render_usec)) {
		struct MHD_Response *resp;

		if (s->snapshot(s->userdata, &snap) < 0 ||
		    probe_metrics_render(snap.vms, snap.n_vms, &snap.extra, &text, &len) < 0)
			return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "could not render the metrics\n");
		resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
		if (!resp)
			return MHD_NO;
		text = NULL; /* the response owns it now */
		if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, PROBE_METRICS_CONTENT_TYPE) != MHD_YES) {
			MHD_destroy_response(resp);
			return MHD_NO;
		}
		if (s->page)
			MHD_destroy_response(s->page);
		s->page = resp;
		s->dirty = false;
		s->rendered_usec = monotonic_usec(s);
		s->renders++;
	}
	mr = MHD_queue_response(c, MHD_HTTP_OK, s->page);
	if (mr == MHD_YES)
		s->scrapes++;
	return mr;
}

/* After each MHD_run: wake again when MHD wants to (connection timeouts, data it already holds). */
static void rearm(struct probe_metrics_server *s)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;
	uint64_t now = 0, usec;

	if (MHD_get_timeout(s->daemon, &ms) != MHD_YES) {
		(void)sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
		return;
	}
	if (sd_event_now(s->event, CLOCK_MONOTONIC, &now) < 0)
		now = 0;
	usec = ms > UINT64_MAX / 1000 ? UINT64_MAX : ms * 1000;
	usec = usec > UINT64_MAX - now ? UINT64_MAX - 1 : now + usec;
	(void)sd_event_source_set_time(s->timer, usec);
	(void)sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

static unsigned n_connections(struct probe_metrics_server *s)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return i ? i->num_connections : 0;
}

static void accept_update(struct probe_metrics_server *s);

/* After each MHD_run: accept again when a slot is free (MHD closes connections only inside a run). */
static void run(struct probe_metrics_server *s)
{
	(void)MHD_run(s->daemon);
	rearm(s);
	accept_update(s);
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	run(userdata);
	return 0;
}

/*
 * Accept while a slot is free; at PROBE_METRICS_CONNECTIONS_MAX the
 * listening socket leaves the loop, so a further client waits in the
 * kernel's backlog (listen(2)) instead of being accepted and closed. The
 * accepting is ours, not MHD's (MHD_USE_NO_LISTEN_SOCKET, each connection
 * given by MHD_add_connection()): MHD, out of descriptors with no connection
 * open, retries accept() at once for ever ("will try busy waiting", its
 * daemon.c), which would spin the loop every VM's rounds share.
 */
static void accept_update(struct probe_metrics_server *s)
{
	bool retrying = false;
	int on;

	if (s->accept_retry && sd_event_source_get_enabled(s->accept_retry, &on) >= 0)
		retrying = on != SD_EVENT_OFF;
	(void)sd_event_source_set_enabled(s->accept_io, !retrying && n_connections(s) < PROBE_METRICS_CONNECTIONS_MAX
									? SD_EVENT_ON
									: SD_EVENT_OFF);
}

/* "--metrics-listen: @what: <strerror(@err)>@tail" through the log callback. */
static void say(struct probe_metrics_server *s, const char *what, int err, const char *tail)
{
	char msg[200];

	if (!s->log)
		return;
	snprintf(msg, sizeof(msg), "--metrics-listen: %s: %s%s", what, strerror(err), tail);
	s->log(msg, s->log_userdata);
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct probe_metrics_server *s = userdata;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int c = accept4(s->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (c < 0) {
		int err = errno;

		if (err == EAGAIN || err == EINTR || err == ECONNABORTED)
			return 0;
		/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the client stays in the backlog; try again in 250 ms,
		 * saying so once until an accept succeeds. */
		if (err != s->accept_error)
			say(s, "cannot accept a scrape", err, " (trying again every 250 ms)");
		s->accept_error = err;
		(void)sd_event_source_set_time_relative(s->accept_retry, 250 * 1000);
		(void)sd_event_source_set_enabled(s->accept_retry, SD_EVENT_ONESHOT);
		accept_update(s);
		return 0;
	}
	if (s->accept_error) {
		say(s, "accepting scrapes again after", s->accept_error, "");
		s->accept_error = 0;
	}
	/* MHD closes @c itself when it refuses it (the per-address limit, memory). */
	(void)MHD_add_connection(s->daemon, c, (struct sockaddr *)&ss, sl);
	run(s);
	return 0;
}

static int on_accept_retry(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct probe_metrics_server *s = userdata;

	(void)sd_event_source_set_enabled(src, SD_EVENT_OFF);
	accept_update(s);
	return 0;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	run(userdata);
	return 0;
}

int probe_metrics_server_new(sd_event *e, const char *listen_addr, probe_metrics_snapshot_t snapshot, void *userdata,
			     struct probe_metrics_server **ret)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	_cleanup_close_ int fd = -1;
	struct probe_metrics_server *s;
	const union MHD_DaemonInfo *info;
	int r, one = 1;

	if (!e || !snapshot || !ret)
		return -EINVAL;
	r = probe_metrics_parse_listen(listen_addr, &ss, &sl);
	if (r < 0)
		return r;
	/* Bound here, not by MHD, so a failure says why (EADDRINUSE, EACCES) and port 0 can be read back. */
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sc_negative_errno();
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 16) < 0)
		return sc_negative_errno();
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return sc_negative_errno();

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->listen_fd = -1;
	s->snapshot = snapshot;
	s->userdata = userdata;
	s->event = sd_event_ref(e);
	s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						 : ((struct sockaddr_in *)&ss)->sin_port);

	s->listen_fd = TAKE_FD(fd);
	s->min_render_usec = PROBE_METRICS_RENDER_INTERVAL_US;

	/* No thread of MHD's own: its epoll descriptor is a source on our loop (MHD_USE_EPOLL without
	 * MHD_USE_INTERNAL_POLLING_THREAD), so the snapshot callback runs on the fleet's loop. No listening
	 * socket of MHD's either: on_accept() gives it each connection. */
	s->daemon = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL,
				     on_request, s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)PROBE_METRICS_CONNECTIONS_MAX,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PROBE_METRICS_PER_IP_MAX,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)PROBE_METRICS_CONNECTION_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024), MHD_OPTION_END);
	if (!s->daemon) {
		probe_metrics_server_free(s);
		return -ENOMEM;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || info->epoll_fd < 0) {
		probe_metrics_server_free(s);
		return -EOPNOTSUPP;
	}
	r = sd_event_add_io(e, &s->io, info->epoll_fd, EPOLLIN, on_io, s);
	/* Accuracy 1 us, not sd-event's default 250 ms: MHD's timeout is often 0 ("run me again now",
	 * data already in its buffers), and 250 ms of slack per step starves a request (128 bytes a step). */
	if (r >= 0)
		r = sd_event_add_time(e, &s->timer, CLOCK_MONOTONIC, 0, 1, on_timer, s);
	if (r >= 0)
		r = sd_event_add_io(e, &s->accept_io, s->listen_fd, EPOLLIN, on_accept, s);
	if (r >= 0)
		r = sd_event_add_time(e, &s->accept_retry, CLOCK_MONOTONIC, 0, 1000, on_accept_retry, s);
	if (r >= 0)
		r = sd_event_source_set_enabled(s->accept_retry, SD_EVENT_OFF);
	if (r < 0) {
		probe_metrics_server_free(s);
		return r;
	}
	(void)sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
	rearm(s);
	accept_update(s);
	*ret = s;
	return 0;
}

unsigned probe_metrics_server_port(const struct probe_metrics_server *s)
{
	return s->port;
}

uint64_t probe_metrics_server_scrapes(const struct probe_metrics_server *s)
{
	return s->scrapes;
}

uint64_t probe_metrics_server_renders(const struct probe_metrics_server *s)
{
	return s->renders;
}

void probe_metrics_server_changed(struct probe_metrics_server *s)
{
	if (s)
		s->dirty = true;
}

void probe_metrics_server_set_render_interval(struct probe_metrics_server *s, uint64_t usec)
{
	s->min_render_usec = usec;
}

void probe_metrics_server_set_log(struct probe_metrics_server *s, void (*log)(const char *msg, void *userdata),
				  void *userdata)
{
	s->log = log;
	s->log_userdata = userdata;
}

struct probe_metrics_server *probe_metrics_server_free(struct probe_metrics_server *s)
{
	if (!s)
		return NULL;
	if (s->io)
		sd_event_source_disable_unref(s->io);
	if (s->timer)
		sd_event_source_disable_unref(s->timer);
	if (s->accept_io)
		sd_event_source_disable_unref(s->accept_io);
	if (s->accept_retry)
		sd_event_source_disable_unref(s->accept_retry);
	if (s->page)
		MHD_destroy_response(s->page);
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->event)
		sd_event_unref(s->event);
	free(s);
	return NULL;
}
