/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Kernel command line: the seal the signed UKI names.
 *
 * Splitting follows the kernel (lib/cmdline.c next_arg): whitespace separates
 * parameters, a double quote toggles quoting, there is no escape character,
 * and a lone "--" ends the kernel's parameters (the rest belongs to init).
 * Values are kept verbatim, quotes included, as bootc and composefs-rs do.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "sc-digest.h"

/*
 * sc_cmdline_next() - the next kernel parameter in [*pos, end).
 * Returns 1 with the token in tok and tok_len and *pos advanced, or 0 at the
 * end of the kernel's parameters: end of input (*pos == end) or a lone "--"
 * (*pos left on it, so *pos < end).
 */
int sc_cmdline_next(const char **pos, const char *end, const char **tok, size_t *tok_len);

enum sc_seal_kind {
	SC_SEAL_NONE = 0,
	SC_SEAL_COMPOSEFS,
	SC_SEAL_DMVERITY,
};

enum sc_cmdline_problem {
	SC_CMDLINE_OK = 0,
	SC_CMDLINE_NO_SEAL,   /* neither composefs nor dm-verity parameters */
	SC_CMDLINE_MALFORMED, /* a seal parameter that does not parse; see detail */
	SC_CMDLINE_AMBIGUOUS, /* conflicting duplicates: parsers disagree on which wins */
	SC_CMDLINE_INSECURE,  /* "?" prefix: verity optional */
};

#define SC_CMDLINE_MAX_DIGESTS 8
#define SC_CMDLINE_MAX_PARAMS 16

/* A seal-relevant parameter as it stood on the command line (for the report). */
struct sc_cmdline_param {
	char *key;
	char *value; /* NULL for a bare key */
	bool used;   /* false: present but overridden (composefs= beside composefs.digest=) */
};

struct sc_cmdline_digest {
	struct sc_digest digest;
	int version;        /* composefs format version, 1 or 2 */
	int log2_blocksize; /* fs-verity Merkle block size */
	bool insecure;      /* "?" prefix */
};

struct sc_seal_cmdline {
	bool parsed;        /* false: the command line could not be read; nothing below is known */
	enum sc_seal_kind kind;
	enum sc_cmdline_problem problem;
	char detail[192];   /* why: for MALFORMED/AMBIGUOUS/INSECURE */
	const char *source; /* "composefs.digest", "composefs", "roothash", "usrhash" or NULL */

	size_t n_digests;   /* composefs digests the UKI allows (deduplicated) */
	struct sc_cmdline_digest digests[SC_CMDLINE_MAX_DIGESTS];

	/* dm-verity (systemd style): roothash= seals /, usrhash= seals /usr */
	struct sc_verity_hash {
		size_t len; /* 0: absent */
		unsigned char bytes[64];
	} roothash, usrhash;

	size_t n_params;        /* recorded in params[] */
	size_t n_params_total;  /* seen, including those past the array */
	struct sc_cmdline_param params[SC_CMDLINE_MAX_PARAMS];
	size_t n_tokens;        /* kernel parameters before any "--" */
	bool has_init_args;     /* a "--" was present */
};

/*
 * sc_seal_cmdline_parse() - find and check the seal parameters.
 * @buf, @len: the command line bytes (need not be NUL-terminated).
 * Returns 0 with @ret filled (its problem field says whether the seal
 * parameters are acceptable), or -ENOMEM. Free with sc_seal_cmdline_done().
 */
int sc_seal_cmdline_parse(const char *buf, size_t len, struct sc_seal_cmdline *ret);
void sc_seal_cmdline_done(struct sc_seal_cmdline *c);

const char *sc_seal_kind_name(enum sc_seal_kind kind);
