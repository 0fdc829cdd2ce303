/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fs-verity digests: the value type both the agent and the probe use.
 *
 * A digest is compared by algorithm AND length AND bytes, never by bytes
 * alone: a SHA-256 digest is never "equal" to a prefix of a SHA-512 one.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Values of FS_VERITY_HASH_ALG_* and of ovl_metacopy.digest_algo. */
enum sc_hash_alg {
	SC_HASH_NONE = 0,
	SC_HASH_SHA256 = 1,
	SC_HASH_SHA512 = 2,
};

#define SC_DIGEST_MAX 64 /* FS_VERITY_MAX_DIGEST_SIZE */
#define SC_DIGEST_HEX_MAX (SC_DIGEST_MAX * 2)

struct sc_digest {
	enum sc_hash_alg alg;
	uint16_t len;
	uint8_t bytes[SC_DIGEST_MAX];
};

/* "sha256" / "sha512" / "unknown". */
const char *sc_hash_alg_name(enum sc_hash_alg alg);
/* Digest size of @alg in bytes, 0 if unknown. */
size_t sc_hash_alg_size(enum sc_hash_alg alg);
/* Parse "sha256"/"sha512" of @len bytes; SC_HASH_NONE if unknown. */
enum sc_hash_alg sc_hash_alg_from_name(const char *s, size_t len);

/*
 * sc_digest_from_hex() - parse a bare lowercase hex digest.
 * @alg: the algorithm, or SC_HASH_NONE to infer it from the length (64 or 128).
 * Returns 0, or -EINVAL for an empty value, upper-case or non-hex characters,
 * -EMSGSIZE for a length that fits no algorithm (or not @alg).
 */
int sc_digest_from_hex(const char *hex, size_t len, enum sc_hash_alg alg, struct sc_digest *ret);

/* @len bytes as lowercase hex into @out (2 * @len + 1 bytes, NUL-terminated). Returns @out. */
char *sc_hex_encode(const void *data, size_t len, char *out);
/* Exactly 2 * @len lowercase hex characters (a NUL-terminated @hex) into @len bytes. 0 or -EINVAL. */
int sc_hex_decode(const char *hex, void *out, size_t len);

/* Lowercase hex into @buf (at least SC_DIGEST_HEX_MAX + 1 bytes). Returns @buf. */
char *sc_digest_to_hex(const struct sc_digest *d, char *buf);

/* "sha512:<hex>" as fsverity-utils prints it; @buf at least SC_DIGEST_HEX_MAX + 8. */
char *sc_digest_to_string(const struct sc_digest *d, char *buf);

bool sc_digest_equal(const struct sc_digest *a, const struct sc_digest *b);

/*
 * sc_digest_set() - fill @ret from raw bytes; -EMSGSIZE if @len does not
 * match @alg's size.
 */
int sc_digest_set(struct sc_digest *ret, enum sc_hash_alg alg, const void *bytes, size_t len);
