/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The overlayfs xattrs a composefs image carries on each file whose content
 * lives in the object store (kernel struct ovl_metacopy; composefs-rs
 * crates/composefs/src/erofs/composefs.rs):
 *   trusted.overlay.metacopy = {version 0, len, flags 0, digest_algo, digest[N]}
 *   trusted.overlay.redirect = "/XX/<rest>"  (path in the data-only layer)
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sc-digest.h"

#define SC_XATTR_METACOPY "trusted.overlay.metacopy"
#define SC_XATTR_REDIRECT "trusted.overlay.redirect"
#define SC_METACOPY_MAX (4 + SC_DIGEST_MAX)
#define SC_REDIRECT_MAX 512

/*
 * sc_metacopy_parse() - the digest a metacopy value names.
 * Returns 0, -ENODATA for an empty value ("no digest": under verity=require
 * such a file fails with EIO), or -EBADMSG (version, length, flags or
 * algorithm that do not fit, or a digest size that is not the algorithm's).
 */
int sc_metacopy_parse(const uint8_t *v, size_t len, struct sc_digest *ret);

/*
 * sc_redirect_parse() - the object's path relative to the object store.
 * Accepts "/XX/<rest>" forms: one leading '/', no "." or ".." components, no
 * empty components, no NUL. Writes a NUL-terminated relative path into @out.
 * Returns 0 or -EBADMSG (-ENAMETOOLONG when it does not fit in @out_size).
 */
int sc_redirect_parse(const char *v, size_t len, char *out, size_t out_size);
