/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sealcheck-probe: boot a sealed VM, collect a fresh attestation, decide. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "sc-digest.h"

/* The builder's manifest.json maps every guest file to its object: ~200 bytes each. */
#define SC_MANIFEST_MAX (16u << 20)

enum probe_firmware {
	PROBE_FW_UEFI_SECURE = 0, /* OVMF secboot code + an enrolled variable store */
	PROBE_FW_UEFI_INSECURE,   /* OVMF without Secure Boot */
	PROBE_FW_UEFI_SETUP,      /* OVMF secboot code + an empty store: setup mode */
	PROBE_FW_BIOS,            /* no UEFI: the UKI's own kernel, initrd and cmdline, booted directly */
};

struct probe_vm {
	const char *image_dir;   /* the builder's output: manifest.json, root.img, esp*.img, vars.fd */
	const char *esp;         /* ESP image (default: the manifest's sealed one) */
	const char *keys_dir;    /* --secure-boot-keys: enroll these instead of the image's vars.fd */
	enum probe_firmware firmware;
	const char *accel;       /* "auto", "kvm", "tcg" */
	char workdir[256];       /* vars copy, socket, console log */
	char socket_path[300];
	char console_path[300];
	pid_t pid;
	char accel_used[256];    /* "tcg (kvm unusable: ...)" */
};

/* Start QEMU; returns 0 or a negative errno with a message in @why. */
int probe_vm_start(struct probe_vm *vm, char *why, size_t why_size);
/* Stop QEMU (SIGTERM, then SIGKILL after 3 s). */
void probe_vm_stop(struct probe_vm *vm);
/* True while QEMU runs. */
bool probe_vm_running(struct probe_vm *vm);
/* Can this machine run KVM guests? Runs a real vCPU for a few instructions. 0 yes, else -errno + @why. */
int probe_kvm_usable(char *why, size_t why_size);
/* The last @lines lines of the console log, without escape sequences; malloc'd. */
char *probe_console_tail(const char *path, unsigned lines);

struct probe_collect {
	char nonce[65];
	json_t *report;          /* the valid report that echoed our nonce */
	unsigned rejected;       /* frames whose report failed validation */
	unsigned stale;          /* valid reports with another (or no) nonce */
	unsigned bad_frames, oversized;
	char last_reject[256];
	double seconds;          /* from connect to the report */
};

/*
 * probe_collect() - connect to the VM's attestation socket, send a fresh
 * nonce (again every few seconds until answered), and wait until @deadline_ms
 * (sc_now_ms() time) for a valid report that echoes it.
 * Returns 0 with c->report, -ETIMEDOUT, or another negative errno.
 * @alive, if set, is asked whether the guest can still answer.
 */
int probe_collect(const char *socket_path, long long deadline_ms, bool (*alive)(void *), void *userdata,
		  struct probe_collect *c);

struct probe_policy {
	struct sc_digest expect; /* alg SC_HASH_NONE: no digest policy */
	bool require_secure_boot;
};

/* Failed links of the chain: an array of {"link", "reason"}; empty when sealed. */
json_t *probe_policy_check(const struct probe_policy *p, json_t *report);
