/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sc-macro.h"
#include "sc-wire.h"

uint32_t sc_crc32(const void *data, size_t len)
{
	static uint32_t table[256];
	static bool ready;
	const uint8_t *p = data;
	uint32_t crc = 0xffffffffu;

	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		ready = true;
	}
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

int sc_wire_encode(char type, const void *payload, size_t len, char **ret, size_t *ret_len)
{
	char *f;

	if (len > SC_WIRE_MAX_PAYLOAD)
		return -EMSGSIZE;
	f = malloc(SC_WIRE_HEADER_LEN + len + 1 + 1);
	if (!f)
		return -ENOMEM;
	snprintf(f, SC_WIRE_HEADER_LEN + 1, SC_WIRE_MAGIC "%c%08zx%08x:", type, len, sc_crc32(payload, len));
	memcpy(f + SC_WIRE_HEADER_LEN, payload, len);
	f[SC_WIRE_HEADER_LEN + len] = '\n';
	*ret = f;
	*ret_len = SC_WIRE_HEADER_LEN + len + 1;
	return 0;
}

void sc_wire_buf_done(struct sc_wire_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

int sc_wire_buf_append(struct sc_wire_buf *b, char type, const void *payload, size_t len)
{
	_cleanup_free_ char *f = NULL;
	size_t f_len;
	uint8_t *both;
	int r = sc_wire_encode(type, payload, len, &f, &f_len);

	if (r < 0)
		return r;
	if (b->len > SIZE_MAX - f_len || !(both = realloc(b->data, b->len + f_len)))
		return -ENOMEM;
	memcpy(both + b->len, f, f_len);
	b->data = both;
	b->len += f_len;
	return 0;
}

int sc_wire_decoder_init(struct sc_wire_decoder *d, size_t max_payload)
{
	memset(d, 0, sizeof(*d));
	if (max_payload > SC_WIRE_MAX_PAYLOAD)
		max_payload = SC_WIRE_MAX_PAYLOAD;
	d->max_payload = max_payload;
	d->cap = SC_WIRE_HEADER_LEN + max_payload + 1;
	d->buf = malloc(d->cap);
	return d->buf ? 0 : -ENOMEM;
}

void sc_wire_decoder_limit(struct sc_wire_decoder *d, size_t max, const char *big_types)
{
	d->small_max = max < d->max_payload ? max : d->max_payload;
	snprintf(d->big_types, sizeof(d->big_types), "%s", big_types ? big_types : "");
}

/* The cap of a frame of @type. */
static size_t type_max(const struct sc_wire_decoder *d, uint8_t type)
{
	if (!d->small_max || (type && strchr(d->big_types, type)))
		return d->max_payload;
	return d->small_max;
}

void sc_wire_decoder_done(struct sc_wire_decoder *d)
{
	free(d->buf);
	memset(d, 0, sizeof(*d));
}

size_t sc_wire_space(const struct sc_wire_decoder *d)
{
	return d->cap - d->len + d->pending;
}

static void drop(struct sc_wire_decoder *d, size_t n)
{
	d->start += n;
	d->len -= n;
	d->checked = 0; /* another frame start: nothing of it looked at yet */
	if (d->len == 0)
		d->start = 0;
}

static void drop_pending(struct sc_wire_decoder *d)
{
	if (d->pending) {
		drop(d, d->pending);
		d->pending = 0;
	}
}

size_t sc_wire_feed(struct sc_wire_decoder *d, const void *data, size_t n)
{
	size_t take;

	drop_pending(d);
	/* One move per feed at most, so a buffer of noise costs linear time. */
	if (d->start && d->cap - d->start - d->len < n) {
		memmove(d->buf, d->buf + d->start, d->len);
		d->start = 0;
	}
	take = n < d->cap - d->start - d->len ? n : d->cap - d->start - d->len;
	memcpy(d->buf + d->start + d->len, data, take);
	d->len += take;
	return take;
}

static int parse_hex32(const uint8_t *p, uint32_t *ret)
{
	uint32_t v = 0;

	for (int i = 0; i < 8; i++) {
		uint8_t c = p[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint32_t)(c - 'a' + 10);
		else
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

int sc_wire_next(struct sc_wire_decoder *d, struct sc_wire_frame *ret)
{
	drop_pending(d);
	for (;;) {
		uint8_t *p = d->buf + d->start, *m;
		uint32_t len, crc;
		size_t off;

		/* Find the marker; everything before it is noise. */
		m = d->len ? memchr(p, 0x1e, d->len) : NULL;
		if (!m) {
			d->dropped_bytes += d->len;
			d->len = 0;
			d->start = 0;
			return 0;
		}
		off = (size_t)(m - p);
		if (off) {
			d->dropped_bytes += off;
			drop(d, off);
			p = m;
		}
		if (d->len < SC_WIRE_HEADER_LEN) {
			/* A partial marker that already disagrees is noise too. */
			if (memcmp(p, SC_WIRE_MAGIC, d->len < SC_WIRE_MAGIC_LEN ? d->len : SC_WIRE_MAGIC_LEN) == 0)
				return 0;
			d->dropped_bytes++;
			drop(d, 1);
			continue;
		}
		if (memcmp(p, SC_WIRE_MAGIC, SC_WIRE_MAGIC_LEN) != 0 || parse_hex32(p + 5, &len) < 0 ||
		    parse_hex32(p + 13, &crc) < 0 || p[21] != ':') {
			d->bad_frames++;
			drop(d, 1);
			continue;
		}
		if (len > type_max(d, p[4])) {
			d->oversized++;
			d->bad_frames++;
			drop(d, 1);
			continue;
		}
		if (d->len < SC_WIRE_HEADER_LEN + (size_t)len + 1) {
			/*
			 * No payload holds the marker byte (every payload is JSON or hex,
			 * where 0x1e cannot appear raw): one in the bytes so far means this
			 * frame was cut short (a sender that gave up mid-frame and sent
			 * anew) and a new frame starts there. Waiting for the rest would
			 * swallow the frames after it. Each byte is looked at once.
			 */
			size_t from = d->checked > SC_WIRE_HEADER_LEN ? d->checked : SC_WIRE_HEADER_LEN;
			uint8_t *cut = d->len > from ? memchr(p + from, 0x1e, d->len - from) : NULL;

			if (!cut) {
				d->checked = d->len;
				return 0;
			}
			d->bad_frames++;
			d->cut_short++;
			drop(d, (size_t)(cut - p));
			continue;
		}
		if (p[SC_WIRE_HEADER_LEN + len] != '\n' || sc_crc32(p + SC_WIRE_HEADER_LEN, len) != crc) {
			d->bad_frames++;
			d->bad_crc++;
			d->bad_crc_bytes += len;
			drop(d, 1);
			continue;
		}
		/* Hand the frame out in place; it is dropped on the next call. */
		ret->type = (char)p[4];
		ret->len = len;
		drop(d, SC_WIRE_HEADER_LEN);
		ret->payload = d->buf + d->start;
		d->buf[d->start + len] = '\0'; /* the LF: callers get a C string too */
		d->pending = (size_t)len + 1;
		return 1;
	}
}

bool sc_nonce_valid(const char *s, size_t len)
{
	if (len != SC_NONCE_HEX_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}
