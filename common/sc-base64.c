/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RFC 4648 base64 (sc-base64.h). The decoder's rules are the probe's evidence reader's, which it replaces. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sc-base64.h"
#include "sc-macro.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sc_base64_encode(const void *data, size_t len, char **ret, size_t *ret_len)
{
	const uint8_t *p = data;
	size_t groups = len / 3 + (len % 3 != 0), n, o = 0;
	char *out;

	if (groups > (SIZE_MAX - 1) / 4)
		return -EOVERFLOW;
	n = 4 * groups;
	out = malloc(n + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i += 3) {
		size_t left = len - i;
		uint32_t w = (uint32_t)p[i] << 16 | (left > 1 ? (uint32_t)p[i + 1] << 8 : 0) | (left > 2 ? p[i + 2] : 0);

		out[o++] = alphabet[w >> 18 & 63];
		out[o++] = alphabet[w >> 12 & 63];
		out[o++] = left > 1 ? alphabet[w >> 6 & 63] : '=';
		out[o++] = left > 2 ? alphabet[w & 63] : '=';
	}
	out[o] = '\0';
	*ret = out;
	if (ret_len)
		*ret_len = n;
	return 0;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int sc_base64_decode(const char *s, size_t max, uint8_t **ret, size_t *ret_len)
{
	size_t n = strlen(s), pad = 0, out_len, o = 0;
	_cleanup_free_ uint8_t *out = NULL;

	if (n % 4 != 0)
		return -EBADMSG;
	if (n && s[n - 1] == '=')
		pad = n >= 2 && s[n - 2] == '=' ? 2 : 1;
	out_len = n / 4 * 3 - pad;
	if (out_len > max)
		return -EMSGSIZE;
	out = malloc(out_len ? out_len : 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		uint32_t w;

		for (int k = 0; k < 4; k++) {
			bool padding = s[i + k] == '=' && i + 4 == n && k >= 4 - (int)pad;

			v[k] = padding ? 0 : b64_value((unsigned char)s[i + k]);
			if (v[k] < 0)
				return -EBADMSG;
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		for (int k = 0; k < 3 && o < out_len; k++)
			out[o++] = (uint8_t)(w >> (16 - 8 * k));
		/* Padding must encode zero bits (canonical form). */
		if (i + 4 == n && pad && (w & (pad == 2 ? 0xffffu : 0xffu)) != 0)
			return -EBADMSG;
	}
	*ret = TAKE_PTR(out);
	*ret_len = out_len;
	return 0;
}
