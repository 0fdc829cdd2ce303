/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "sc-endian.h"
#include "sc-esl.h"

int sc_esl_parse(const uint8_t *buf, size_t len, sc_esl_entry_cb cb, void *userdata, struct sc_esl_summary *ret)
{
	struct sc_esl_summary s = { 0 };
	size_t off = 0;
	int r;

#define MALFORMED(...)                                                  \
	do {                                                            \
		s.malformed = true;                                     \
		snprintf(s.problem, sizeof(s.problem), __VA_ARGS__);    \
		goto done;                                              \
	} while (0)

	while (off < len) {
		size_t left = len - off, list_size, header_size, sig_size, body;
		const uint8_t *l = buf + off;

		if (left < SC_ESL_HEADER_SIZE)
			MALFORMED("list %zu: %zu trailing bytes, shorter than a list header", s.n_lists, left);
		list_size = sc_le32(l + 16);
		header_size = sc_le32(l + 20);
		sig_size = sc_le32(l + 24);
		if (list_size < SC_ESL_HEADER_SIZE || list_size > left)
			MALFORMED("list %zu: SignatureListSize %zu outside 28..%zu", s.n_lists, list_size, left);
		if (header_size > list_size - SC_ESL_HEADER_SIZE)
			MALFORMED("list %zu: SignatureHeaderSize %zu too large", s.n_lists, header_size);
		if (sig_size < SC_ESL_OWNER_SIZE)
			MALFORMED("list %zu: SignatureSize %zu smaller than an owner GUID", s.n_lists, sig_size);
		body = list_size - SC_ESL_HEADER_SIZE - header_size;
		if (body % sig_size != 0)
			MALFORMED("list %zu: %zu bytes of entries is not a multiple of SignatureSize %zu", s.n_lists, body,
				  sig_size);
		for (size_t e = 0; e < body / sig_size; e++) {
			const uint8_t *p = l + SC_ESL_HEADER_SIZE + header_size + e * sig_size;
			struct sc_esl_entry ent = {
				.type = l,
				.owner = p,
				.data = p + SC_ESL_OWNER_SIZE,
				.len = sig_size - SC_ESL_OWNER_SIZE,
			};

			s.n_entries++;
			if (cb) {
				r = cb(&ent, userdata);
				if (r < 0)
					return r;
			}
		}
		s.n_lists++;
		off += list_size;
	}
#undef MALFORMED
done:
	*ret = s;
	return 0;
}
