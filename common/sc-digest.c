/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "sc-digest.h"

const char *sc_hash_alg_name(enum sc_hash_alg alg)
{
	switch (alg) {
	case SC_HASH_SHA256:
		return "sha256";
	case SC_HASH_SHA512:
		return "sha512";
	default:
		return "unknown";
	}
}

size_t sc_hash_alg_size(enum sc_hash_alg alg)
{
	switch (alg) {
	case SC_HASH_SHA256:
		return 32;
	case SC_HASH_SHA512:
		return 64;
	default:
		return 0;
	}
}

enum sc_hash_alg sc_hash_alg_from_name(const char *s, size_t len)
{
	if (len == 6 && memcmp(s, "sha256", 6) == 0)
		return SC_HASH_SHA256;
	if (len == 6 && memcmp(s, "sha512", 6) == 0)
		return SC_HASH_SHA512;
	return SC_HASH_NONE;
}

static int unhex_lower(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *sc_hex_encode(const void *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = data;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

int sc_hex_decode(const char *hex, void *out, size_t len)
{
	uint8_t *b = out;

	if (!hex || strlen(hex) != 2 * len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int h = unhex_lower(hex[2 * i]), l = unhex_lower(hex[2 * i + 1]);

		if (h < 0 || l < 0)
			return -EINVAL;
		b[i] = (uint8_t)(h << 4 | l);
	}
	return 0;
}

int sc_digest_from_hex(const char *hex, size_t len, enum sc_hash_alg alg, struct sc_digest *ret)
{
	struct sc_digest d = { 0 };

	if (len == 0)
		return -EINVAL;
	/* Characters first: "not hex" is a clearer reason than "wrong length". */
	for (size_t i = 0; i < len; i++)
		if (unhex_lower(hex[i]) < 0)
			return -EINVAL;
	if (alg == SC_HASH_NONE)
		alg = len == 64 ? SC_HASH_SHA256 : len == 128 ? SC_HASH_SHA512 : SC_HASH_NONE;
	if (alg == SC_HASH_NONE || len != 2 * sc_hash_alg_size(alg))
		return -EMSGSIZE;
	d.alg = alg;
	d.len = (uint16_t)(len / 2);
	for (size_t i = 0; i < d.len; i++)
		d.bytes[i] = (uint8_t)(unhex_lower(hex[2 * i]) << 4 | unhex_lower(hex[2 * i + 1]));
	*ret = d;
	return 0;
}

char *sc_digest_to_hex(const struct sc_digest *d, char *buf)
{
	return sc_hex_encode(d->bytes, d->len <= SC_DIGEST_MAX ? d->len : SC_DIGEST_MAX, buf);
}

char *sc_digest_to_string(const struct sc_digest *d, char *buf)
{
	const char *name = sc_hash_alg_name(d->alg);
	size_t nl = strlen(name);

	memcpy(buf, name, nl);
	buf[nl] = ':';
	sc_digest_to_hex(d, buf + nl + 1);
	return buf;
}

bool sc_digest_equal(const struct sc_digest *a, const struct sc_digest *b)
{
	return a->alg != SC_HASH_NONE && a->alg == b->alg && a->len == b->len &&
	       a->len == sc_hash_alg_size(a->alg) && memcmp(a->bytes, b->bytes, a->len) == 0;
}

int sc_digest_set(struct sc_digest *ret, enum sc_hash_alg alg, const void *bytes, size_t len)
{
	if (sc_hash_alg_size(alg) == 0 || len != sc_hash_alg_size(alg))
		return -EMSGSIZE;
	memset(ret, 0, sizeof(*ret));
	ret->alg = alg;
	ret->len = (uint16_t)len;
	memcpy(ret->bytes, bytes, len);
	return 0;
}
