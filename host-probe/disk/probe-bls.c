/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "probe-bls.h"
#include "sc-why.h"

static bool path_ok(const char *p, size_t n)
{
	size_t seg = 0;

	if (n == 0 || n > PROBE_BLS_PATH_MAX || p[0] != '/')
		return false;
	for (size_t i = 1; i <= n; i++) {
		if (i == n || p[i] == '/') {
			const char *s = p + i - seg;

			if (seg == 0 || (seg == 1 && s[0] == '.') || (seg == 2 && s[0] == '.' && s[1] == '.'))
				return false;
			seg = 0;
			continue;
		}
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
		      p[i] == '.' || p[i] == '_' || p[i] == '+' || p[i] == '-'))
			return false;
		seg++;
	}
	return true;
}

static void copy_printable(char *dst, size_t dst_size, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < dst_size; i++)
		dst[o++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	dst[o] = 0;
}

int probe_bls_entry_parse(const char *text, size_t len, struct probe_bls_entry *ret, char *why, size_t why_size)
{
	static const char *const refused[] = { "linux", "initrd", "options", "profile", "uki-url" };
	unsigned lineno = 0, n_efi = 0;

	memset(ret, 0, sizeof(*ret));
	if (len > PROBE_BLS_ENTRY_MAX)
		return sc_why(-EBADMSG, why, why_size, "over %u bytes", PROBE_BLS_ENTRY_MAX);
	if (memchr(text, 0, len))
		return sc_why(-EBADMSG, why, why_size, "a NUL byte");
	for (size_t i = 0; i < len;) {
		const char *line = text + i;
		size_t n = 0, k = 0, v;

		/* A line ends at \n or \r, as systemd-boot splits them (src/boot/efi-string.c line_get_key_value()):
		 * "title x\roptions ..." is two lines there, so it is here. */
		while (i + n < len && text[i + n] != '\n' && text[i + n] != '\r')
			n++;
		i += n + (i + n < len ? 1 : 0);
		lineno++;
		while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
			n--;
		while (k < n && (line[k] == ' ' || line[k] == '\t'))
			k++;
		line += k;
		n -= k;
		if (n == 0 || line[0] == '#')
			continue;
		for (k = 0; k < n && line[k] != ' ' && line[k] != '\t'; k++)
			;
		for (v = k; v < n && (line[v] == ' ' || line[v] == '\t'); v++)
			;
		for (size_t r = 0; r < sizeof(refused) / sizeof(refused[0]); r++)
			if (k == strlen(refused[r]) && memcmp(line, refused[r], k) == 0)
				return sc_why(-EBADMSG, why, why_size, "line %u: \"%s\": only an entry that starts one UKI, with its own command line, is judged",
					      lineno, refused[r]);
		if ((k == 3 && memcmp(line, "efi", 3) == 0) || (k == 3 && memcmp(line, "uki", 3) == 0)) {
			if (n_efi++)
				return sc_why(-EBADMSG, why, why_size, "line %u: a second efi/uki key", lineno);
			if (!path_ok(line + v, n - v))
				return sc_why(-EBADMSG, why, why_size, "line %u: the %.3s path is not an absolute path of [A-Za-z0-9._+-] names (at most %u bytes)",
					      lineno, line, PROBE_BLS_PATH_MAX);
			memcpy(ret->efi, line + v, n - v);
			ret->efi[n - v] = 0;
		} else if (k == 5 && memcmp(line, "title", 5) == 0)
			copy_printable(ret->title, sizeof(ret->title), line + v, n - v);
		else if (k == 8 && memcmp(line, "sort-key", 8) == 0)
			copy_printable(ret->sort_key, sizeof(ret->sort_key), line + v, n - v);
	}
	if (!n_efi)
		return sc_why(-EBADMSG, why, why_size, "no efi or uki key: the entry starts no UKI");
	return 0;
}
