/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fleet's libvirt source: built only with libvirt (meson option libvirt). */
#pragma once

#include <stdbool.h>

#include "probe-fleet.h"
#include "probe-libvirt-watch.h"
#include "probe-libvirt.h"

struct probe_fleet_libvirt;

/* The source became reachable (@up) or unreachable (@why, unescaped: names and paths from outside may be in it). */
typedef void (*probe_fleet_libvirt_reachable_t)(struct probe_fleet_libvirt *s, bool up, const char *why,
						 void *userdata);

/*
 * probe_fleet_libvirt_new() - `watch --libvirt [URI]`: every domain with the
 * channel on @uri (NULL: qemu:///system) a VM of @f (source libvirt, named by
 * its domain name, with its UUID), added on start with its new socket path
 * and removed when it stops. Discovery runs in a child process
 * (probe-libvirt-watch.h): @f's loop never waits on libvirt. While libvirt is
 * unreachable its VMs known stay in @f (their rounds go to QEMU's sockets);
 * the next listing that succeeds reconciles them. What goes wrong is said
 * through @f's log (probe_fleet_log()); @cb (may be NULL) is called on each
 * change of reachability. libvirt's events must not be bound in this process
 * (probe_libvirt_event_init()): -EBUSY. 0 with *ret, or a negative errno.
 * Free it before @f.
 */
int probe_fleet_libvirt_new(struct probe_fleet *f, const char *uri, probe_fleet_libvirt_reachable_t cb,
			    void *userdata, struct probe_fleet_libvirt **ret);
struct probe_fleet_libvirt *probe_fleet_libvirt_free(struct probe_fleet_libvirt *s);
/* True while the source's last listing stands (false before the first one and while unreachable). */
bool probe_fleet_libvirt_reachable(const struct probe_fleet_libvirt *s);
