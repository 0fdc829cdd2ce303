/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dm-verity sealed roots (systemd style roothash=/usrhash=): is the device
 * an active dm-verity target, and what root hash does the kernel enforce?
 * sysfs tells device-mapper and the target kind; libcryptsetup reads the
 * root hash from the live device-mapper table.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "sc-fileio.h"

struct sc_dmverity_info {
	char name[128];             /* device-mapper name, "" if unknown */
	unsigned char root_hash[64];
	size_t root_hash_len;
	char why[128];              /* detail on error */
};

/*
 * sc_dmverity_query() - look up block device @dev.
 * Returns 0 with the root hash, or
 *   -ENOTBLK     not a device-mapper device;
 *   -ENODEV      device-mapper, but not a dm-verity target;
 *   -EOPNOTSUPP  cannot be asked here (fixture tree, or built without libcryptsetup);
 *   other negative errno values from libcryptsetup.
 * ret->name is filled whenever it is known.
 */
int sc_dmverity_query(const struct sc_paths *paths, dev_t dev, struct sc_dmverity_info *ret);

/* Load libcryptsetup (dlopen, once). Returns 0, or -EOPNOTSUPP with @why saying what is missing. */
int sc_dmverity_load(char *why, size_t why_size);
