/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sc-macro.h"
#include "sc-wire.h"

#define NONCE "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_crc32_known_answer(void **state)
{
	assert_int_equal(sc_crc32("123456789", 9), 0xcbf43926u); /* the CRC-32 check value */
	assert_int_equal(sc_crc32("", 0), 0);
}

static void test_roundtrip(void **state)
{
	_cleanup_free_ char *f = NULL;
	struct sc_wire_decoder d;
	struct sc_wire_frame fr;
	size_t n;

	assert_int_equal(sc_wire_encode('N', NONCE, 64, &f, &n), 0);
	assert_int_equal(n, SC_WIRE_HEADER_LEN + 64 + 1);
	assert_memory_equal(f, "\x1eSC1N00000040", 13);
	assert_int_equal(sc_wire_decoder_init(&d, 4096), 0);
	assert_int_equal(sc_wire_feed(&d, f, n), n);
	assert_int_equal(sc_wire_next(&d, &fr), 1);
	assert_int_equal(fr.type, 'N');
	assert_int_equal(fr.len, 64);
	assert_memory_equal(fr.payload, NONCE, 64);
	assert_true(sc_nonce_valid((const char *)fr.payload, fr.len));
	assert_int_equal(sc_wire_next(&d, &fr), 0);
	assert_int_equal(d.bad_frames, 0);
	sc_wire_decoder_done(&d);
}

