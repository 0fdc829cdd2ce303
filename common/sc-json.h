/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * JSON helpers: any byte sequence from the system becomes valid JSON.
 *
 * Bytes that are not part of a valid UTF-8 sequence (and NUL) are written
 * as the six-character text "\xNN", so a report is always valid UTF-8 JSON
 * and the original bytes stay recognisable.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "sc-macro.h"

static inline void sc_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define _cleanup_json_ _cleanup_(sc_json_decrefp)

/* Length of the valid UTF-8 sequence at @s (1-4), or 0 if it is not one. NUL is not valid here. */
size_t sc_utf8_seq_len(const unsigned char *s, size_t avail);

/* True when all @len bytes are valid UTF-8 without NUL. */
bool sc_utf8_valid(const char *s, size_t len);

/* A JSON string of @len bytes, made valid as described above. NULL only on ENOMEM. */
json_t *sc_json_bytes(const char *s, size_t len);

/* The string at @key of object @o: NULL when @o is no object, @key is absent, or its value is no string. */
static inline const char *sc_json_get_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* sc_json_bytes() of a C string; NULL @s gives JSON null. */
json_t *sc_json_str(const char *s);

/* obj[key] = value, taking the reference; -ENOMEM when @value is NULL or the set fails. */
int sc_json_set(json_t *obj, const char *key, json_t *value);

/* A JSON string from UTF-16LE bytes (EFI strings), up to the first NUL; bad units become U+FFFD. */
json_t *sc_json_utf16le(const void *data, size_t len);
