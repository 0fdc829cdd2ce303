/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "probe-libvirt.h"
#include "sc-fileio.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-term.h"
#include "sc-why.h"

/* ---- libvirt's event loop interface on sd-event ------------------------------------------------ */

struct ev_rec {
	int id;
	bool timer;
	int fd;
	int freq_ms;			 /* timers: -1 off, 0 every iteration, else the period */
	virEventHandleCallback handle_cb;
	virEventTimeoutCallback timeout_cb;
	void *opaque;
	virFreeCallback ff;
	sd_event_source *src;
};

static struct {
	sd_event *loop;
	struct ev_rec **recs; /* live */
	size_t n, cap;
	struct ev_rec **dead; /* removed, their free callbacks due on the next iteration */
	size_t n_dead, cap_dead;
	sd_event_source *reaper;
	int next_id;
} ev;

static struct ev_rec *ev_find(int id, bool timer, size_t *ret_idx)
{
	for (size_t i = 0; i < ev.n; i++)
		if (ev.recs[i]->id == id && ev.recs[i]->timer == timer) {
			if (ret_idx)
				*ret_idx = i;
			return ev.recs[i];
		}
	return NULL;
}

static int ev_push(struct ev_rec ***arr, size_t *n, size_t *cap, struct ev_rec *r)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct ev_rec **a = reallocarray(*arr, c, sizeof(*a));

		if (!a)
			return -ENOMEM;
		*arr = a;
		*cap = c;
	}
	(*arr)[(*n)++] = r;
	return 0;
}

void probe_libvirt_event_flush(void)
{
	/* Take the list first: a free callback may remove more. */
	while (ev.n_dead) {
		struct ev_rec *r = ev.dead[--ev.n_dead];

		if (r->ff)
			r->ff(r->opaque);
		free(r);
	}
}

static int on_reap(sd_event_source *s, void *userdata)
{
	(void)s;
	(void)userdata;
	probe_libvirt_event_flush();
	return 0;
}

static int ev_remove(int id, bool timer)
{
	size_t i;
	struct ev_rec *r = ev_find(id, timer, &i);

	if (!r)
		return -1;
	ev.recs[i] = ev.recs[--ev.n];
	/* Disabling the source is safe even from its own callback: sd-event keeps it until dispatch ends. */
	r->src = sd_event_source_disable_unref(r->src);
	if (ev_push(&ev.dead, &ev.n_dead, &ev.cap_dead, r) < 0) {
		/* No room to defer: never call ff inside remove; leak this one record rather. */
		return 0;
	}
	(void)sd_event_source_set_enabled(ev.reaper, SD_EVENT_ONESHOT);
	return 0;
}

static uint32_t to_epoll(int events)
{
	return (events & VIR_EVENT_HANDLE_READABLE ? EPOLLIN : 0) | (events & VIR_EVENT_HANDLE_WRITABLE ? EPOLLOUT : 0);
}

static int on_ev_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct ev_rec *r = userdata;
	int events = (revents & EPOLLIN ? VIR_EVENT_HANDLE_READABLE : 0) |
		     (revents & EPOLLOUT ? VIR_EVENT_HANDLE_WRITABLE : 0) |
		     (revents & EPOLLERR ? VIR_EVENT_HANDLE_ERROR : 0) | (revents & EPOLLHUP ? VIR_EVENT_HANDLE_HANGUP : 0);

	(void)s;
	r->handle_cb(r->id, fd, events, r->opaque);
	return 0;
}

static void ev_handle_set(struct ev_rec *r, int events)
{
	if (events & (VIR_EVENT_HANDLE_READABLE | VIR_EVENT_HANDLE_WRITABLE)) {
		(void)sd_event_source_set_io_events(r->src, to_epoll(events));
		(void)sd_event_source_set_enabled(r->src, SD_EVENT_ON);
	} else
		(void)sd_event_source_set_enabled(r->src, SD_EVENT_OFF);
}

