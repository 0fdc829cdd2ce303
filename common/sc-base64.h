/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Base64 (RFC 4648 section 4: the standard alphabet, padded), as the TPM
 * evidence carries its binary fields (docs/evidence.md): the agent encodes,
 * the probe decodes strictly.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * sc_base64_encode() - @len bytes of @data as base64, malloc'd and
 * NUL-terminated, in *@ret (the caller frees it); *@ret_len (if not NULL) its
 * length. Returns 0, -ENOMEM, or -EOVERFLOW when the encoding's size does not
 * fit a size_t.
 */
int sc_base64_encode(const void *data, size_t len, char **ret, size_t *ret_len);

/*
 * sc_base64_decode() - the NUL-terminated @s decoded, malloc'd, in *@ret and
 * *@ret_len. Strict: only the RFC 4648 alphabet, the length a multiple of 4,
 * "=" only as the last one or two characters, padding bits zero (the
 * canonical form, RFC 4648 section 3.5), no whitespace or line breaks. At most
 * @max decoded bytes, checked before anything is allocated. Returns 0,
 * -EBADMSG (not such base64), -EMSGSIZE (more than @max) or -ENOMEM; *@ret is
 * written only on success (an empty @s gives a non-NULL buffer of length 0).
 */
int sc_base64_decode(const char *s, size_t max, uint8_t **ret, size_t *ret_len);
