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

#include "probe-attest.h"
#include "probe-cli.h"
#include "probe-fleet.h"
#include "probe-libvirt.h"
#include "probe-loop.h"
#include "probe-manifest.h"
#include "probe-spawn.h"
#include "probe-vm.h"
#include "sc-fileio.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-term.h"

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
		return snprintf(why, why_size, "reading its XML: %s", last_error()), -EIO;
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
	if (k && strcmp(k->path, ch.path) == 0 && strcmp(k->name, name) == 0) {
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
		k->seen = true;
	}
	if (l->ops.added)
		l->ops.added(l, name, uuid, ch.path, l->userdata);
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

/* After (re)connecting: every active domain examined; those known but gone are removed. */
static void rediscover(struct probe_libvirt *l)
{
	virDomainPtr *doms = NULL;
	int n;

	for (size_t i = 0; i < l->n_known; i++)
		l->known[i].seen = false;
	n = virConnectListAllDomains(l->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (n < 0) {
		note(l, "listing the domains of %s: %s", l->uri, last_error());
		return;
	}
	for (int i = 0; i < n; i++) {
		examine(l, doms[i]);
		virDomainFree(doms[i]);
	}
	free(doms);
	for (size_t i = 0; i < l->n_known;)
		if (!l->known[i].seen)
			known_drop(l, &l->known[i]);
		else
			i++;
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

	(void)conn;
	note(l, "the connection to %s closed (%s); reconnecting", l->uri,
	     reason >= 0 && reason < (int)ELEMENTSOF(reasons) ? reasons[reason] : "unknown reason");
	/* Not here: libvirt is inside its own dispatch. The retry tears down and reconnects. */
	l->backoff_ms = 1000;
	schedule_retry(l, 0);
}

static int try_connect(struct probe_libvirt *l)
{
	disconnect(l);
	l->conn = virConnectOpen(l->uri);
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
	rediscover(l);
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
	if (try_connect(l) < 0) {
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

/* ---- watch --libvirt: the fleet's libvirt source ------------------------------------------------ */

static void fleet_log(struct probe_libvirt *l, const char *msg, void *userdata)
{
	(void)l;
	(void)userdata;
	fputs("sealcheck-probe watch: libvirt: ", stderr);
	sc_term_fput(stderr, msg, strlen(msg), 0);
	fputc('\n', stderr);
}

static void fleet_added(struct probe_libvirt *l, const char *name, const char *uuid, const char *socket_path,
			void *userdata)
{
	int r = probe_fleet_add_vm(userdata, name, uuid, socket_path, PROBE_FLEET_LIBVIRT);

	if (r < 0) {
		char msg[PROBE_DOMAIN_NAME_MAX + 100];

		snprintf(msg, sizeof(msg), "domain %s not watched: %s", name,
			 r == -EEXIST ? "a VM of that name comes from another source" : strerror(-r));
		fleet_log(l, msg, NULL);
	}
}

static void fleet_removed(struct probe_libvirt *l, const char *name, const char *uuid, void *userdata)
{
	(void)l;
	(void)uuid;
	(void)probe_fleet_remove_vm_source(userdata, name, PROBE_FLEET_LIBVIRT);
}

int probe_libvirt_fleet_new(struct probe_fleet *f, const char *uri, struct probe_libvirt **ret)
{
	static const struct probe_libvirt_ops ops = { .added = fleet_added, .removed = fleet_removed, .log = fleet_log };
	sd_event *e = probe_fleet_event(f);
	int r = probe_libvirt_event_init(e);

	if (r < 0)
		return r;
	return probe_libvirt_new(e, uri, SC_VIRTIO_PORT_DEFAULT, &ops, f, ret);
}

/* ---- run --libvirt ------------------------------------------------------------------------------ */

#define OVMF_CODE_SECURE "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
#define OVMF_CODE "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define OVMF_VARS_EMPTY "/usr/share/OVMF/OVMF_VARS_4M.fd"
/* libvirt's swtpm_setup certifies each VM's EK with this local CA (swtpm-localca(8), /etc/swtpm-localca.conf). */
#define SWTPM_LOCALCA_DIR "/var/lib/swtpm-localca"

struct run_ctx {
	sd_event *event;
	bool tty;
};

static void run_log(struct probe_libvirt *l, const char *msg, void *userdata)
{
	(void)l;
	(void)userdata;
	fputs("sealcheck-probe run: libvirt: ", stderr);
	sc_term_fput(stderr, msg, strlen(msg), 0);
	fputc('\n', stderr);
}

static void run_progress(const struct probe_attest *a, long long now, void *userdata)
{
	struct run_ctx *c = userdata;

	/*
	 * libvirt's connection (keepalive answers, lifecycle events) lives on the
	 * probe's loop; while probe_attest_run() runs its own, give it a turn each
	 * second, without blocking. (When probe_attest takes the caller's loop,
	 * this pump goes.)
	 */
	(void)sd_event_run(c->event, 0);
	if (c->tty)
		fprintf(stderr, "\rsealcheck-probe: %s ... %llds ",
			a->session.state == PROBE_SESSION_CONNECTING ? "waiting for the domain's attestation channel"
								     : "waiting for the guest's report",
			(now - a->started_ms) / 1000);
}

/* "sealcheck-<image>-<8 hex>": the image folder's name, in characters libvirt and a shell take as they are. */
static int domain_name(const char *image_dir, char *buf, size_t size)
{
	const char *base = strrchr(image_dir, '/') ? strrchr(image_dir, '/') + 1 : image_dir;
	char clean[41];
	uint32_t rnd;
	size_t n = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -errno;
	for (; *base && n < sizeof(clean) - 1; base++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *base))
			clean[n++] = *base;
	clean[n] = '\0';
	snprintf(buf, size, "sealcheck-%s-%08x", n ? clean : "image", rnd);
	return 0;
}

/* QEMU's pid, from the pid file libvirt writes for the domain (qemu:///system or qemu:///session). */
static pid_t qemu_pid(const char *uri, const char *name)
{
	_cleanup_free_ char *buf = NULL;
	char path[400], comm[64] = "";
	size_t len;
	long pid;
	char *end;
	FILE *f;

	if (strcmp(uri, "qemu:///system") == 0)
		snprintf(path, sizeof(path), "/run/libvirt/qemu/%s.pid", name);
	else if (strcmp(uri, "qemu:///session") == 0 && getenv("XDG_RUNTIME_DIR"))
		snprintf(path, sizeof(path), "%s/libvirt/qemu/run/%s.pid", getenv("XDG_RUNTIME_DIR"), name);
	else
		return -1;
	if (sc_read_file_capped(path, 32, &buf, &len) < 0)
		return -1;
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno || end == buf || pid <= 1 || pid > INT32_MAX)
		return -1;
	/* Only QEMU's: the pid file could be stale. */
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "qemu-system-", 12) == 0 ? (pid_t)pid : -1;
}