static int ev_add_handle(int fd, int events, virEventHandleCallback cb, void *opaque, virFreeCallback ff)
{
	struct ev_rec *r = calloc(1, sizeof(*r));

	if (!r || !ev.loop)
		return free(r), -1;
	r->id = ++ev.next_id;
	r->fd = fd;
	r->handle_cb = cb;
	r->opaque = opaque;
	r->ff = ff;
	if (sd_event_add_io(ev.loop, &r->src, fd, to_epoll(events) ?: EPOLLIN, on_ev_io, r) < 0 ||
	    ev_push(&ev.recs, &ev.n, &ev.cap, r) < 0) {
		sd_event_source_disable_unref(r->src);
		free(r);
		return -1;
	}
	ev_handle_set(r, events);
	return r->id;
}

static void ev_update_handle(int id, int events)
{
	struct ev_rec *r = ev_find(id, false, NULL);

	if (r)
		ev_handle_set(r, events);
}

static int ev_remove_handle(int id)
{
	return ev_remove(id, false);
}

static void ev_timer_arm(struct ev_rec *r)
{
	if (r->freq_ms < 0) {
		(void)sd_event_source_set_enabled(r->src, SD_EVENT_OFF);
		return;
	}
	/* 0: due now, and again on every iteration while it stays 0. */
	(void)sd_event_source_set_time(r->src, r->freq_ms ? (uint64_t)sc_now_us() + (uint64_t)r->freq_ms * 1000 : 1);
	(void)sd_event_source_set_enabled(r->src, SD_EVENT_ON);
}

static int on_ev_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct ev_rec *r = userdata;

	(void)s;
	(void)usec;
	ev_timer_arm(r); /* before the callback, which may change or remove it */
	r->timeout_cb(r->id, r->opaque);
	return 0;
}

static int ev_add_timeout(int freq_ms, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff)
{
	struct ev_rec *r = calloc(1, sizeof(*r));

	if (!r || !ev.loop)
		return free(r), -1;
	r->id = ++ev.next_id;
	r->timer = true;
	r->fd = -1;
	r->freq_ms = freq_ms;
	r->timeout_cb = cb;
	r->opaque = opaque;
	r->ff = ff;
	/* sc_now_us() is CLOCK_MONOTONIC, the clock of the source. */
	if (sd_event_add_time(ev.loop, &r->src, CLOCK_MONOTONIC, 1, 1000, on_ev_timer, r) < 0 ||
	    ev_push(&ev.recs, &ev.n, &ev.cap, r) < 0) {
		sd_event_source_disable_unref(r->src);
		free(r);
		return -1;
	}
	ev_timer_arm(r);
	return r->id;
}

static void ev_update_timeout(int id, int freq_ms)
{
	struct ev_rec *r = ev_find(id, true, NULL);

	if (r) {
		r->freq_ms = freq_ms;
		ev_timer_arm(r);
	}
}

static int ev_remove_timeout(int id)
{
	return ev_remove(id, true);
}

static void silent_error(void *userdata, virErrorPtr err)
{
	(void)userdata;
	(void)err;
}

bool probe_libvirt_event_bound(void)
{
	return ev.loop != NULL;
}

int probe_libvirt_event_init(sd_event *e)
{
	int r;

	if (ev.loop)
		return ev.loop == e ? 0 : -EBUSY;
	r = sd_event_add_defer(e, &ev.reaper, on_reap, NULL);
	if (r < 0)
		return r;
	(void)sd_event_source_set_enabled(ev.reaper, SD_EVENT_OFF);
	ev.loop = sd_event_ref(e);
	virSetErrorFunc(NULL, silent_error);
	virEventRegisterImpl(ev_add_handle, ev_update_handle, ev_remove_handle, ev_add_timeout, ev_update_timeout,
			     ev_remove_timeout);
	return virInitialize() < 0 ? -EIO : 0;
}

bool probe_libvirt_is_uri(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+.-");

	return n > 0 && s[0] >= 'a' && s[0] <= 'z' && s[n] == ':';
}

