/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VM's TPM, owned by the host: a swtpm per VM, as bcvk gives every VM.
 *
 * The state directory is created once per VM with swtpm_setup (TPM 2, EK
 * created and certified by a local CA of the probe's own, never the system's
 * /var/lib/swtpm-localca), so the host records the EK before the guest ever
 * runs; every boot then starts `swtpm socket` on that state with its control
 * channel on a socket in the probe's work directory, and QEMU attaches it as
 * a tpm-tis device. swtpm dies with the probe like QEMU does.
 */
#pragma once

#include "probe-tpm-state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROBE_SWTPM_SETUP_TIMEOUT_MS 120000

struct probe_swtpm {
	char state_dir[256]; /* the TPM's state: tpm2-00.permall, the EK certificate, the local CA */
	char ctrl_sock[300]; /* swtpm's control socket, for QEMU's -chardev */
	pid_t pid;
	int pidfd;
};

void probe_swtpm_init(struct probe_swtpm *t);

/*
 * probe_swtpm_prepare() - make sure @state_dir holds a TPM 2 with an EK and
 * its certificate (swtpm_setup, run once per state directory), the
 * certificate's CN "<state directory name>:<fresh uuid>" as libvirt's --vmid
 * makes it, recorded in @state_dir/vmid. Output of the tools goes to @log. Returns 0, or a negative errno with @why.
 */
int probe_swtpm_prepare(struct probe_swtpm *t, const char *state_dir, const char *log, char *why, size_t why_size);

/* Start swtpm on the state, its control socket in @workdir; waits (bounded) for the socket. */
int probe_swtpm_start(struct probe_swtpm *t, const char *workdir, const char *log, bool die_with_parent, char *why,
		      size_t why_size);
void probe_swtpm_stop(struct probe_swtpm *t);

/*
 * probe_swtpm_ak_name() - the Name of the VM's attestation key, derived by
 * the host from the TPM it owns before the guest runs: a swtpm of its own on
 * the state (loopback only), TPM2_CreatePrimary in the endorsement hierarchy
 * with the AK template of common/sc-evidence.h (tpm2-tools), its Name read
 * back. Kept as ak.name in the state directory, so a VM's AK is pinned once.
 * Returns 0 with the Name in @ret (PROBE_TPM_STATE_NAME_MAX bytes at most), or a
 * negative errno with @why. Call before probe_swtpm_start().
 */
int probe_swtpm_ak_name(struct probe_swtpm *t, const char *workdir, const char *log, uint8_t *ret, size_t *ret_len,
			char *why, size_t why_size);