static void remove_workdir(const char *dir, const struct probe_vm *vm)
{
	if (!dir[0])
		return;
	(void)unlink(vm->console_sock);
	(void)unlink(vm->console_log);
	if (vm->uki_path[0])
		(void)unlink(vm->uki_path);
	{
		char log[320];

		snprintf(log, sizeof(log), "%s/tools.log", dir);
		(void)unlink(log);
		snprintf(log, sizeof(log), "%s/ek-ca.pem", dir);
		(void)unlink(log);
	}
	(void)rmdir(dir);
}

/* The files the domain is made of, as absolute paths (libvirtd does not share the probe's working directory). */
struct run_files {
	char *dir, *esp, *root, *vars, *sealed_esp;
	const char *loader;
	bool secure;
};

static void run_files_done(struct run_files *f)
{
	free(f->dir);
	free(f->esp);
	free(f->root);
	free(f->vars);
	free(f->sealed_esp);
}

static int resolve_files(struct probe_vm *vm, struct run_files *f, char *why, size_t why_size)
{
	char esp_buf[160];
	int r;

	f->dir = realpath(vm->image_dir, NULL);
	if (!f->dir)
		return snprintf(why, why_size, "%s: %s", vm->image_dir, strerror(errno)), -errno;
	r = probe_manifest_load(f->dir, &vm->manifest, why, why_size);
	if (r < 0)
		return r;
	if (vm->esp && strchr(vm->esp, '/')) {
		f->esp = realpath(vm->esp, NULL);
		if (!f->esp)
			return snprintf(why, why_size, "--esp %s: %s", vm->esp, strerror(errno)), -errno;
	} else {
		const char *name = vm->esp ? (probe_plain_name(vm->esp) && strstr(vm->esp, ".img")
						      ? vm->esp
						      : probe_manifest_esp(&vm->manifest, vm->esp, esp_buf, sizeof(esp_buf)))
					   : vm->manifest.esp;

		if (!name)
			return snprintf(why, why_size, "--esp %.60s: not a variant of the image or a plain file name",
					vm->esp),
			       -EINVAL;
		r = probe_image_file(f->dir, name, &f->esp, why, why_size);
		if (r < 0)
			return r;
	}
	r = probe_image_file(f->dir, vm->manifest.root, &f->root, why, why_size);
	if (r < 0)
		return r;
	r = probe_image_file(f->dir, vm->manifest.esp, &f->sealed_esp, why, why_size);
	if (r < 0)
		return r;
	switch (vm->firmware) {
	case PROBE_FW_UEFI_SECURE:
		f->loader = OVMF_CODE_SECURE;
		f->secure = true;
		r = probe_image_file(f->dir, vm->manifest.vars, &f->vars, why, why_size);
		if (r < 0)
			return r;
		break;
	case PROBE_FW_UEFI_SETUP:
		f->loader = OVMF_CODE_SECURE;
		f->secure = true;
		f->vars = strdup(OVMF_VARS_EMPTY);
		break;
	case PROBE_FW_UEFI_INSECURE:
		f->loader = OVMF_CODE;
		f->vars = strdup(OVMF_VARS_EMPTY);
		break;
	default:
		return snprintf(why, why_size, "--firmware bios is not offered with --libvirt (it boots the UKI's parts "
						"directly; libvirt domains here boot OVMF)"),
		       -EINVAL;
	}
	if (!f->vars)
		return -ENOMEM;
	snprintf(vm->keys_used, sizeof(vm->keys_used), "%s",
		 json_string_value(json_object_get(vm->manifest.doc, "keys")) ?: "");
	return 0;
}

