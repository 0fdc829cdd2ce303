/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Boot Loader Specification type #1 entry (uapi-group specifications,
 * specs/boot_loader_specification.md) as bootc writes one for a UKI
 * (bootc crates/lib/src/bootc_composefs/boot.rs write_systemd_uki_config):
 * `title`, `version`, `sort-key` and the UKI under `efi` (systemd-boot < 258)
 * or `uki` (>= 258). Read from the ESP of a disk the user hands the probe.
 */
#pragma once

#include <stddef.h>

#define PROBE_BLS_ENTRY_MAX 16384u
#define PROBE_BLS_PATH_MAX 255u

struct probe_bls_entry {
	char efi[PROBE_BLS_PATH_MAX + 1]; /* "/EFI/Linux/bootc/bootc_composefs-<digest>.efi" */
	char title[128];                  /* printable ASCII only; empty if none */
	char sort_key[64];
};

/*
 * probe_bls_entry_parse() - @text (@len bytes, at most PROBE_BLS_ENTRY_MAX).
 * Lines are "key value" ('#' starts a comment line); unknown keys are
 * ignored, as the specification says. Refused with -EBADMSG and @why: NUL
 * bytes, no `efi`/`uki` or both or either twice, a path that is not absolute
 * or has an empty, "." or ".." component or a byte outside [A-Za-z0-9._+-/],
 * and the keys this chain cannot be judged with: `linux`/`initrd` (a kernel
 * entry, not a UKI), `options` (extra kernel arguments for the UKI), `profile`
 * and `uki-url`.
 */
int probe_bls_entry_parse(const char *text, size_t len, struct probe_bls_entry *ret, char *why, size_t why_size);
