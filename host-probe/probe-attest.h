/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One attestation, end to end on one event loop: the session over the
 * guest's socket, and for a VM the probe booted, its console and its QEMU
 * process; SIGTERM, SIGINT and SIGHUP end it early. `run` and `attest` are
 * thin front ends over this; the verdict is probe-verdict.h's.
 *
 * The caller blocks SIGTERM, SIGINT and SIGHUP before it starts anything
 * (probe_block_signals()), so a signal that comes while QEMU starts is not
 * lost but ends the loop as soon as it runs, and cleanup always happens.
 */
#pragma once

#include <signal.h>
#include <systemd/sd-event.h>

#include "probe-session.h"
#include "probe-vm.h"

struct probe_attest {
	/* in */
	const char *socket_path;
	sd_event *event; /* the loop to run on (it goes on after), or NULL: one of its own */
	long long deadline_ms;
	struct probe_vm *vm; /* NULL: a VM the probe does not own */
	bool expect_evidence; /* the VM has a TPM: wait for the report's evidence frame */
	const struct probe_credential_config *credential; /* no AK pinned: bind it to the EK (probe-credential.h), or NULL */
	void (*progress)(const struct probe_attest *a, long long now_ms, void *userdata); /* every second */
	void *userdata;
	/* out */
	struct probe_session session;
	long long started_ms;
	int signal;          /* the signal that ended it, or 0 */
};

/* Block the signals the loop handles. Returns 0 or -errno. */
int probe_block_signals(void);

/* Returns 0 (the session's end says how it went), or a negative errno when the loop could not be set up. */
int probe_attest_run(struct probe_attest *a);
void probe_attest_done(struct probe_attest *a);