static void say_libvirt(const char *what, const char *name)
{
	const char *m = last_error();

	fprintf(stderr, "sealcheck-probe run: %s ", what);
	sc_term_fput(stderr, name, strlen(name), 0);
	fputs(": ", stderr);
	sc_term_fput(stderr, m, strlen(m), 0);
	fputc('\n', stderr);
}

/*
 * The TPM: libvirt owns this VM's swtpm, so the host has no AK Name to pin
 * before the guest runs. The guest's AK is bound to the TPM by credential
 * activation (probe-credential.h, cli_tpm_credential()): the EK certificate
 * the agent reads from the TPM's NV must chain to the local CA libvirt's
 * swtpm_setup certified it with (swtpm-localca(8): its root and the issuer
 * of EK certificates in SWTPM_LOCALCA_DIR, which exists once libvirt set up
 * its first TPM: so this runs after the domain started). Nothing is pinned
 * across runs: each run defines a new domain with a new TPM.
 */
static int libvirt_tpm_trust(struct probe_vm *vm, const char *ek_ca, struct cli_tpm *tpm, char *bundle,
			     size_t bundle_size)
{
	static const char *const names[] = { "swtpm-localca-rootca-cert.pem", "issuercert.pem" };
	_cleanup_fclose_ FILE *f = NULL;

	if (ek_ca) /* the operator's CA (--tpm-ek-ca) */
		return cli_tpm_credential("run", ek_ca, NULL, NULL, tpm);

	snprintf(bundle, bundle_size, "%s/ek-ca.pem", vm->workdir);
	f = fopen(bundle, "wxe");
	if (!f) {
		fprintf(stderr, "sealcheck-probe run: %s: %s\n", bundle, strerror(errno));
		return -errno;
	}
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *pem = NULL;
		char path[200];
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", SWTPM_LOCALCA_DIR, names[i]);
		if (sc_read_file_capped(path, 64 * 1024, &pem, &len) < 0 || fwrite(pem, 1, len, f) != len) {
			fprintf(stderr, "sealcheck-probe run: %s: libvirt's swtpm local CA cannot be read (the EK's issuer)\n",
				path);
			return -EIO;
		}
	}
	if (fflush(f) != 0)
		return -errno;
	return cli_tpm_credential("run", bundle, NULL, NULL, tpm);
}

