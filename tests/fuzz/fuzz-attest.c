/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A guest's quote: TPMS_ATTEST and TPMT_SIGNATURE through every step of
 * probe_quote_verify(). Input: u16 length + TPM2B_PUBLIC of the AK, u16
 * length + TPMS_ATTEST, u16 length + TPMT_SIGNATURE, then the PCR values
 * (big-endian lengths; the corpus is made from tests/fixtures/tpm). The
 * expected qualifying data and selection are those of the fixtures.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "probe-tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *take(const uint8_t **p, size_t *left, size_t *len)
{
	const uint8_t *r;
	if (*left < 2)
		return NULL;
	*len = (size_t)(*p)[0] << 8 | (*p)[1];
	if (*len > *left - 2)
		return NULL;
	r = *p + 2;
	*p += 2 + *len;
	*left -= 2 + *len;
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* sha256("sealcheck fixture nonce"), as tests/fixtures/tpm/quote.nonce */
	static const uint8_t nonce[32] = {0x74, 0x7e, 0x6e, 0x2b, 0x44, 0xf7, 0xbb, 0xcd, 0x22, 0x21, 0xb8,
					  0x6b, 0x44, 0x64, 0x54, 0x92, 0xc8, 0xca, 0xa7, 0x14, 0x24, 0x66,
					  0x1e, 0xa1, 0x6a, 0xbf, 0x73, 0x08, 0xda, 0xed, 0x5b, 0x79};
	struct probe_pcr_selection sel;
	struct probe_quote_input in = {0};
	struct probe_tpm_attest a;
	struct probe_tpm_signature s;
	const uint8_t *p = data;
	size_t left = size;
	char why[128];

	if (size > 8192)
		return 0;
	if (probe_pcr_selection_from_string("sha256:0,1,2,3,4,5,7,9,11,12", &sel) < 0)
		return 0;
	in.ak_public = take(&p, &left, &in.ak_public_len);
	in.attest = take(&p, &left, &in.attest_len);
	in.signature = take(&p, &left, &in.signature_len);
	if (!in.ak_public || !in.attest || !in.signature)
		return 0;
	in.pcr_values = p;
	in.pcr_values_len = left;
	in.expected_extra_data = nonce;
	in.expected_extra_data_len = sizeof(nonce);
	in.expected_selection = &sel;
	(void)probe_tpm_attest_parse(in.attest, in.attest_len, &a, why, sizeof(why));
	(void)probe_tpm_signature_parse(in.signature, in.signature_len, &s, why, sizeof(why));
	(void)probe_quote_verify(&in, &a, why, sizeof(why));
	return 0;
}
