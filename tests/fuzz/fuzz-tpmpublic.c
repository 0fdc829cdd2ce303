/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A guest's AK public area: TPM2B_PUBLIC, TPMT_PUBLIC, the AK rules, the key. */
#include <stddef.h>
#include <stdint.h>

#include "probe-tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_tpm_public p;
	char why[128];

	if (size > 4096)
		return 0;
	if (size >= 2)
		(void)probe_tpm_public_parse(data + 2, size - 2, &p, why, sizeof(why));
	if (probe_tpm2b_public_parse(data, size, &p, why, sizeof(why)) == 0) {
		EVP_PKEY *k = NULL;
		(void)probe_tpm_ak_check(&p, why, sizeof(why));
		if (probe_tpm_public_to_pkey(&p, &k, why, sizeof(why)) == 0)
			EVP_PKEY_free(k);
	}
	return 0;
}
