/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "probe-loop.h"
#include "sc-io.h"

/* poll() and epoll share the bit values sd-event passes through. */
_Static_assert(POLLIN == EPOLLIN && POLLOUT == EPOLLOUT && POLLHUP == EPOLLHUP && POLLERR == EPOLLERR,
	       "poll and epoll bits");

struct probe_watch {
	sd_event *event;
	struct probe_session *session;
	sd_event_source *io, *timer;
	int io_fd;
	bool finished;
	probe_watch_done_t done;
	void *userdata;
};

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata);
static int on_timer(sd_event_source *src, uint64_t usec, void *userdata);

static void rearm(struct probe_watch *w)
{
	struct probe_session *s = w->session;
	int fd = probe_session_fd(s);
	long long wake = probe_session_wakeup(s);

	if (w->finished)
		return;
	if (probe_session_finished(s)) {
		w->finished = true;
		w->io = sd_event_source_disable_unref(w->io);
		w->timer = sd_event_source_disable_unref(w->timer);
		if (w->done)
			w->done(s, w->userdata);
		return;
	}
	if (fd != w->io_fd) {
		w->io = sd_event_source_disable_unref(w->io);
		w->io_fd = -1;
		if (fd >= 0 && sd_event_add_io(w->event, &w->io, fd, (uint32_t)probe_session_events(s), on_io, w) >= 0)
			w->io_fd = fd;
	}
	if (w->io)
		(void)sd_event_source_set_io_events(w->io, (uint32_t)probe_session_events(s));
	if (wake >= 0) {
		uint64_t usec = (uint64_t)(wake < 0 ? 0 : wake) * 1000u;

		if (!w->timer)
			(void)sd_event_add_time(w->event, &w->timer, CLOCK_MONOTONIC, usec, 1000, on_timer, w);
		else {
			(void)sd_event_source_set_time(w->timer, usec);
			(void)sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
		}
	}
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct probe_watch *w = userdata;

	(void)src;
	(void)fd;
	probe_session_io(w->session, (short)revents, sc_now_ms());
	rearm(w);
	return 0;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct probe_watch *w = userdata;

	(void)src;
	(void)usec;
	probe_session_tick(w->session, sc_now_ms());
	rearm(w);
	return 0;
}

int probe_watch_new(sd_event *e, struct probe_session *s, probe_watch_done_t done, void *userdata,
		    struct probe_watch **ret)
{
	struct probe_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->event = sd_event_ref(e);
	w->session = s;
	w->io_fd = -1;
	w->done = done;
	w->userdata = userdata;
	rearm(w);
	if (!w->finished && !w->timer) {
		probe_watch_free(w);
		return -ENOMEM;
	}
	*ret = w;
	return 0;
}

void probe_watch_update(struct probe_watch *w)
{
	rearm(w);
}

struct probe_watch *probe_watch_free(struct probe_watch *w)
{
	if (!w)
		return NULL;
	sd_event_source_disable_unref(w->io);
	sd_event_source_disable_unref(w->timer);
	sd_event_unref(w->event);
	free(w);
	return NULL;
}
