/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sc-json.h"

size_t sc_utf8_seq_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	size_t n;
	unsigned cp;

	if (c >= 0x01 && c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0; /* NUL, continuation byte, overlong lead (c0/c1) or > U+10FFFF lead */
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF are invalid. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

bool sc_utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		size_t n = sc_utf8_seq_len(u + i, len - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

json_t *sc_json_bytes(const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	_cleanup_free_ char *buf = NULL;
	size_t o = 0;

	if (sc_utf8_valid(s, len))
		return json_stringn(s, len);
	/* Worst case every byte becomes four characters. */
	if (len > (SIZE_MAX - 1) / 4)
		return NULL;
	buf = malloc(len * 4 + 1);
	if (!buf)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = sc_utf8_seq_len(u + i, len - i);

		if (n > 0) {
			memcpy(buf + o, s + i, n);
			o += n;
			i += n;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[u[i] >> 4];
			buf[o++] = hex[u[i] & 15];
			i++;
		}
	}
	return json_stringn(buf, o);
}

json_t *sc_json_str(const char *s)
{
	return s ? sc_json_bytes(s, strlen(s)) : json_null();
}

int sc_json_set(json_t *obj, const char *key, json_t *value)
{
	if (!value)
		return -ENOMEM;
	return json_object_set_new(obj, key, value) < 0 ? -ENOMEM : 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

json_t *sc_json_utf16le(const void *data, size_t len)
{
	const unsigned char *u = data;
	size_t units = len / 2, o = 0;
	_cleanup_free_ char *buf = NULL;

	/* Each unit gives at most 3 bytes; a surrogate pair (two units) gives 4. */
	if (units > (SIZE_MAX - 1) / 3)
		return NULL;
	buf = malloc(units * 3 + 1);
	if (!buf)
		return NULL;
	for (size_t i = 0; i < units; i++) {
		unsigned cp = (unsigned)u[2 * i] | (unsigned)u[2 * i + 1] << 8;

		if (cp == 0)
			break;
		if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < units) {
			unsigned lo = (unsigned)u[2 * i + 2] | (unsigned)u[2 * i + 3] << 8;

			if (lo >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i++;
			} else
				cp = 0xfffd;
		} else if (cp >= 0xd800 && cp <= 0xdfff)
			cp = 0xfffd;
		o += put_utf8(buf + o, cp);
	}
	return json_stringn(buf, o);
}