/* Frames queued in an owned buffer: appended whole, decoded in order; freed together with their length. */
static void test_buf(void **state)
{
	_cleanup_(sc_wire_buf_done) struct sc_wire_buf b = { 0 };
	struct sc_wire_decoder d;
	struct sc_wire_frame fr;
	char *big;
	size_t one;

	assert_int_equal(sc_wire_buf_append(&b, 'R', "{}", 2), 0);
	one = b.len;
	assert_int_equal(one, SC_WIRE_HEADER_LEN + 2 + 1);
	assert_int_equal(sc_wire_buf_append(&b, 'E', "{\"e\":1}", 7), 0);
	assert_int_equal(b.len, one + SC_WIRE_HEADER_LEN + 7 + 1);
	/* too large a payload: refused, the buffer as it was */
	big = calloc(1, SC_WIRE_MAX_PAYLOAD + 1);
	assert_non_null(big);
	assert_int_equal(sc_wire_buf_append(&b, 'E', big, SC_WIRE_MAX_PAYLOAD + 1), -EMSGSIZE);
	free(big);
	assert_int_equal(b.len, one + SC_WIRE_HEADER_LEN + 7 + 1);
	assert_int_equal(sc_wire_decoder_init(&d, 4096), 0);
	assert_int_equal(sc_wire_feed(&d, b.data, b.len), b.len);
	assert_int_equal(sc_wire_next(&d, &fr), 1);
	assert_int_equal(fr.type, 'R');
	assert_memory_equal(fr.payload, "{}", 2);
	assert_int_equal(sc_wire_next(&d, &fr), 1);
	assert_int_equal(fr.type, 'E');
	assert_memory_equal(fr.payload, "{\"e\":1}", 7);
	assert_int_equal(sc_wire_next(&d, &fr), 0);
	sc_wire_decoder_done(&d);
	/* done: no bytes, no length; what is appended next starts a new buffer */
	sc_wire_buf_done(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	sc_wire_buf_done(&b); /* twice is harmless */
	assert_int_equal(sc_wire_buf_append(&b, 'K', "{}", 2), 0);
	assert_int_equal(b.len, one);
	assert_memory_equal(b.data, "\x1eSC1K", 5);
}

/* The same frames whatever the read sizes: 1 byte, 143 bytes, two frames per read (docs/protocol.md). */
static void test_chunking(void **state)
{
	static const size_t chunks[] = { 1, 2, 7, 143, 4096 };
	char payload[3000];
	_cleanup_free_ char *f1 = NULL, *f2 = NULL, *both = NULL;
	size_t n1, n2;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (char)('a' + i % 26);
	assert_int_equal(sc_wire_encode('R', payload, sizeof(payload), &f1, &n1), 0);
	assert_int_equal(sc_wire_encode('N', NONCE, 64, &f2, &n2), 0);
	both = malloc(n1 + n2);
	memcpy(both, f1, n1);
	memcpy(both + n1, f2, n2);

	for (size_t c = 0; c < ELEMENTSOF(chunks); c++) {
		struct sc_wire_decoder d;
		struct sc_wire_frame fr;
		char got[2];
		size_t ngot = 0;

		assert_int_equal(sc_wire_decoder_init(&d, 8192), 0);
		for (size_t off = 0; off < n1 + n2;) {
			size_t want = chunks[c] < n1 + n2 - off ? chunks[c] : n1 + n2 - off;

			off += sc_wire_feed(&d, both + off, want);
			while (sc_wire_next(&d, &fr) == 1) {
				assert_true(ngot < 2);
				got[ngot++] = fr.type;
				if (fr.type == 'R')
					assert_memory_equal(fr.payload, payload, sizeof(payload));
			}
		}
		assert_int_equal(ngot, 2);
		assert_int_equal(got[0], 'R');
		assert_int_equal(got[1], 'N');
		assert_int_equal(d.bad_frames, 0);
		sc_wire_decoder_done(&d);
	}
}

/* A frame cut short, then sent again whole after a resync marker (docs/protocol.md, Resync). */
static void test_truncated_then_resent(void **state)
{
	_cleanup_free_ char *f = NULL;
	struct sc_wire_decoder d;
	struct sc_wire_frame fr;
	size_t n;
	int frames = 0;

	assert_int_equal(sc_wire_encode('R', "{\"a\":1}", 7, &f, &n), 0);
	assert_int_equal(sc_wire_decoder_init(&d, 4096), 0);
	sc_wire_feed(&d, "garbage", 7);
	sc_wire_feed(&d, f, n - 5);
	sc_wire_feed(&d, f, n);
	while (sc_wire_next(&d, &fr) == 1) {
		frames++;
		assert_memory_equal(fr.payload, "{\"a\":1}", 7);
	}
	assert_int_equal(frames, 1);
	assert_true(d.bad_frames >= 1);
	assert_true(d.dropped_bytes >= 7);
	sc_wire_decoder_done(&d);
}

/*
 * A big frame cut short and then a small one (an agent that gave up mid-frame
 * and answered anew): the small one is not swallowed as the big one's missing
 * payload, since no payload holds the marker byte. Its bytes are looked at once.
 */
static void test_cut_short_then_small(void **state)
{
	_cleanup_free_ char *big = NULL, *big_frame = NULL, *small = NULL;
	struct sc_wire_decoder d;
	struct sc_wire_frame fr;
	size_t big_len = 100000, big_n, small_n;
	int frames = 0;

	(void)state;
	big = malloc(big_len);
	assert_non_null(big);
	memset(big, 'x', big_len);
	assert_int_equal(sc_wire_encode('E', big, big_len, &big_frame, &big_n), 0);
	assert_int_equal(sc_wire_encode('K', "{\"k\":1}", 7, &small, &small_n), 0);
	assert_int_equal(sc_wire_decoder_init(&d, 256 * 1024), 0);
	/* The first 30,000 bytes of the big frame, in pieces, then the small frame whole. */
	for (size_t off = 0; off < 30000; off += 1000) {
		sc_wire_feed(&d, big_frame + off, 1000);
		assert_int_equal(sc_wire_next(&d, &fr), 0);
	}
	assert_int_equal(d.checked, 30000);
	sc_wire_feed(&d, small, small_n);
	while (sc_wire_next(&d, &fr) == 1) {
		frames++;
		assert_int_equal(fr.type, 'K');
		assert_memory_equal(fr.payload, "{\"k\":1}", 7);
	}
	assert_int_equal(frames, 1);
	assert_int_equal(d.cut_short, 1);
	assert_int_equal(d.bad_frames, 1);
	sc_wire_decoder_done(&d);
}

static void test_bad_crc_and_oversize(void **state)
{
	_cleanup_free_ char *f = NULL;
	struct sc_wire_decoder d;
	struct sc_wire_frame fr;
	char big[64];
	size_t n;

	assert_int_equal(sc_wire_encode('R', "hello", 5, &f, &n), 0);
	f[SC_WIRE_HEADER_LEN] = 'j'; /* payload changed after the CRC was taken */
	assert_int_equal(sc_wire_decoder_init(&d, 16), 0);
	sc_wire_feed(&d, f, n);
	assert_int_equal(sc_wire_next(&d, &fr), 0);
	assert_int_equal(d.bad_frames, 1);
	/* Announcing more than the decoder's maximum: dropped at the header, never buffered. */
	snprintf(big, sizeof(big), "\x1eSC1R%08x%08x:", 100000u, 0u);
	sc_wire_feed(&d, big, strlen(big));
	assert_int_equal(sc_wire_next(&d, &fr), 0);
	assert_int_equal(d.oversized, 1);
	sc_wire_decoder_done(&d);
	assert_int_equal(sc_wire_encode('R', "", SC_WIRE_MAX_PAYLOAD + 1, &f, &n), -EMSGSIZE);
}

/* Per-type caps: a report over its cap is refused at the header, evidence keeps the decoder's cap. */
static void test_type_limit(void **state)
{
	_cleanup_free_ char *r_over = NULL, *r_at = NULL, *e_big = NULL, *payload = NULL;
	size_t n_over, n_at, n_big;
	struct sc_wire_decoder d;
	struct sc_wire_frame fr;

	(void)state;
	payload = malloc(300);
	assert_non_null(payload);
	memset(payload, 'x', 300);
	assert_int_equal(sc_wire_encode('R', payload, 101, &r_over, &n_over), 0);
	assert_int_equal(sc_wire_encode('R', payload, 100, &r_at, &n_at), 0);
	assert_int_equal(sc_wire_encode('E', payload, 300, &e_big, &n_big), 0);
	assert_int_equal(sc_wire_decoder_init(&d, 4096), 0);
	sc_wire_decoder_limit(&d, 100, "E");
	assert_int_equal(sc_wire_feed(&d, r_over, n_over), n_over);
	assert_int_equal(sc_wire_next(&d, &fr), 0);
	assert_int_equal(d.oversized, 1);
	assert_int_equal(d.bad_crc, 0); /* never CRC-checked */
	assert_int_equal(sc_wire_feed(&d, e_big, n_big), n_big);
	assert_int_equal(sc_wire_next(&d, &fr), 1);
	assert_int_equal(fr.type, 'E');
	assert_int_equal(fr.len, 300);
	assert_int_equal(sc_wire_feed(&d, r_at, n_at), n_at);
	assert_int_equal(sc_wire_next(&d, &fr), 1);
	assert_int_equal(fr.type, 'R');
	assert_int_equal(fr.len, 100);
	r_at[SC_WIRE_HEADER_LEN] ^= 1; /* a CRC that no longer matches */
	assert_int_equal(sc_wire_feed(&d, r_at, n_at), n_at);
	assert_int_equal(sc_wire_next(&d, &fr), 0);
	assert_int_equal(d.bad_crc, 1);
	assert_int_equal(d.oversized, 1);
	assert_int_equal(d.bad_frames, 2);
	sc_wire_decoder_done(&d);
}

static void test_back_pressure(void **state)
{
	struct sc_wire_decoder d;
	struct sc_wire_frame fr;
	char junk[100] = { 0 };

	assert_int_equal(sc_wire_decoder_init(&d, 16), 0);
	/* A full buffer takes no more until it is drained. */
	junk[0] = 0x1e;
	memcpy(junk, "\x1eSC1R00000010", 13);
	assert_true(sc_wire_feed(&d, junk, sizeof(junk)) < sizeof(junk));
	assert_int_equal(sc_wire_space(&d), 0);
	assert_int_equal(sc_wire_next(&d, &fr), 0);
	assert_true(sc_wire_space(&d) > 0);
	sc_wire_decoder_done(&d);
}

/*
 * A full buffer of resync markers and broken headers: each costs a one-byte
 * drop. Dropping by moving the buffer made this 256 KiB * 256 KiB / 2 bytes
 * of copying per buffer (seconds of CPU per 256 KiB a guest sends, for every
 * VM the loop serves); by offset it is linear. No clock here: the old code
 * made this test take seconds, the new one milliseconds.
 */
static void test_noise_is_linear(void **state)
{
	struct sc_wire_decoder d;
	struct sc_wire_frame fr;
	size_t cap = SC_WIRE_HEADER_LEN + SC_WIRE_MAX_PAYLOAD + 1;
	uint8_t *noise = malloc(cap);
	char *good;
	size_t good_len;

	(void)state;
	assert_non_null(noise);
	for (int round = 0; round < 8; round++) {
		assert_int_equal(sc_wire_decoder_init(&d, SC_WIRE_MAX_PAYLOAD), 0);
		for (size_t i = 0; i < cap; i++)
			noise[i] = round % 2 ? 0x1e : (uint8_t)"\x1eSC1Rzzz"[i % 8];
		assert_int_equal(sc_wire_feed(&d, noise, cap), cap);
		assert_int_equal(sc_wire_next(&d, &fr), 0);
		assert_true(d.bad_frames > 1000 || d.dropped_bytes > 1000);
		/* And the decoder still finds a good frame after it. */
		assert_int_equal(sc_wire_encode('R', "{}", 2, &good, &good_len), 0);
		assert_int_equal(sc_wire_feed(&d, good, good_len), good_len);
		assert_int_equal(sc_wire_next(&d, &fr), 1);
		assert_int_equal(fr.len, 2);
		free(good);
		sc_wire_decoder_done(&d);
	}
	free(noise);
}

static void test_nonce_valid(void **state)
{
	assert_true(sc_nonce_valid(STR_AND_LEN(NONCE)));
	assert_false(sc_nonce_valid(NONCE, 63));
	assert_false(sc_nonce_valid(STR_AND_LEN("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef")));
	assert_false(sc_nonce_valid(STR_AND_LEN("g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32_known_answer), cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_buf),
		cmocka_unit_test(test_chunking),           cmocka_unit_test(test_truncated_then_resent), cmocka_unit_test(test_cut_short_then_small),
		cmocka_unit_test(test_bad_crc_and_oversize), cmocka_unit_test(test_back_pressure),
		cmocka_unit_test(test_type_limit),
		cmocka_unit_test(test_nonce_valid),        cmocka_unit_test(test_noise_is_linear),
	};
	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
