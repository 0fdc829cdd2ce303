/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt on the probe's one sd-event loop (docs/libvirt.md).
 *
 * Events. probe_libvirt_event_init() gives libvirt an event loop
 * implementation (virEventRegisterImpl) whose handles and timeouts are
 * sd-event io and time sources on the caller's loop: no second thread, no
 * virEventRunDefaultImpl. libvirt takes one implementation per process, for
 * good (src/util/virevent.c): `run --libvirt` binds it to its loop, `watch`
 * never does in its own process (probe-libvirt-watch.h binds it in a child). A removed handle's or timeout's free callback runs
 * on a later iteration of the loop, never inside the remove call (libvirt may
 * hold a lock there). libvirt's default error printer is replaced by a silent
 * one: its messages carry domain names and paths, and the probe prints them
 * escaped or not at all.
 *
 * Discovery. A connection (probe_libvirt_new()) with keepalive (5 s, 3
 * missed) and lifecycle events: each running domain whose live XML
 * (virDomainGetXMLDesc) has the attestation channel (probe-domain-xml.h) is
 * announced by added(name, uuid, socket_path), at connect for every active
 * domain and on each start (the socket path changes on every start); on
 * stop, crash or undefine, removed(); a device plugged in or out of a
 * running domain (DEVICE_ADDED/REMOVED events) has its XML read again. When libvirtd goes away (the close
 * callback, or keepalive), the connection is reopened with backoff (1 s
 * doubling to 30 s) and the domains found again: those gone are removed,
 * those new or with a new path added; or, with ops.closed, nothing is retried
 * and closed() says so. A VM is named by its domain name and identified by
 * its UUID. Every call here is a synchronous RPC made on the caller's thread
 * (it waits for libvirtd as long as libvirtd takes): `watch` runs discovery
 * in a child process (probe-libvirt-watch.h), never on its own loop.
 */
#pragma once

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "probe-domain-xml.h"

#define PROBE_LIBVIRT_DEFAULT_URI "qemu:///system"

/*
 * probe_libvirt_event_init() - libvirt's events on @e, for the rest of the
 * process: before any connection is opened. Calling it again with the same
 * loop does nothing. 0, -EBUSY for another loop, or -EIO.
 */
int probe_libvirt_event_init(sd_event *e);
/* Run the free callbacks still pending (after the last connection closed, before the loop goes). */
void probe_libvirt_event_flush(void);
/* True once probe_libvirt_event_init() bound libvirt's events to a loop in this process. */
bool probe_libvirt_event_bound(void);

/* True when @s looks like a libvirt URI ("scheme:..."), for `--libvirt [URI]` as two words. */
bool probe_libvirt_is_uri(const char *s);

struct probe_libvirt;

struct probe_libvirt_ops {
	/* A running domain with the channel, or one whose socket path changed. */
	void (*added)(struct probe_libvirt *l, const char *name, const char *uuid, const char *socket_path, bool tpm,
		      void *userdata);
	/* A domain announced before has stopped, crashed, been undefined or lost its channel. */
	void (*removed)(struct probe_libvirt *l, const char *name, const char *uuid, void *userdata);
	/* Something the operator may want to know (unescaped: the caller escapes it). May be NULL. */
	void (*log)(struct probe_libvirt *l, const char *msg, void *userdata);
	/* A listing of the running domains succeeded (each with the channel was announced by added() before,
	 * those known and gone removed()). May be NULL. */
	void (*listed)(struct probe_libvirt *l, void *userdata);
	/* Between the domains of a listing, one call per domain examined: a sign of life. May be NULL. */
	void (*progress)(struct probe_libvirt *l, void *userdata);
	/*
	 * When set, nothing is retried: a failed connect leaves probe_libvirt_conn() NULL (the error in
	 * probe_libvirt_last_error()), and a connection that closes, or whose listing fails, calls this
	 * (from libvirt's dispatch: @l must not be freed inside). May be NULL: then the connection is
	 * reopened with backoff.
	 */
	void (*closed)(struct probe_libvirt *l, const char *why, void *userdata);
};

/*
 * probe_libvirt_new() - connect to @uri (NULL: qemu:///system) on @e (after
 * probe_libvirt_event_init(e)) and announce the domains that have the port
 * @port. When libvirtd cannot be reached now, the connection is retried with
 * backoff and the failure logged. With neither added nor removed in @ops
 * there is no discovery at all (no events, no listing): the connection only (read-write; with
 * discovery the connection is read-only). Returns 0 with *ret, or a negative errno
 * when nothing could be set up.
 */
int probe_libvirt_new(sd_event *e, const char *uri, const char *port, const struct probe_libvirt_ops *ops,
		      void *userdata, struct probe_libvirt **ret);
struct probe_libvirt *probe_libvirt_free(struct probe_libvirt *l);
/* The open connection, or NULL while there is none. */
virConnectPtr probe_libvirt_conn(struct probe_libvirt *l);
/* The last connection error (libvirt's message), "" when none. */
const char *probe_libvirt_last_error(const struct probe_libvirt *l);

/*
 * probe_libvirt_channel() - the live channel of @dom for @port (its XML
 * read now). Returns as probe_domain_xml_channel(); -EIO with @why when
 * libvirt cannot give the XML.
 */
int probe_libvirt_channel(virDomainPtr dom, const char *port, struct probe_domain_channel *ret, char *why,
			  size_t why_size);
