/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "sc-digest.h"
#include "sc-evidence.h"
#include "sc-json.h"
#include "sc-macro.h"
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

int sc_credential_answer(const uint8_t *secret, size_t secret_len, const char *nonce,
			 uint8_t out[SC_CREDENTIAL_ANSWER_LEN])
{
	unsigned n = 0;

	if (!nonce || !sc_nonce_valid(nonce, strlen(nonce)) || !secret || secret_len == 0 || secret_len > 64)
		return -EINVAL;
	if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)nonce, SC_NONCE_HEX_LEN, out, &n) ||
	    n != SC_CREDENTIAL_ANSWER_LEN)
		return -EIO;
	return 0;
}

/* A hex TPM2B of at most @cap bytes whose size field is exactly the rest. */
static int tpm2b_from_hex(json_t *v, uint8_t *out, size_t cap, size_t *ret_len)
{
	const char *hex = json_string_value(v);
	size_t n;

	if (!hex)
		return -EBADMSG;
	n = strlen(hex);
	if (n % 2 || n / 2 < 2 || n / 2 > cap || sc_hex_decode(hex, out, n / 2) < 0)
		return -EBADMSG;
	if (((size_t)out[0] << 8 | out[1]) != n / 2 - 2)
		return -EBADMSG;
	*ret_len = n / 2;
	return 0;
}

int sc_credential_challenge_parse(const void *payload, size_t len, struct sc_credential_challenge *ret)
{
	static const char *const keys[] = { "schema", "nonce", "credential_blob", "secret" };
	_cleanup_json_ json_t *doc = NULL;
	const char *k, *nonce, *schema;
	json_t *v;

	memset(ret, 0, sizeof(*ret));
	if (len > 4096 || !sc_utf8_valid(payload, len))
		return -EBADMSG;
	doc = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(doc))
		return -EBADMSG;
	json_object_foreach(doc, k, v) {
		bool known = false;

		for (size_t i = 0; i < ELEMENTSOF(keys); i++)
			known |= strcmp(k, keys[i]) == 0;
		if (!known)
			return -EBADMSG;
	}
	schema = json_string_value(json_object_get(doc, "schema"));
	nonce = json_string_value(json_object_get(doc, "nonce"));
	if (!schema || strcmp(schema, SC_CHALLENGE_SCHEMA) != 0 || !nonce || !sc_nonce_valid(nonce, strlen(nonce)))
		return -EBADMSG;
	memcpy(ret->nonce, nonce, SC_NONCE_HEX_LEN + 1);
	if (tpm2b_from_hex(json_object_get(doc, "credential_blob"), ret->blob, sizeof(ret->blob), &ret->blob_len) < 0 ||
	    tpm2b_from_hex(json_object_get(doc, "secret"), ret->secret, sizeof(ret->secret), &ret->secret_len) < 0) {
		memset(ret, 0, sizeof(*ret));
		return -EBADMSG;
	}
	return 0;
}
