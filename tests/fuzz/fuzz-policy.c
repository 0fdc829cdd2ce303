/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The policy file (sealcheck.policy.v1): an operator's file, still parsed strictly and within caps. */
#include <stddef.h>
#include <stdint.h>

#include "probe-policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_policy p;
	char why[256];

	(void)probe_policy_parse((const char *)data, size, "web-01", "6f1c2d3e-0000-4000-8000-000000000001", &p, why,
				 sizeof(why));
	return 0;
}