/* ---- discovery ---------------------------------------------------------------------------------- */

struct known_domain {
	char name[PROBE_DOMAIN_NAME_MAX];
	char uuid[VIR_UUID_STRING_BUFLEN];
	char path[PROBE_DOMAIN_PATH_MAX];
	bool tpm;
	bool seen;
};

struct probe_libvirt {
	sd_event *event;
	char *uri, *port;
	struct probe_libvirt_ops ops;
	void *userdata;
	virConnectPtr conn;
	int lifecycle_id, device_ids[2]; /* DEVICE_ADDED, DEVICE_REMOVED */
	bool close_registered;
	sd_event_source *retry;
	unsigned backoff_ms;
	struct known_domain *known;
	size_t n_known;
	char error[512];
};

static void note(struct probe_libvirt *l, const char *fmt, ...) _printf_(2, 3);
static void note(struct probe_libvirt *l, const char *fmt, ...)
{
	char msg[700];
	va_list ap;

	if (!l->ops.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	l->ops.log(l, msg, l->userdata);
}

static const char *last_error(void)
{
	const char *m = virGetLastErrorMessage();

	return m ? m : "unknown error";
}

static struct known_domain *known_find(struct probe_libvirt *l, const char *uuid)
{
	for (size_t i = 0; i < l->n_known; i++)
		if (strcmp(l->known[i].uuid, uuid) == 0)
			return &l->known[i];
	return NULL;
}

static void known_drop(struct probe_libvirt *l, struct known_domain *k)
{
	struct known_domain copy = *k;

	*k = l->known[--l->n_known];
	if (l->ops.removed)
		l->ops.removed(l, copy.name, copy.uuid, l->userdata);
}

int probe_libvirt_channel(virDomainPtr dom, const char *port, struct probe_domain_channel *ret, char *why,
			  size_t why_size)
{
	_cleanup_free_ char *xml = virDomainGetXMLDesc(dom, 0);

	memset(ret, 0, sizeof(*ret));
	if (!xml)
		return sc_why(-EIO, why, why_size, "reading its XML: %s", last_error());
	return probe_domain_xml_channel(xml, strlen(xml), port, ret, why, why_size);
}

/* A domain that runs: announce it when it has the channel (again when its path changed), else forget it. */
static void examine(struct probe_libvirt *l, virDomainPtr dom)
{
	char uuid[VIR_UUID_STRING_BUFLEN], why[300];
	const char *name = virDomainGetName(dom);
	struct probe_domain_channel ch;
	struct known_domain *k;
	int r;

	if (!name || virDomainGetUUIDString(dom, uuid) < 0)
		return;
	k = known_find(l, uuid);
	r = probe_libvirt_channel(dom, l->port, &ch, why, sizeof(why));
	if (r < 0)
		note(l, "domain %s: %s", name, why);
	if (r != 1 || strlen(name) >= PROBE_DOMAIN_NAME_MAX) {
		if (k)
			known_drop(l, k);
		return;
	}
	if (k && strcmp(k->path, ch.path) == 0 && strcmp(k->name, name) == 0 && k->tpm == ch.tpm) {
		k->seen = true;
		return;
	}
	if (k)
		known_drop(l, k); /* restarted (a new path) or renamed: gone, then back */
	{
		struct known_domain *a = reallocarray(l->known, l->n_known + 1, sizeof(*a));

		if (!a)
			return;
		l->known = a;
		k = &l->known[l->n_known++];
		memset(k, 0, sizeof(*k));
		snprintf(k->name, sizeof(k->name), "%s", name);
		snprintf(k->uuid, sizeof(k->uuid), "%s", uuid);
		snprintf(k->path, sizeof(k->path), "%s", ch.path);
		k->tpm = ch.tpm;
		k->seen = true;
	}
	if (l->ops.added)
		l->ops.added(l, name, uuid, ch.path, ch.tpm, l->userdata);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	struct probe_libvirt *l = opaque;
	char uuid[VIR_UUID_STRING_BUFLEN];
	struct known_domain *k;

	(void)conn;
	(void)detail;
	switch (event) {
	case VIR_DOMAIN_EVENT_STARTED:
		/* Every start has a new socket path: read it now. */
		examine(l, dom);
		break;
	case VIR_DOMAIN_EVENT_STOPPED:
	case VIR_DOMAIN_EVENT_CRASHED:
	case VIR_DOMAIN_EVENT_UNDEFINED:
		if (virDomainGetUUIDString(dom, uuid) == 0 && (k = known_find(l, uuid)))
			known_drop(l, k);
		break;
	default:
		break;
	}
	return 0;
}

/* A device plugged into or out of a running domain: the channel may have come or gone. */
static void on_device(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	(void)conn;
	(void)alias;
	if (virDomainIsActive(dom) == 1)
		examine(opaque, dom);
}

/* After (re)connecting: every active domain examined; those known but gone are removed. 0, or -EIO
 * with l->error when the listing failed. */
static int rediscover(struct probe_libvirt *l)
{
	virDomainPtr *doms = NULL;
	int n;

	for (size_t i = 0; i < l->n_known; i++)
		l->known[i].seen = false;
	n = virConnectListAllDomains(l->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (n < 0) {
		snprintf(l->error, sizeof(l->error), "listing the domains: %s", last_error());
		note(l, "listing the domains of %s: %s", l->uri, last_error());
		return -EIO;
	}
	for (int i = 0; i < n; i++) {
		examine(l, doms[i]);
		virDomainFree(doms[i]);
		if (l->ops.progress)
			l->ops.progress(l, l->userdata);
	}
	free(doms);
	for (size_t i = 0; i < l->n_known;)
		if (!l->known[i].seen)
			known_drop(l, &l->known[i]);
		else
			i++;
	if (l->ops.listed)
		l->ops.listed(l, l->userdata);
	return 0;
}

static void disconnect(struct probe_libvirt *l)
{
	if (!l->conn)
		return;
	if (l->lifecycle_id >= 0)
		(void)virConnectDomainEventDeregisterAny(l->conn, l->lifecycle_id);
	for (size_t i = 0; i < ELEMENTSOF(l->device_ids); i++) {
		if (l->device_ids[i] >= 0)
			(void)virConnectDomainEventDeregisterAny(l->conn, l->device_ids[i]);
		l->device_ids[i] = -1;
	}
	l->lifecycle_id = -1;
	if (l->close_registered)
		(void)virConnectUnregisterCloseCallback(l->conn, NULL);
	l->close_registered = false;
	(void)virConnectClose(l->conn);
	l->conn = NULL;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata);

static void schedule_retry(struct probe_libvirt *l, unsigned delay_ms)
{
	if (!l->retry) {
		if (sd_event_add_time_relative(l->event, &l->retry, CLOCK_MONOTONIC, (uint64_t)delay_ms * 1000, 100000,
					       on_retry, l) < 0)
			return;
	} else
		(void)sd_event_source_set_time_relative(l->retry, (uint64_t)delay_ms * 1000);
	(void)sd_event_source_set_enabled(l->retry, SD_EVENT_ONESHOT);
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	struct probe_libvirt *l = opaque;
	static const char *const reasons[] = { "an error", "end of file", "keepalive timeout", "a client request" };

	const char *why = reason >= 0 && reason < (int)ELEMENTSOF(reasons) ? reasons[reason] : "unknown reason";

	(void)conn;
	if (l->ops.closed) {
		char msg[100];

		snprintf(msg, sizeof(msg), "the connection closed (%s)", why);
		l->ops.closed(l, msg, l->userdata);
		return;
	}
	note(l, "the connection to %s closed (%s); reconnecting", l->uri, why);
	/* Not here: libvirt is inside its own dispatch. The retry tears down and reconnects. */
	l->backoff_ms = 1000;
	schedule_retry(l, 0);
}

static int try_connect(struct probe_libvirt *l)
{
	disconnect(l);
	/* Discovery only reads (events, lists, live XML): a read-only connection grants no more. */
	l->conn = l->ops.added || l->ops.removed ? virConnectOpenReadOnly(l->uri) : virConnectOpen(l->uri);
	if (!l->conn) {
		snprintf(l->error, sizeof(l->error), "%s", last_error());
		return -ECONNREFUSED;
	}
	if (virConnectRegisterCloseCallback(l->conn, on_close, l, NULL) == 0)
		l->close_registered = true;
	/* A ping every 5 s; 3 unanswered close the connection (then the retry reconnects). */
	if (virConnectSetKeepAlive(l->conn, 5, 3) < 0 && virGetLastErrorCode() != VIR_ERR_NO_SUPPORT)
		note(l, "keepalive on %s: %s", l->uri, last_error()); /* local drivers (test:///) have none: not a problem */
	l->error[0] = '\0';
	if (!l->ops.added && !l->ops.removed)
		return 0;
	l->lifecycle_id = virConnectDomainEventRegisterAny(l->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
							   VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), l, NULL);
	if (l->lifecycle_id < 0) {
		snprintf(l->error, sizeof(l->error), "registering for domain events: %s", last_error());
		disconnect(l);
		return -EIO;
	}
	/* A channel hot-plugged into a running domain (or out of it): no lifecycle event says so. */
	l->device_ids[0] = virConnectDomainEventRegisterAny(l->conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
							    VIR_DOMAIN_EVENT_CALLBACK(on_device), l, NULL);
	l->device_ids[1] = virConnectDomainEventRegisterAny(l->conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
							    VIR_DOMAIN_EVENT_CALLBACK(on_device), l, NULL);
	l->error[0] = '\0';
	if (rediscover(l) < 0 && l->ops.closed)
		l->ops.closed(l, l->error, l->userdata); /* no retry here: the owner of closed() decides */
	return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct probe_libvirt *l = userdata;

	(void)s;
	(void)usec;
	if (try_connect(l) == 0) {
		note(l, "connected to %s", l->uri);
		l->backoff_ms = 1000;
		return 0;
	}
	note(l, "connecting to %s: %s; again in %u s", l->uri, l->error, l->backoff_ms / 1000);
	schedule_retry(l, l->backoff_ms);
	l->backoff_ms = l->backoff_ms >= 15000 ? 30000 : l->backoff_ms * 2;
	return 0;
}

int probe_libvirt_new(sd_event *e, const char *uri, const char *port, const struct probe_libvirt_ops *ops,
		      void *userdata, struct probe_libvirt **ret)
{
	struct probe_libvirt *l;

	if (ev.loop != e)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->event = sd_event_ref(e);
	l->uri = strdup(uri ? uri : PROBE_LIBVIRT_DEFAULT_URI);
	l->port = strdup(port);
	l->lifecycle_id = l->device_ids[0] = l->device_ids[1] = -1;
	l->backoff_ms = 1000;
	if (ops)
		l->ops = *ops;
	l->userdata = userdata;
	if (!l->uri || !l->port) {
		probe_libvirt_free(l);
		return -ENOMEM;
	}
	if (try_connect(l) < 0 && !l->ops.closed) {
		note(l, "connecting to %s: %s; retrying", l->uri, l->error);
		schedule_retry(l, l->backoff_ms);
		l->backoff_ms *= 2;
	}
	*ret = l;
	return 0;
}

struct probe_libvirt *probe_libvirt_free(struct probe_libvirt *l)
{
	if (!l)
		return NULL;
	disconnect(l);
	sd_event_source_disable_unref(l->retry);
	sd_event_unref(l->event);
	free(l->known);
	free(l->uri);
	free(l->port);
	free(l);
	return NULL;
}

virConnectPtr probe_libvirt_conn(struct probe_libvirt *l)
{
	return l->conn;
}

const char *probe_libvirt_last_error(const struct probe_libvirt *l)
{
	return l->error;
}
