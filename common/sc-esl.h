/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * EFI_SIGNATURE_LIST parsing (PK, KEK, db, dbx).
 *
 * Every size field is firmware (or guest) data: each is bounded against what
 * is left of the buffer before use. A list that lies about its sizes stops
 * the walk there; what was valid before it is still reported.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SC_ESL_HEADER_SIZE 28 /* SignatureType(16) + ListSize + HeaderSize + SignatureSize */
#define SC_ESL_OWNER_SIZE 16

struct sc_esl_entry {
	const uint8_t *type;  /* 16-byte SignatureType GUID */
	const uint8_t *owner; /* 16-byte SignatureOwner GUID */
	const uint8_t *data;  /* SignatureData */
	size_t len;
};

struct sc_esl_summary {
	size_t n_lists;
	size_t n_entries;
	bool malformed;       /* something past this point could not be parsed */
	char problem[96];     /* what, when malformed */
};

/* Called per entry; a negative return stops the walk and is returned. */
typedef int (*sc_esl_entry_cb)(const struct sc_esl_entry *e, void *userdata);

/*
 * sc_esl_parse() - walk the signature lists in @buf.
 * Returns 0 (check ret->malformed), or the callback's negative value.
 */
int sc_esl_parse(const uint8_t *buf, size_t len, sc_esl_entry_cb cb, void *userdata, struct sc_esl_summary *ret);
