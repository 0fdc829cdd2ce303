/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sc-json.h"
#include "sc-macro.h"
#include "sc-term.h"

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

/*
 * U+202A..U+202E (E2 80 AA..AE) and U+2066..U+2069 (E2 81 A6..A9): embeddings,
 * overrides, isolates; U+200E/U+200F (E2 80 8E/8F): the directional marks;
 * U+061C (D8 9C): the Arabic letter mark (with these, every Bidi_Control);
 * U+2028/U+2029 (E2 80 A8/A9): line and paragraph separators, which some
 * terminals and log viewers break lines at.
 */
static bool is_bidi_control(const unsigned char *u, size_t n)
{
	if (n == 2)
		return u[0] == 0xd8 && u[1] == 0x9c;
	if (n != 3 || u[0] != 0xe2)
		return false;
	return (u[1] == 0x80 && ((u[2] >= 0xa8 && u[2] <= 0xae) || u[2] == 0x8e || u[2] == 0x8f)) ||
	       (u[1] == 0x81 && u[2] >= 0xa6 && u[2] <= 0xa9);
}

static size_t put_hex_byte(char *o, unsigned char b)
{
	o[0] = '\\';
	o[1] = 'x';
	o[2] = hex_lower[b >> 4];
	o[3] = hex_lower[b & 15];
	return 4;
}

int sc_term_escape(const char *s, size_t len, unsigned flags, char **ret)
{
	const unsigned char *u = (const unsigned char *)s;
	_cleanup_free_ char *buf = NULL;
	size_t o = 0;

	/* Worst case is 4 output characters per input byte (\xNN; a bidi control is 3 bytes -> 8). */
	if (len > (SIZE_MAX - 1) / 4)
		return -EOVERFLOW;
	buf = malloc(len * 4 + 1);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < len;) {
		unsigned char c = u[i];
		size_t n;

		if (c == '\n' && (flags & SC_TERM_KEEP_NEWLINE)) {
			buf[o++] = '\n';
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			o += put_hex_byte(buf + o, c);
			i++;
			continue;
		}
		n = sc_utf8_seq_len(u + i, len - i); /* 0 for NUL and every invalid or truncated sequence */
		if (n == 0) {
			o += put_hex_byte(buf + o, c);
			i++;
		} else if (n == 2 && c == 0xc2 && u[i + 1] <= 0x9f) {
			/* C1 control (U+0080..U+009F, e.g. CSI U+009B): both bytes shown. */
			o += put_hex_byte(buf + o, u[i]);
			o += put_hex_byte(buf + o, u[i + 1]);
			i += 2;
		} else if (is_bidi_control(u + i, n)) {
			unsigned cp = n == 2 ? (unsigned)(c & 0x1f) << 6 | (u[i + 1] & 0x3f)
					     : (unsigned)(c & 0x0f) << 12 | (unsigned)(u[i + 1] & 0x3f) << 6 | (u[i + 2] & 0x3f);

			memcpy(buf + o, "\\u{", 3);
			o += 3;
			for (int sh = 12; sh >= 0; sh -= 4)
				buf[o++] = hex_upper[(cp >> sh) & 15];
			buf[o++] = '}';
			i += n;
		} else {
			memcpy(buf + o, u + i, n);
			o += n;
			i += n;
		}
	}
	buf[o] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

int sc_term_fput(FILE *f, const char *s, size_t len, unsigned flags)
{
	_cleanup_free_ char *esc = NULL;
	int r;

	if (!s) {
		s = "(none)";
		len = strlen(s);
	}
	r = sc_term_escape(s, len, flags, &esc);
	if (r < 0)
		return r;
	errno = 0;
	if (fputs(esc, f) == EOF)
		return sc_negative_errno();
	return 0;
}
