/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sealcheck wire protocol between the host probe and the guest agent
 * over a virtio-serial port (docs/protocol.md).
 *
 * A frame is ASCII-framed and binary-safe:
 *
 *   RS 'S' 'C' '1' TYPE LLLLLLLL CCCCCCCC ':' PAYLOAD LF
 *
 * RS is 0x1e, the resync marker; TYPE one letter; LLLLLLLL the payload
 * length and CCCCCCCC its CRC-32 (IEEE), both 8 lowercase hex digits. A
 * decoder that meets anything else drops one byte and scans for the next
 * marker, so a sender that lost a frame half-way simply sends it again whole.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SC_WIRE_MAGIC "\x1eSC1"
#define SC_WIRE_MAGIC_LEN 4
#define SC_WIRE_HEADER_LEN (SC_WIRE_MAGIC_LEN + 1 + 8 + 8 + 1)
/* A report is a few KiB; TPM evidence (quote + event log) adds ~10 KiB. */
#define SC_WIRE_MAX_PAYLOAD (256u * 1024u)

enum sc_wire_type {
	SC_WIRE_NONCE = 'N',  /* host -> guest: 64 lowercase hex characters */
	SC_WIRE_REPORT = 'R', /* guest -> host: a sealcheck.report.v1 JSON document */
};

#define SC_NONCE_HEX_LEN 64

uint32_t sc_crc32(const void *data, size_t len);

/* A whole frame for @payload, malloc'd. Returns 0, -EMSGSIZE (too large) or -ENOMEM. */
int sc_wire_encode(char type, const void *payload, size_t len, char **ret, size_t *ret_len);

/*
 * Frames waiting to be written, owned with their length: one struct, so a
 * buffer freed (sc_wire_buf_done()) is never sent with a stale length, and
 * frames appended after it start a new buffer. { 0 } is empty.
 */
struct sc_wire_buf {
	uint8_t *data;
	size_t len;
};

/* Frees the bytes and zeroes the length; @b is empty and reusable after. */
void sc_wire_buf_done(struct sc_wire_buf *b);

/* Appends a whole frame for @payload (sc_wire_encode()). 0, -EMSGSIZE or -ENOMEM; @b unchanged on error. */
int sc_wire_buf_append(struct sc_wire_buf *b, char type, const void *payload, size_t len);

struct sc_wire_decoder {
	uint8_t *buf;
	size_t start;           /* where the undecoded bytes begin: dropping is O(1), never a memmove per byte */
	size_t len, cap;        /* undecoded bytes from @start; the buffer's size */
	size_t max_payload;
	uint64_t dropped_bytes; /* bytes skipped while looking for a marker */
	unsigned bad_frames;    /* headers or frames that did not check out */
	unsigned oversized;     /* frames announcing more than max_payload */
	size_t pending;         /* the frame last handed out, dropped on the next call */
	size_t checked;         /* bytes of the incomplete frame at @start already looked at for a marker */
	unsigned cut_short;     /* frames another marker showed cut short (counted in bad_frames too) */
};

struct sc_wire_frame {
	char type;
	const uint8_t *payload; /* into the decoder's buffer: valid until the next sc_wire_feed() */
	size_t len;
};

/* Returns 0 or -ENOMEM (the buffer is one frame of @max_payload, allocated once). */
int sc_wire_decoder_init(struct sc_wire_decoder *d, size_t max_payload);
void sc_wire_decoder_done(struct sc_wire_decoder *d);

/*
 * sc_wire_feed() - append received bytes. Returns how many of the @n bytes
 * were taken (fewer when the buffer is full: call sc_wire_next() and feed the
 * rest again; not reading meanwhile is the back-pressure).
 */
size_t sc_wire_feed(struct sc_wire_decoder *d, const void *data, size_t n);

/* Free space in the buffer: how much a read() may take now. */
size_t sc_wire_space(const struct sc_wire_decoder *d);

/*
 * sc_wire_next() - the next complete, valid frame.
 * Returns 1 with @ret filled, or 0 when more bytes are needed.
 */
int sc_wire_next(struct sc_wire_decoder *d, struct sc_wire_frame *ret);

/* True when @s (length @len) is a nonce: exactly 64 lowercase hex characters. */
bool sc_nonce_valid(const char *s, size_t len);
