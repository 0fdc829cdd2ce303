/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The GUID Partition Table of a disk image a user hands the probe (UEFI 2.10
 * section 5.3): the primary header at LBA 1, its entry array, both CRC32s
 * checked, and the one EFI System Partition the firmware boots from. The
 * bytes are the user's file, read by QEMU's own image reader (probe-disk.h);
 * every field is bounded before use.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROBE_GPT_SECTOR 512u
#define PROBE_GPT_HEAD_MAX (1u << 20) /* the header and its entries must lie in the first MiB */

struct probe_gpt_part {
	uint64_t first_lba, last_lba; /* inclusive, in 512-byte sectors */
	unsigned index;               /* 1-based, as partition numbers are said */
	bool has_xbootldr;            /* the GPT also has an XBOOTLDR partition (systemd-boot reads entries there) */
};

/*
 * probe_gpt_find_esp() - from @head (the disk's first @len bytes, 512-byte
 * sectors), the GPT's one partition of type EFI System
 * (C12A7328-F81F-11D2-BA4B-00A0C93EC93B) within @disk_size bytes. 0, or
 * -EBADMSG (no valid GPT: signature, revision, header size, either CRC32,
 * entry size or count, entries outside the first MiB, a partition outside
 * the disk or with first > last), -ENOENT (no ESP), -ENOTUNIQ (more than one:
 * which one a firmware boots is its boot order, not ours to guess), each with
 * @why.
 */
int probe_gpt_find_esp(const uint8_t *head, size_t len, uint64_t disk_size, struct probe_gpt_part *ret, char *why,
		       size_t why_size);

/*
 * probe_gpt_event_data() - the UEFI_GPT_DATA the firmware measures into PCR 5
 * for this disk (TCG PC Client PFP EV_EFI_GPT_EVENT; edk2
 * SecurityPkg/Library/DxeTpm2MeasureBootLib Tcg2MeasureGptTable(), packed):
 * the 92-byte header, the number of used entries as a UINT64, then each entry
 * whose type GUID is not zero, in order. @head as probe_gpt_find_esp()
 * accepted it. malloc'd into *ret; 0, -EBADMSG or -ENOMEM.
 */
int probe_gpt_event_data(const uint8_t *head, size_t len, uint8_t **ret, size_t *ret_len);

/* CRC-32 (IEEE 802.3, reflected, as UEFI's CalculateCrc32). */
uint32_t probe_crc32(const uint8_t *p, size_t n);