/* Destroy and undefine our own domain (this handle is the one we defined). 0, or -EIO (said unless @quiet). */
static int undefine(virDomainPtr dom, const struct probe_vm *vm, const char *name, bool quiet)
{
	int active = virDomainIsActive(dom);

	if (active < 0 || (active == 1 && virDomainDestroy(dom) < 0)) {
		if (!quiet)
			say_libvirt("destroying the domain", name);
		return -EIO;
	}
	if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM | (vm->tpm ? VIR_DOMAIN_UNDEFINE_TPM : 0)) < 0) {
		if (!quiet)
			say_libvirt("undefining the domain", name);
		return -EIO;
	}
	return 0;
}

/* A new connection for the cleanup, while libvirtd comes back (30 s at most). */
static virConnectPtr reopen(const char *uri)
{
	long long deadline = sc_now_ms() + 30000;
	virConnectPtr c;

	while (!(c = virConnectOpen(uri)) && sc_now_ms() < deadline) {
		fputs("sealcheck-probe run: libvirt's connection is gone; waiting for libvirtd to undefine the domain\n",
		      stderr);
		(void)poll(NULL, 0, 1000);
	}
	return c;
}

/* Under KVM the firmware writes to the console within a second; give it five (run's rule). */
static bool console_speaks(struct probe_vm *vm)
{
	long long deadline = sc_now_ms() + 5000;

	while (sc_now_ms() < deadline) {
		struct pollfd p = { .fd = vm->console.fd >= 0 ? vm->console.fd : vm->console.listen_fd, .events = POLLIN };

		if (poll(&p, 1, 100) <= 0)
			continue;
		if (vm->console.fd < 0)
			(void)probe_console_accept(&vm->console);
		else if (probe_console_read(&vm->console, sc_now_ms()) > 0)
			return true;
	}
	return false;
}

/*
 * Defined (persistent) and then started, so that undefining removes the
 * nvram copy and the TPM state libvirt made for it; started with
 * AUTODESTROY unless --keep, so the VM also goes when the probe dies.
 * On failure the domain is undefined again, *ret is NULL and @kvm_why says
 * why when it was a KVM start.
 */
static int start_domain(virConnectPtr conn, const struct probe_domain_spec *spec, struct probe_vm *vm,
			virDomainPtr *ret, char *kvm_why, size_t kvm_why_size)
{
	_cleanup_free_ char *xml = NULL;
	char why[512];
	virDomainPtr dom;
	int r;

	*ret = NULL;
	r = probe_domain_xml_build(spec, &xml, why, sizeof(why));
	if (r < 0) {
		fputs("sealcheck-probe run: the domain XML: ", stderr);
		sc_term_fput(stderr, why, strlen(why), 0);
		fputc('\n', stderr);
		return r;
	}
	dom = virDomainDefineXML(conn, xml);
	if (!dom) {
		say_libvirt("defining the domain", spec->name);
		return -EIO;
	}
	if (virDomainCreateWithFlags(dom, vm->keep ? 0 : VIR_DOMAIN_START_AUTODESTROY) < 0) {
		if (spec->kvm) {
			const char *m = last_error();

			/* Its first line (QEMU's own error), for the accel note. */
			snprintf(kvm_why, kvm_why_size, "the KVM domain did not start: %.*s", (int)strcspn(m, "\n"), m);
		}
		else
			say_libvirt("starting the domain", spec->name);
		(void)undefine(dom, vm, spec->name, false);
		virDomainFree(dom);
		return -EIO;
	}
	/* QEMU connects to the probe's console socket as it starts. */
	for (int i = 0; i < 50 && vm->console.fd < 0; i++) {
		struct pollfd p = { .fd = vm->console.listen_fd, .events = POLLIN };

		if (poll(&p, 1, 100) > 0)
			(void)probe_console_accept(&vm->console);
	}
	if (spec->kvm && !console_speaks(vm)) {
		snprintf(kvm_why, kvm_why_size, "no firmware output within 5 s");
		(void)undefine(dom, vm, spec->name, false);
		virDomainFree(dom);
		return -ETIMEDOUT;
	}
	*ret = dom;
	return 0;
}

