/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include <openssl/sha.h>

#include "sc-digest.h"
#include "sc-evidence.h"
#include "sc-wire.h"

void sc_evidence_report_sha256(const void *report, size_t len, char out[65])
{
	uint8_t h[SHA256_DIGEST_LENGTH];

	SHA256(report, len, h);
	sc_hex_encode(h, sizeof(h), out);
}

int sc_evidence_qualifying_data(const char *nonce, const void *report, size_t len, uint8_t out[32])
{
	uint8_t buf[SC_NONCE_HEX_LEN + SHA256_DIGEST_LENGTH];

	if (!nonce || !sc_nonce_valid(nonce, strlen(nonce)))
		return -EINVAL;
	memcpy(buf, nonce, SC_NONCE_HEX_LEN);
	SHA256(report, len, buf + SC_NONCE_HEX_LEN);
	SHA256(buf, sizeof(buf), out);
	return 0;
}
