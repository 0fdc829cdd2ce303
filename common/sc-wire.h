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
/*
 * The largest frame payload: TPM evidence, whose event logs the agent sends up to
 * SC_EVIDENCE_EVENTLOG_MAX + SC_EVIDENCE_USERLOG_MAX (128 + 32 KiB) decoded, about 219 KiB of base64
 * with the quote; a real boot's evidence is 10.4 KiB (tests/fixtures/evidence/evidence.json).
 */
#define SC_WIRE_MAX_PAYLOAD (256u * 1024u)
/*
 * The largest report, and the cap of every frame type but evidence (sc_wire_decoder_limit()): a real
 * sealed guest's report is 4,978 bytes (tests/fixtures/evidence/report.json, a TPM boot) and the template
 * 4,139 (tests/probe/sealed-report.json), compact JSON as the agent sends it; 64 KiB is 13x that, room
 * for long command lines, deep mount stacks and key databases of many certificates.
 */
#define SC_WIRE_MAX_REPORT (64u * 1024u)

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
	unsigned bad_crc;       /* whole frames whose CRC or final LF was wrong (counted in bad_frames too) */
	uint64_t bad_crc_bytes; /* ... their payload bytes (each CRC-checked whole) */
	size_t small_max;       /* sc_wire_decoder_limit(): the cap of the types not in big_types (0: max_payload) */
	char big_types[8];      /* ... the types that keep max_payload */
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
 * sc_wire_decoder_limit() - frames of any type but those in @big_types (up to 7 type letters) may carry
 * at most @max bytes (never more than max_payload). A header announcing more is refused as it arrives,
 * counted in oversized and bad_frames like one over max_payload: its payload is never buffered as a
 * frame, CRC-checked or handed out, only scanned for the next marker.
 */
void sc_wire_decoder_limit(struct sc_wire_decoder *d, size_t max, const char *big_types);

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
