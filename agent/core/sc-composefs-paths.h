/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where a composefs image and its object store are: a composefs-rs repository
 * as bootc keeps it (SYSROOT/composefs/images/HEX, SYSROOT/composefs/objects),
 * below the (redirectable) root. docs/report.md names these paths.
 */
#pragma once

#include "sc-digest.h"
#include "sc-fileio.h"

/*
 * sc_composefs_paths() - the image file and object store of digest @d in the
 * composefs repository under the (redirectable) sysroot. Returns 0 or -ENOMEM.
 */
int sc_composefs_paths(const struct sc_paths *paths, const struct sc_digest *d, char **ret_image, char **ret_objects);
