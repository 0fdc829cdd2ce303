/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Domain discovery off the caller's loop (`watch --libvirt`, docs/libvirt.md).
 *
 * libvirt's client API is synchronous: virConnectOpen, virConnectListAllDomains
 * and virDomainGetXMLDesc each wait for libvirtd's answer, and keepalive
 * (src/rpc/virkeepalive.c) only ends a call when the peer stops answering its
 * pings, not when it answers pings and nothing else; and it is armed only once
 * the open has returned. So every libvirt call of discovery runs in a child
 * process (fork, no exec) with libvirt's events on an sd-event loop of its own
 * (probe_libvirt_event_init() there: the caller's process must never have
 * bound libvirt's events), one connection per child (probe-libvirt.h's
 * discovery with closed() set: nothing retried inside). The child sends what
 * it finds over a SOCK_SEQPACKET socket (fixed-size records, checked by the
 * parent), and a sign of life at least once a second while it is not inside a
 * libvirt call (and one per domain during a listing).
 *
 * The parent, on the caller's loop, never calls libvirt and never waits:
 *  - no word from the child for @call_timeout_ms (an open, a listing or an XML
 *    read that has not finished) or the child failing or exiting: the source is
 *    unreachable (said once through log() and reachable(false)), the child is
 *    killed (SIGKILL through a pidfd, reaped from the loop when it has gone), and
 *    a new one started after a backoff (1 s doubling to 30 s; at once after a
 *    connection that had listed closed, as a libvirtd restart does);
 *  - the VMs already announced stay while the source is unreachable (their
 *    sessions go to QEMU's sockets, not through libvirtd): when a new child's
 *    first listing succeeds they are reconciled, those no longer running or
 *    without the channel removed (PROBE_LIBVIRT_GONE_RECONCILED), new ones added,
 *    and the source is reachable again (reachable(true));
 *  - a domain the child sees stop, crash, be undefined, lose its channel or
 *    restart at a new socket path is removed at once (PROBE_LIBVIRT_GONE_STOPPED;
 *    after a restart added again with its new path).
 * The child dies with the parent (PR_SET_PDEATHSIG) and is killed by
 * probe_libvirt_watch_free(), which waits at most a second for it.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#define PROBE_LIBVIRT_CALL_TIMEOUT_MS 10000 /* a libvirt call of discovery that takes longer: unreachable */

struct probe_libvirt_watch;

/* Why a domain announced before is no longer watched. */
enum probe_libvirt_gone {
	PROBE_LIBVIRT_GONE_STOPPED = 0, /* its owner stopped, destroyed or undefined it, it crashed, lost the channel,
					   or it restarted (then added again with its new socket path) */
	PROBE_LIBVIRT_GONE_RECONCILED,	/* not in the first listing after the source was unreachable */
};

struct probe_libvirt_watch_ops {
	/* A running domain with the channel, or one whose socket path or TPM changed. */
	void (*added)(struct probe_libvirt_watch *w, const char *name, const char *uuid, const char *socket_path,
		      bool tpm, void *userdata);
	void (*removed)(struct probe_libvirt_watch *w, const char *name, const char *uuid, enum probe_libvirt_gone why,
			void *userdata);
	/* Something the operator may want to know (unescaped: the caller escapes it). May be NULL. */
	void (*log)(struct probe_libvirt_watch *w, const char *msg, void *userdata);
	/* The source became reachable (a listing succeeded) or unreachable (@why, unescaped). May be NULL. */
	void (*reachable)(struct probe_libvirt_watch *w, bool up, const char *why, void *userdata);
};

/*
 * probe_libvirt_watch_new() - discover the domains of @uri (NULL:
 * qemu:///system) that have the port @port, from a child process, reporting
 * on @e. @call_timeout_ms 0: PROBE_LIBVIRT_CALL_TIMEOUT_MS. Returns 0 with
 * *ret (the first child started), -EBUSY when libvirt's events are already
 * bound to a loop in this process (probe_libvirt_event_init()), or another
 * negative errno.
 */
int probe_libvirt_watch_new(sd_event *e, const char *uri, const char *port, unsigned call_timeout_ms,
			    const struct probe_libvirt_watch_ops *ops, void *userdata, struct probe_libvirt_watch **ret);
struct probe_libvirt_watch *probe_libvirt_watch_free(struct probe_libvirt_watch *w);
/* True while the last listing stands (since it succeeded, no failure, close or missed deadline). */
bool probe_libvirt_watch_reachable(const struct probe_libvirt_watch *w);
/* The child's process id, 0 when none runs (for tests). */
int probe_libvirt_watch_pid(const struct probe_libvirt_watch *w);
