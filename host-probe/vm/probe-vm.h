/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One VM booted by the probe under QEMU from a sealed image directory.
 *
 * The guest is contained (docs/threat-model.md): QEMU starts with
 * -nodefaults and no network, only the boot's own devices (firmware flash,
 * the ESP read-only, the root as a throw-away snapshot, the attestation port
 * and the serial console), under QEMU's seccomp sandbox; every file it is
 * given is a plain name inside the image directory or the probe's own work
 * directory, with commas escaped. The console reaches the probe through a
 * socket (probe-console.h). QEMU dies with the probe (parent-death signal).
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "config.h" /* SC_VIRTIO_PORT_DEFAULT: the port name, defined once in meson.build */
#include "probe-console.h"
#include "probe-manifest.h"
#include "probe-swtpm.h"
#include "probe-vm-disk.h"

#define PROBE_HELPER_TIMEOUT_MS 60000 /* virt-fw-vars, mcopy */

enum probe_firmware {
	PROBE_FW_UEFI_SECURE = 0, /* OVMF secboot code + an enrolled variable store */
	PROBE_FW_UEFI_INSECURE,   /* OVMF without Secure Boot */
	PROBE_FW_UEFI_SETUP,      /* OVMF secboot code + an empty store: setup mode */
	PROBE_FW_BIOS,            /* no UEFI: the UKI's own kernel, initrd and cmdline, booted directly */
};

/* "uefi-secure", ...; returns 0 or -EINVAL. */
int probe_firmware_from_name(const char *name, enum probe_firmware *ret);
const char *probe_firmware_name(enum probe_firmware fw);

struct probe_vm {
	const char *image_dir;  /* the builder's output: manifest.json, root.img, esp*.img, vars.fd */
	const char *disk;       /* --disk: a sealed bootc disk (raw or qcow2, absolute path) instead of image_dir */
	struct probe_vm_disk disk_info; /* --disk: what its ESP holds, verified against keys_dir */
	const char *esp;        /* --esp: a variant of the manifest ("insecure") or a file the operator names */
	const char *keys_dir;   /* --secure-boot-keys: the trust root (default: the image's manifest "keys") */
	enum probe_firmware firmware;
	const char *accel;      /* "auto", "kvm", "tcg" */
	bool keep;              /* --keep: QEMU may outlive the probe, the work directory stays */
	bool tpm;               /* --tpm: a swtpm attached as tpm-tis */
	const char *tpm_state;  /* --tpm-state: the VM's TPM state directory (kept); NULL: one for this run */
	bool tpm_ak_activate;   /* --tpm-ak activate: the guest's AK is bound by credential activation; none derived */
	struct probe_swtpm swtpm;
	uint8_t ak_name[PROBE_TPM_STATE_NAME_MAX]; /* --tpm: the AK the host derived and pins */
	size_t ak_name_len;
	char uki_path[330];     /* --tpm: the sealed UKI the host built (the manifest's ESP), for PCR 11 */
	char keys_used[256];    /* the Secure Boot keys enrolled (PK.crt, KEK.crt, db.crt) */
	struct probe_manifest manifest;
	char workdir[256];      /* vars copy, sockets, console log, UKI parts; removed by probe_vm_done() */
	char socket_path[300];  /* the attestation port's socket (QEMU listens) */
	char console_sock[300]; /* the console's socket (the probe listens, QEMU connects) */
	char console_log[300];
	struct probe_console console;
	pid_t pid;
	int pidfd;              /* readable when QEMU has exited; -1 where pidfds are missing */
	char accel_used[256];   /* "tcg (kvm unusable: ...)" */
};

void probe_vm_init(struct probe_vm *vm);

/*
 * probe_vm_enroll_keys() - a fresh OVMF variable store at @vars with the key
 * directory @keys enrolled (PK, KEK, db with its GUID.txt owner; Secure Boot
 * on) by virt-fw-vars, as bcvk does; the directory checked first as PCR 7's
 * trust root (probe_sb_reference_load(): not writable by others). Every
 * UEFI Secure Boot VM boots such a store, never one that came with an image.
 */
int probe_vm_enroll_keys(const char *keys, const char *vars, const char *log, char *why, size_t why_size);
/*
 * Load the manifest (or read and verify --disk), prepare the work directory
 * and start QEMU. 0, or -errno with @why; -EKEYREJECTED: the disk's boot
 * loader or UKI is not signed by the key directory's db (nothing started).
 */
int probe_vm_start(struct probe_vm *vm, char *why, size_t why_size);
/* Stop QEMU (SIGTERM, then SIGKILL after 3 s). */
void probe_vm_stop(struct probe_vm *vm);
/* True while QEMU runs (reaps it when it has exited). */
bool probe_vm_running(struct probe_vm *vm);
/* Stop QEMU and remove the work directory, unless @keep (then both stay). */
void probe_vm_done(struct probe_vm *vm, bool keep);
/* Can this machine run KVM guests? Runs a real vCPU for a few instructions. 0 yes, else -errno + @why. */
int probe_kvm_usable(char *why, size_t why_size);

/*
 * probe_vm_esp_path() - the ESP @vm boots: --esp as a path (made absolute),
 * a variant of the image's manifest or a plain file name in @image_dir, or
 * the manifest's sealed ESP. Returns 0 with *ret (owned), or a negative
 * errno with @why.
 */
int probe_vm_esp_path(const struct probe_vm *vm, const char *image_dir, char **ret, char *why, size_t why_size);

/*
 * probe_vm_write_section() - the bytes of @pe's section @name to the new file
 * @path (O_CREAT|O_EXCL|O_NOFOLLOW, 0600): the BIOS boot's kernel, initrd and
 * cmdline. The bytes are probe_pe_section_raw()'s, min(VirtualSize,
 * SizeOfRawData), which is what `objcopy -O binary --only-section=NAME`
 * wrote (BFD takes a padded image section's virtual size: binutils'
 * bfd/peicode.h, coff_swap_scnhdr_in). A section the UKI lacks gives an
 * empty file, as objcopy did; one it holds twice is -EBADMSG. 0, or a
 * negative errno with @why.
 */
struct probe_pe;
int probe_vm_write_section(const struct probe_pe *pe, const char *name, const char *path, char *why,
			   size_t why_size);