int probe_libvirt_run(struct probe_vm *vm, struct cli_common *o, const char *uri, const char *ek_ca_file)
{
	_cleanup_(run_files_done) struct run_files f = { 0 };
	_cleanup_(cli_tpm_done) struct cli_tpm tpm = { 0 };
	_cleanup_event_ sd_event *e = NULL;
	struct probe_libvirt *lv = NULL;
	struct probe_policy policy;
	struct probe_attest a = { 0 };
	struct probe_domain_channel ch;
	struct run_ctx ctx = { .tty = isatty(STDERR_FILENO) };
	/* No discovery (no added or removed): run needs the connection, its keepalive and its close only. */
	struct probe_libvirt_ops ops = { .log = run_log };
	struct probe_domain_spec spec = { .port = SC_VIRTIO_PORT_DEFAULT };
	virDomainPtr dom = NULL;
	char why[512] = "", name[80], kvm_why[200] = "", ek_ca[320] = "";
	bool started = false;
	int r, rc = PROBE_NO_REPORT;

	if (vm->keys_dir) {
		fputs("sealcheck-probe run: --secure-boot-keys is not offered with --libvirt: the image's enrolled store is "
		      "the domain's nvram template\n",
		      stderr);
		return EXIT_USAGE;
	}
	if (vm->tpm_state) {
		fputs("sealcheck-probe run: --tpm-state is not offered with --libvirt: libvirt keeps the domain's TPM "
		      "(use --tpm)\n",
		      stderr);
		return EXIT_USAGE;
	}
	r = probe_block_signals();
	if (r < 0) {
		fprintf(stderr, "sealcheck-probe run: blocking signals: %s\n", strerror(-r));
		return PROBE_NO_REPORT;
	}
	r = resolve_files(vm, &f, why, sizeof(why));
	if (r < 0) {
		fputs("sealcheck-probe run: ", stderr);
		sc_term_fput(stderr, why[0] ? why : strerror(-r), strlen(why[0] ? why : strerror(-r)), 0);
		fputc('\n', stderr);
		probe_manifest_done(&vm->manifest);
		return r == -EINVAL ? EXIT_USAGE : PROBE_NO_REPORT;
	}
	if (cli_make_policy("run", &o->policy, "the image's manifest", &vm->manifest.digest, &policy) < 0) {
		probe_manifest_done(&vm->manifest);
		return EXIT_USAGE;
	}

	/* The work directory: the console's socket (QEMU connects to the probe) and its log. */
	{
		const char *base = getenv("XDG_RUNTIME_DIR") ?: "/tmp";

		if (base[0] != '/' || strlen(base) > 60)
			base = "/tmp";
		snprintf(vm->workdir, sizeof(vm->workdir), "%s/sealcheck-probe.XXXXXX", base);
		if (!mkdtemp(vm->workdir)) {
			fprintf(stderr, "sealcheck-probe run: mkdtemp %s: %s\n", vm->workdir, strerror(errno));
			vm->workdir[0] = '\0';
			goto out;
		}
	}
	snprintf(vm->console_sock, sizeof(vm->console_sock), "%s/console.sock", vm->workdir);
	snprintf(vm->console_log, sizeof(vm->console_log), "%s/console.log", vm->workdir);
	r = probe_console_open(&vm->console, vm->console_sock, vm->console_log, PROBE_CONSOLE_LOG_MAX);
	if (r < 0) {
		fprintf(stderr, "sealcheck-probe run: the console socket %s: %s\n", vm->console_sock, strerror(-r));
		goto out;
	}
	if (vm->tpm) {
		/* PCR 11 must be the UKI the host built as sealed (the manifest's), whatever ESP boots. */
		char log[320];
		const char *argv[] = { "mcopy", "-o", "-i", f.sealed_esp, "::/EFI/BOOT/BOOTX64.EFI", vm->uki_path, NULL };

		snprintf(log, sizeof(log), "%s/tools.log", vm->workdir);
		snprintf(vm->uki_path, sizeof(vm->uki_path), "%s/sealed-uki.efi", vm->workdir);
		if (probe_spawn_wait(argv, log, PROBE_HELPER_TIMEOUT_MS) < 0) {
			fprintf(stderr, "sealcheck-probe run: copying the UKI out of the sealed ESP (mcopy) failed\n");
			goto out;
		}
		if (cli_tpm_prepare("run", vm->keys_used, NULL, 0, vm->uki_path, NULL, &policy, &tpm) < 0) {
			rc = EXIT_USAGE;
			goto out;
		}
		a.expect_evidence = true;
	}

	/* KVM where it really works (the same test run makes), else TCG. */
	if (strcmp(vm->accel, "tcg") != 0) {
		if (probe_kvm_usable(kvm_why, sizeof(kvm_why)) == 0)
			spec.kvm = true;
		else if (strcmp(vm->accel, "kvm") == 0) {
			fputs("sealcheck-probe run: KVM requested but unusable: ", stderr);
			sc_term_fput(stderr, kvm_why, strlen(kvm_why), 0);
			fputc('\n', stderr);
			goto out;
		}
	}
	if (domain_name(f.dir, name, sizeof(name)) < 0) {
		fprintf(stderr, "sealcheck-probe run: getrandom: %s\n", strerror(errno));
		goto out;
	}
	spec.name = name;
	spec.loader = f.loader;
	spec.secure = f.secure;
	spec.nvram_template = f.vars;
	spec.esp = f.esp;
	spec.root = f.root;
	spec.console_socket = vm->console_sock;
	spec.tpm = vm->tpm;
	spec.uid = (unsigned)getuid();
	spec.gid = (unsigned)getgid();
	spec.metadata_image = f.dir;
	/* libvirt on the probe's loop. */
	r = sd_event_new(&e);
	if (r >= 0)
		r = probe_libvirt_event_init(e);
	if (r >= 0)
		r = probe_libvirt_new(e, uri, SC_VIRTIO_PORT_DEFAULT, &ops, &ctx, &lv);
	if (r < 0) {
		fprintf(stderr, "sealcheck-probe run: setting up libvirt's events: %s\n", strerror(-r));
		goto out;
	}
	ctx.event = e;
	if (!probe_libvirt_conn(lv)) {
		const char *m = probe_libvirt_last_error(lv);

		fputs("sealcheck-probe run: connecting to ", stderr);
		sc_term_fput(stderr, uri, strlen(uri), 0);
		fputs(": ", stderr);
		sc_term_fput(stderr, m, strlen(m), 0);
		fputc('\n', stderr);
		goto out;
	}
	/* KVM first where it looks usable; a KVM start that fails or stays silent falls back to TCG, as run does. */
	for (;;) {
		r = start_domain(probe_libvirt_conn(lv), &spec, vm, &dom, kvm_why, sizeof(kvm_why));
		if (r >= 0 || !spec.kvm || strcmp(vm->accel, "kvm") == 0)
			break;
		spec.kvm = false;
		probe_console_reset(&vm->console);
	}
	if (r < 0) {
		if (spec.kvm) {
			fputs("sealcheck-probe run: KVM requested but ", stderr);
			sc_term_fput(stderr, kvm_why, strlen(kvm_why), 0);
			fputc('\n', stderr);
		}
		rc = r == -EINVAL ? EXIT_USAGE : PROBE_NO_REPORT;
		goto out;
	}
	started = true;
	if (vm->tpm && libvirt_tpm_trust(vm, ek_ca_file, &tpm, ek_ca, sizeof(ek_ca)) < 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	snprintf(vm->accel_used, sizeof(vm->accel_used), "%s%s%s%s (libvirt %s)", spec.kvm ? "kvm" : "tcg",
		 kvm_why[0] ? " (kvm unusable: " : "", kvm_why, kvm_why[0] ? ")" : "", uri);
	r = probe_libvirt_channel(dom, SC_VIRTIO_PORT_DEFAULT, &ch, why, sizeof(why));
	if (r != 1) {
		fputs("sealcheck-probe run: the started domain's attestation channel: ", stderr);
		sc_term_fput(stderr, r == 0 ? "none in its live XML" : why, strlen(r == 0 ? "none in its live XML" : why), 0);
		fputc('\n', stderr);
		goto out;
	}
	snprintf(vm->socket_path, sizeof(vm->socket_path), "%s", ch.path);
	/* QEMU's exit, seen through a pidfd, as run has for its own QEMU. */
	vm->pid = qemu_pid(uri, name);
	if (vm->pid > 0) {
		vm->pidfd = (int)syscall(SYS_pidfd_open, vm->pid, 0);
		if (vm->pidfd < 0)
			vm->pidfd = -1;
	}

	if (!o->json) {
		fputs("VM:      ", stdout);
		sc_term_fput(stdout, f.dir, strlen(f.dir), 0);
		printf(", firmware %s, accel ", probe_firmware_name(vm->firmware));
		sc_term_fput(stdout, vm->accel_used, strlen(vm->accel_used), 0);
		fputc('\n', stdout);
		printf("Domain:  %s (uuid ", name);
		{
			char uuid[VIR_UUID_STRING_BUFLEN] = "?";

			(void)virDomainGetUUIDString(dom, uuid);
			printf("%s), channel ", uuid);
		}
		sc_term_fput(stdout, ch.path, strlen(ch.path), 0);
		fputc('\n', stdout);
	} else
		fprintf(stderr, "sealcheck-probe run: libvirt domain %s\n", name); /* stdout is the JSON document alone */
	fflush(stdout);

	a.socket_path = vm->socket_path;
	a.deadline_ms = sc_now_ms() + (long long)o->timeout * 1000;
	/* The console and QEMU's exit need QEMU's pid; without it the session alone decides. */
	a.vm = vm->pidfd >= 0 ? vm : NULL;
	a.progress = run_progress;
	a.userdata = &ctx;
	a.credential = cli_tpm_credential_config(&tpm);
	r = probe_attest_run(&a);
	tpm.x.credential = &a.session.credential; /* how the credential phase went */
	if (ctx.tty)
		fputs("\r\033[K", stderr);
	if (r < 0)
		fprintf(stderr, "sealcheck-probe run: setting up the event loop: %s\n", strerror(-r));
	else
		rc = cli_finish(&a, &policy, o->json, vm, vm->tpm ? &tpm.x : NULL);
	probe_attest_done(&a);

out:
	if (dom) {
		if (started && vm->keep)
			fprintf(stderr,
				"sealcheck-probe: VM left running as libvirt domain %s, work directory %s (virsh -c %s destroy %s; "
				"virsh -c %s undefine --nvram%s %s)\n",
				name, vm->workdir, uri, name, uri, vm->tpm ? " --tpm" : "", name);
		else if (undefine(dom, vm, name, true) < 0) {
			/*
			 * The connection may have died under us (libvirtd restarted, which
			 * also stops an autodestroy domain): a fresh one finds the domain by
			 * its UUID to undefine it. Otherwise say what failed.
			 */
			char uuid[VIR_UUID_STRING_BUFLEN];
			virConnectPtr c = NULL;
			virDomainPtr again = NULL;

			if (virConnectIsAlive(virDomainGetConnect(dom)) == 1 || virDomainGetUUIDString(dom, uuid) < 0)
				(void)undefine(dom, vm, name, false);
			else if ((c = reopen(uri)) && (again = virDomainLookupByUUIDString(c, uuid))) {
				(void)undefine(again, vm, name, false);
				virDomainFree(again);
			} else
				say_libvirt("reconnecting to undefine the domain", name);
			if (c)
				virConnectClose(c);
		}
		virDomainFree(dom);
	}
	lv = probe_libvirt_free(lv);
	probe_libvirt_event_flush();
	probe_console_close(&vm->console);
	if (vm->pidfd >= 0)
		close(TAKE_FD(vm->pidfd));
	if (!vm->keep)
		remove_workdir(vm->workdir, vm);
	probe_manifest_done(&vm->manifest);
	return rc;
}
