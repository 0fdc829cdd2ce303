/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fleet's socket-dir source: each NAME.sock in a folder is a VM named NAME. */
#pragma once

#include "probe-fleet.h"

struct probe_fleet_sockdir;

/*
 * probe_fleet_sockdir_new() - every *.sock in @dir is a VM of @f (source
 * PROBE_FLEET_SOCKET_DIR); scanned now and kept in step by inotify
 * (created, deleted, moved in or out: added or removed at once; a queue
 * overflow rescans). A name probe_fleet_name_valid() refuses is said once
 * through @f's log (probe_fleet_log()) and skipped. 0 with *ret, or a
 * negative errno (@dir is not a readable directory). Free it before @f.
 */
int probe_fleet_sockdir_new(struct probe_fleet *f, const char *dir, struct probe_fleet_sockdir **ret);
struct probe_fleet_sockdir *probe_fleet_sockdir_free(struct probe_fleet_sockdir *d);
