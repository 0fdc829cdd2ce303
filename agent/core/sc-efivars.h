/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * EFI variables from efivarfs, below the (redirectable) root.
 *
 * We read the files ourselves rather than through efi_get_variable():
 * libefivar chooses its backend once, in a library constructor, from
 * EFIVARFS_PATH, so it cannot follow --root; and it reads without a size cap
 * or EINTR retry. libefivar still provides the well-known GUIDs and their
 * formatting.
 */
#pragma once

#include <efivar/efivar.h>
#include <stddef.h>
#include <stdint.h>

#include "sc-fileio.h"

#define SC_EFIVARS_DIR "/sys/firmware/efi/efivars"

/*
 * sc_efivar_read() - read variable @name of vendor @guid.
 * Returns 0 with the attribute word and a malloc'd copy of the data, or
 *   -ENOENT   the variable does not exist, or is uncommitted (size 0);
 *   -EBADMSG  the file is shorter than the 4-byte attribute word;
 *   -EFBIG    larger than SC_EFIVAR_MAX;
 *   -EINTR    still interrupted after SC_READ_EINTR_RETRIES reads;
 *   other negative errno values from open/read.
 */
int sc_efivar_read(const struct sc_paths *paths, const efi_guid_t *guid, const char *name, uint32_t *ret_attr,
		   uint8_t **ret_data, size_t *ret_size);

/*
 * sc_efivar_read_bool() - a one-byte boolean variable (SecureBoot, SetupMode...).
 * Returns 0 with *ret 0 or 1, -ENOENT when absent, -EBADMSG when the data is
 * not exactly one byte of 0 or 1 (malformed: never read as "enabled").
 */
int sc_efivar_read_bool(const struct sc_paths *paths, const efi_guid_t *guid, const char *name, int *ret);

/* "8be4df61-93ca-11d2-aa0d-00e098032b8c" into @buf (37 bytes). */
char *sc_guid_format(const void *guid16, char buf[static 37]);
