/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fleet's socket-dir source: each NAME.sock in a folder is a VM named NAME. */
#pragma once

#include "probe-fleet.h"

struct probe_fleet_sockdir;

/*
 * probe_fleet_sockdir_new() - every *.sock in @dir is a VM of @f (source
 * PROBE_FLEET_SOCKET_DIR); scanned now and kept in step by inotify
 * (created, deleted, moved in or out: added or removed at once; a queue
 * overflow rescans). Only a UNIX socket that is an entry of @dir itself is
 * a VM (never a symlink), and each VM's rounds connect to that very socket
 * (probe_fleet_pin_vm_socket()); another file renamed or made over it
 * removes the VM (a new socket is a new VM). @dir removed, moved away or
 * replaced removes its VMs; its path is looked at every second and, once a
 * directory is there again, watched and read anew. A directory adds and
 * removes only its own VMs (DIR/NAME.sock exactly: a nested --socket-dir
 * keeps its own); a name another directory or source holds is refused. A
 * name probe_fleet_name_valid() refuses is said once through @f's log
 * (probe_fleet_log()) and skipped. 0 with *ret, or a negative errno (@dir
 * is not a readable directory). Free it before @f.
 */
int probe_fleet_sockdir_new(struct probe_fleet *f, const char *dir, struct probe_fleet_sockdir **ret);
/*
 * probe_fleet_sockdir_rescan() - read DIR again now (watch's SIGHUP): its own
 * VMs are its sockets afterwards, each checked as at an event; said through
 * @f's log. Nothing while DIR is gone (it is read when it comes back).
 * Returns 0 or a negative errno.
 */
int probe_fleet_sockdir_rescan(struct probe_fleet_sockdir *d);
struct probe_fleet_sockdir *probe_fleet_sockdir_free(struct probe_fleet_sockdir *d);
