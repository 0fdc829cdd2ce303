/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fleet's libvirt source: built only with libvirt (meson option libvirt). */
#pragma once

#include "probe-fleet.h"
#include "probe-libvirt.h"

/*
 * probe_fleet_libvirt_new() - `watch --libvirt [URI]`: every domain with the
 * channel on @uri (NULL: qemu:///system) a VM of @f (source libvirt, named by
 * its domain name, with its UUID), added on start with its new socket path
 * and removed when it stops; what goes wrong is said through @f's log
 * (probe_fleet_log()). probe_libvirt_event_init() is called for @f's loop.
 * 0 with *ret, or a negative errno.
 */
int probe_fleet_libvirt_new(struct probe_fleet *f, const char *uri, struct probe_libvirt **ret);
