/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "probe-metrics.h"

/*
 * The metrics of a fleet (probe-fleet.h), for `sealcheck-probe watch`:
 * served at @listen (NULL: no server), and written to @textfile (NULL: none)
 * at start and after changes: within a second of a VM's verdict, up or stale
 * changing or of a VM coming or going, and within PROBE_METRICS_TEXTFILE_ROUNDS_S
 * when only round counters moved (so 10,000 VMs do not rewrite the file every
 * second) or nothing did (a heartbeat: the file's mtime says the probe lives). Each VM's digest label is the one its report measured to while its
 * verdict is SEALED (so allowed by the policy), "" otherwise. A textfile that
 * cannot be written is said through the fleet's log (probe_fleet_log()) once per distinct error; the loop goes on.
 * Free it after the fleet (its listener stays registered until the fleet goes).
 * Returns 0 with *ret, or a negative errno (from probe_metrics_server_new()).
 */
#define PROBE_METRICS_TEXTFILE_ROUNDS_S 30
struct probe_fleet;
struct probe_metrics_fleet;
int probe_metrics_fleet_new(struct probe_fleet *f, const char *listen, const char *textfile,
			    struct probe_metrics_fleet **ret);
/* The server's port (0 without a server). */
unsigned probe_metrics_fleet_port(const struct probe_metrics_fleet *m);
/* The policy was (re)loaded now; @ok: or refused, the old one kept (sealcheck_policy_last_reload_*). */
void probe_metrics_fleet_policy_loaded(struct probe_metrics_fleet *m, int ok);
/* The libvirt source is watched and answers (@up 1) or not (0): sealcheck_source_up{source="libvirt"}. */
void probe_metrics_fleet_libvirt_up(struct probe_metrics_fleet *m, int up);
struct probe_metrics_fleet *probe_metrics_fleet_free(struct probe_metrics_fleet *m);
