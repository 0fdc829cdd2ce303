/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "sc-metacopy.h"

int sc_metacopy_parse(const uint8_t *v, size_t len, struct sc_digest *ret)
{
	enum sc_hash_alg alg;

	if (len == 0)
		return -ENODATA;
	if (len < 4 || len > SC_METACOPY_MAX || v[0] != 0 || v[1] != len || v[2] != 0)
		return -EBADMSG;
	alg = (enum sc_hash_alg)v[3];
	/* Algorithm AND length: a SHA-512 tag over 32 bytes is malformed, not "SHA-256". */
	if (sc_hash_alg_size(alg) == 0 || len - 4 != sc_hash_alg_size(alg))
		return -EBADMSG;
	return sc_digest_set(ret, alg, v + 4, len - 4);
}

int sc_redirect_parse(const char *v, size_t len, char *out, size_t out_size)
{
	const char *p, *end = v + len;

	if (len < 2 || v[0] != '/' || memchr(v, '\0', len))
		return -EBADMSG;
	for (p = v + 1; p < end;) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t n = (size_t)((slash ? slash : end) - p);

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return -EBADMSG;
		p += n + (slash ? 1 : 0);
		if (slash && p == end)
			return -EBADMSG; /* trailing slash */
	}
	if (len - 1 >= out_size)
		return -ENAMETOOLONG;
	memcpy(out, v + 1, len - 1);
	out[len - 1] = '\0';
	return 0;
}
