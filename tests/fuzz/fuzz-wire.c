/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sc-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

/* Feed the input in pieces whose sizes the input's first byte picks. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_wire_decoder d;
	struct sc_wire_frame fr;
	size_t step, off = 1;
	size_t sum = 0;

	if (size < 1 || size > 1024 * 1024 || sc_wire_decoder_init(&d, 4096) < 0)
		return 0;
	step = (size_t)data[0] + 1;
	while (off < size) {
		size_t n = step < size - off ? step : size - off;

		off += sc_wire_feed(&d, data + off, n);
		while (sc_wire_next(&d, &fr) == 1)
			for (size_t i = 0; i <= fr.len; i++) /* <=: the NUL written after the payload */
				sum += fr.payload[i];
		if (sc_wire_space(&d) == 0 && sc_wire_next(&d, &fr) == 0 && sc_wire_space(&d) == 0)
			break; /* cannot happen: a full buffer always makes progress */
	}
	sc_wire_decoder_done(&d);
	sink = sum; /* the reads stay: sum depends on every payload byte */
	return 0;
}
