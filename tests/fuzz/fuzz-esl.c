/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>
#include <stdint.h>

#include "sc-esl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int touch(const struct sc_esl_entry *e, void *ud)
{
	size_t *sum = ud;

	/* Read every byte the parser hands out: an overread shows up under ASan. */
	for (size_t i = 0; i < e->len; i++)
		*sum += e->data[i];
	*sum += e->owner[15] + e->type[15];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_esl_summary s;
	size_t sum = 0;

	if (size > 1024 * 1024)
		return 0;
	(void)sc_esl_parse(data, size, touch, &sum, &s);
	return 0;
}
