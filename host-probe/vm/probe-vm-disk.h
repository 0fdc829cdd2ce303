/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A sealed bootc disk the user hands the probe (`run --disk`), raw or qcow2,
 * read without being written or handed to anything that probes its format:
 * QEMU's `qemu-img dd` with the format named copies the first MiB (and, for
 * a qcow2, the EFI System Partition) into the work directory (probe-gpt.h
 * finds it; a raw disk's ESP is read in place); mtools lists and reads the
 * ESP's files: the boot loader the firmware starts from the removable-media
 * path (EFI/BOOT/BOOTX64.EFI, which must be systemd-boot), systemd-boot's
 * one type #1 entry (probe-bls.h; no type #2 UKI in EFI/Linux/, no XBOOTLDR)
 * and the UKI it names.
 *
 * What the host then expects comes from those files only once their
 * signatures are verified against the key directory's db (Authenticode with
 * OpenSSL, probe_boot_chain_add()): the composefs digest of the UKI's
 * .cmdline, and the boot chain PCR 4 and PCR 7 must show.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "probe-bls.h"
#include "probe-evidence.h"
#include "probe-gpt.h"
#include "sc-digest.h"

#define PROBE_DISK_ESP_MAX (2ull << 30)

struct probe_vm_disk {
	char format[8];              /* "raw" or "qcow2", from the file's first bytes */
	uint64_t size;               /* the disk's virtual size */
	struct probe_gpt_part esp;
	char entry_name[256];        /* loader/entries/NAME.conf */
	struct probe_bls_entry entry;
	char bootloader[320];        /* copies in the work directory */
	char bootloader_version[48]; /* after probe_vm_disk_verify(): systemd-boot's, from its .sdmagic */
	char uki[320];
	/* After probe_vm_disk_verify(): */
	bool chain_signed;           /* both signed by a certificate of the key directory's db */
	char chain_why[600];         /* !chain_signed: which one and why */
	struct sc_digest digest;     /* the UKI's composefs digest (SC_HASH_NONE: none it names) */
	bool insecure;               /* its .cmdline marks the digest optional ("composefs=?") */
	struct probe_pcr5_expect pcr5; /* the disk's GPT as the firmware measures it, the ESP's loader.conf */
};

/* Copy out and parse: 0, or -errno with @why naming @disk and the problem. */
int probe_vm_disk_read(const char *disk, const char *workdir, const char *log, struct probe_vm_disk *ret, char *why,
		       size_t why_size);

/*
 * probe_vm_disk_verify() - the signatures of the boot loader and the UKI
 * against @keys' db (chain_signed, chain_why), then the UKI's .cmdline
 * (digest, insecure). 0, or -errno with @why when the key directory or a
 * file cannot be read at all.
 */
int probe_vm_disk_verify(struct probe_vm_disk *d, const char *keys, char *why, size_t why_size);
