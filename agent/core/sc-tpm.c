/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's TPM evidence through ESAPI, loaded with dlopen (sc-tpm.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "sc-base64.h"
#include "sc-digest.h"
#include "sc-evidence.h"
#include "sc-json.h"
#include "sc-tpm.h"
#include "sc-wire.h"

_printf_(4, 5) static int fail(char *why, size_t why_size, int r, const char *fmt, ...)
{
	va_list ap;

	if (why && why_size) {
		va_start(ap, fmt);
		vsnprintf(why, why_size, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* ---- the E payload (no TSS needed) ---- */

static json_t *json_base64(const void *data, size_t len)
{
	_cleanup_free_ char *out = NULL;
	size_t n;

	if (len > (size_t)SC_WIRE_MAX_PAYLOAD) /* more than a frame carries: refused here already */
		return NULL;
	if (sc_base64_encode(data, len, &out, &n) < 0)
		return NULL;
	return json_stringn(out, n);
}

int sc_evidence_to_json(const char *nonce, const void *report, size_t report_len, const struct sc_tpm_quote *q,
			const void *eventlog, size_t eventlog_len, const void *userlog, size_t userlog_len,
			json_t **ret)
{
	_cleanup_json_ json_t *doc = NULL, *pcrs = NULL, *bank = NULL;
	char hex[2 * SC_TPM_SHA256_LEN + 1];

	if (!nonce || !sc_nonce_valid(nonce, strlen(nonce)))
		return -EINVAL;
	if (eventlog_len > SC_EVIDENCE_EVENTLOG_MAX || userlog_len > SC_EVIDENCE_USERLOG_MAX)
		return -EFBIG;
	doc = json_object();
	pcrs = json_object();
	bank = json_object();
	if (!doc || !pcrs || !bank)
		return -ENOMEM;
	sc_evidence_report_sha256(report, report_len, hex);
	if (sc_json_set(doc, "schema", json_string(SC_EVIDENCE_SCHEMA)) < 0 ||
	    sc_json_set(doc, "nonce", json_stringn(nonce, SC_NONCE_HEX_LEN)) < 0 ||
	    sc_json_set(doc, "report_sha256", json_string(hex)) < 0 ||
	    sc_json_set(doc, "ak_public", json_base64(q->ak_public, q->ak_public_len)) < 0 ||
	    sc_json_set(doc, "quote", json_base64(q->attest, q->attest_len)) < 0 ||
	    sc_json_set(doc, "signature", json_base64(q->signature, q->signature_len)) < 0)
		return -ENOMEM;
	for (unsigned i = 0; i < SC_TPM_PCRS; i++) {
		char key[4];

		if (!(q->pcr_mask & (1u << i)))
			continue;
		snprintf(key, sizeof(key), "%u", i);
		sc_hex_encode(q->pcrs[i], SC_TPM_SHA256_LEN, hex);
		if (sc_json_set(bank, key, json_string(hex)) < 0)
			return -ENOMEM;
	}
	if (sc_json_set(pcrs, "sha256", TAKE_PTR(bank)) < 0 || sc_json_set(doc, "pcrs", TAKE_PTR(pcrs)) < 0 ||
	    sc_json_set(doc, "eventlog", json_base64(eventlog, eventlog_len)) < 0 ||
	    sc_json_set(doc, "userspace_log", userlog ? json_base64(userlog, userlog_len) : json_null()) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(doc);
	return 0;
}

static int read_log(const struct sc_paths *paths, const char *abs, size_t cap, char **ret, size_t *ret_len,
		    char *why, size_t why_size)
{
	_cleanup_free_ char *path = NULL;
	int r;

	*ret = NULL;
	*ret_len = 0;
	if (sc_path_join(paths, abs, &path) < 0)
		return -ENOMEM;
	r = sc_read_file_capped(path, cap, ret, ret_len);
	if (r == -ENOENT)
		return 0;
	if (r == -EFBIG)
		return fail(why, why_size, r, "%s is over its cap of %zu bytes", abs, cap);
	if (r < 0)
		return fail(why, why_size, r, "reading %s: %s", abs, strerror(-r));
	return 0;
}

int sc_evidence_read_logs(const struct sc_paths *paths, char **ret_eventlog, size_t *ret_eventlog_len,
			  char **ret_userlog, size_t *ret_userlog_len, char *why, size_t why_size)
{
	_cleanup_free_ char *ev = NULL, *ul = NULL;
	size_t ev_len, ul_len;
	int r;

	r = read_log(paths, "/sys/kernel/security/tpm0/binary_bios_measurements", SC_EVIDENCE_EVENTLOG_MAX, &ev,
		     &ev_len, why, why_size);
	if (r < 0)
		return r;
	r = read_log(paths, "/run/log/systemd/tpm2-measure.log", SC_EVIDENCE_USERLOG_MAX, &ul, &ul_len, why,
		     why_size);
	if (r < 0)
		return r;
	*ret_eventlog = TAKE_PTR(ev);
	*ret_eventlog_len = ev_len;
	*ret_userlog = TAKE_PTR(ul);
	*ret_userlog_len = ul_len;
	return 0;
}

/* ---- ESAPI ---- */

#if SC_HAVE_TSS2
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "sc-dlopen.h"

static void *esys_dl, *mu_dl, *tctildr_dl;
static __typeof__(Esys_Initialize) *sym_Esys_Initialize;
static __typeof__(Esys_Finalize) *sym_Esys_Finalize;
static __typeof__(Esys_CreatePrimary) *sym_Esys_CreatePrimary;
static __typeof__(Esys_Quote) *sym_Esys_Quote;
static __typeof__(Esys_PCR_Read) *sym_Esys_PCR_Read;
static __typeof__(Esys_FlushContext) *sym_Esys_FlushContext;
static __typeof__(Esys_Free) *sym_Esys_Free;
static __typeof__(Tss2_MU_TPM2B_PUBLIC_Marshal) *sym_Tss2_MU_TPM2B_PUBLIC_Marshal;
static __typeof__(Tss2_MU_TPMT_SIGNATURE_Marshal) *sym_Tss2_MU_TPMT_SIGNATURE_Marshal;
static __typeof__(Tss2_MU_TPMS_ATTEST_Unmarshal) *sym_Tss2_MU_TPMS_ATTEST_Unmarshal;
static __typeof__(Tss2_TctiLdr_Initialize) *sym_Tss2_TctiLdr_Initialize;
static __typeof__(Tss2_TctiLdr_Finalize) *sym_Tss2_TctiLdr_Finalize;
static __typeof__(Esys_TR_FromTPMPublic) *sym_Esys_TR_FromTPMPublic;
static __typeof__(Esys_TR_Close) *sym_Esys_TR_Close;
static __typeof__(Esys_NV_ReadPublic) *sym_Esys_NV_ReadPublic;
static __typeof__(Esys_NV_Read) *sym_Esys_NV_Read;
static __typeof__(Esys_StartAuthSession) *sym_Esys_StartAuthSession;
static __typeof__(Esys_PolicySecret) *sym_Esys_PolicySecret;
static __typeof__(Esys_ActivateCredential) *sym_Esys_ActivateCredential;

struct sc_tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
};

static int load(char *why, size_t why_size)
{
	int r;

	/* tpm2-tss logs to stderr by default; the core never prints. */
	if (setenv("TSS2_LOG", "all+none", 0) < 0)
		return -errno;
	r = sc_dlopen_many(&mu_dl, "libtss2-mu.so.0", why, why_size, SC_DLSYM_ARG(Tss2_MU_TPM2B_PUBLIC_Marshal),
			   SC_DLSYM_ARG(Tss2_MU_TPMT_SIGNATURE_Marshal), SC_DLSYM_ARG(Tss2_MU_TPMS_ATTEST_Unmarshal),
			   NULL);
	if (r < 0)
		return r;
	r = sc_dlopen_many(&tctildr_dl, "libtss2-tctildr.so.0", why, why_size,
			   SC_DLSYM_ARG(Tss2_TctiLdr_Initialize), SC_DLSYM_ARG(Tss2_TctiLdr_Finalize), NULL);
	if (r < 0)
		return r;
	return sc_dlopen_many(&esys_dl, "libtss2-esys.so.0", why, why_size, SC_DLSYM_ARG(Esys_Initialize),
			      SC_DLSYM_ARG(Esys_Finalize), SC_DLSYM_ARG(Esys_CreatePrimary), SC_DLSYM_ARG(Esys_Quote),
			      SC_DLSYM_ARG(Esys_PCR_Read), SC_DLSYM_ARG(Esys_FlushContext), SC_DLSYM_ARG(Esys_Free),
			      SC_DLSYM_ARG(Esys_TR_FromTPMPublic), SC_DLSYM_ARG(Esys_TR_Close),
			      SC_DLSYM_ARG(Esys_NV_ReadPublic), SC_DLSYM_ARG(Esys_NV_Read),
			      SC_DLSYM_ARG(Esys_StartAuthSession), SC_DLSYM_ARG(Esys_PolicySecret),
			      SC_DLSYM_ARG(Esys_ActivateCredential), NULL);
}

void sc_tpm_close(struct sc_tpm *t)
{
	if (!t)
		return;
	if (t->esys)
		sym_Esys_Finalize(&t->esys);
	if (t->tcti)
		sym_Tss2_TctiLdr_Finalize(&t->tcti);
	free(t);
}

static int open_one(const char *conf, struct sc_tpm **ret, char *why, size_t why_size)
{
	_cleanup_tpm_ struct sc_tpm *t = calloc(1, sizeof(*t));
	TSS2_RC rc;

	if (!t)
		return -ENOMEM;
	rc = sym_Tss2_TctiLdr_Initialize(conf, &t->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		t->tcti = NULL;
		return fail(why, why_size, -EIO, "TCTI '%s' refused (TSS2_RC 0x%x)", conf, rc);
	}
	rc = sym_Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		t->esys = NULL;
		return fail(why, why_size, -EIO, "Esys_Initialize over '%s' failed (TSS2_RC 0x%x)", conf, rc);
	}
	*ret = TAKE_PTR(t);
	return 0;
}

int sc_tpm_open(const char *tcti, struct sc_tpm **ret, char *why, size_t why_size)
{
	static const char *const defaults[] = { SC_TPM_TCTI_DEFAULT, SC_TPM_TCTI_FALLBACK };
	int r;

	*ret = NULL;
	if (!tcti) {
		/* Look before loading anything: a guest without a TPM never maps the libraries. */
		for (size_t i = 0; i < ELEMENTSOF(defaults) && !tcti; i++)
			if (access(defaults[i] + strlen("device:"), F_OK) == 0)
				tcti = defaults[i];
		if (!tcti)
			return fail(why, why_size, -ENODEV, "no TPM device (/dev/tpmrm0, /dev/tpm0)");
	}
	r = load(why, why_size);
	if (r < 0)
		return r;
	return open_one(tcti, ret, why, why_size);
}

int sc_tpm_flush(struct sc_tpm *t, uint32_t handle)
{
	return sym_Esys_FlushContext(t->esys, handle) == TSS2_RC_SUCCESS ? 0 : -EIO;
}

/* TPM2_CreatePrimary(TPM_RH_ENDORSEMENT) of @template; @what names it in @why. */
static int create_primary(struct sc_tpm *t, const TPM2B_PUBLIC *template, const char *what, uint32_t *ret_handle,
			  uint8_t public[static SC_TPM_BLOB_MAX], size_t *public_len, char *why, size_t why_size)
{
	const TPM2B_SENSITIVE_CREATE sensitive = { 0 };
	const TPM2B_DATA outside = { 0 };
	const TPML_PCR_SELECTION creation_pcrs = { 0 };
	TPM2B_PUBLIC *out_public = NULL;
	TPM2B_CREATION_DATA *creation_data = NULL;
	TPM2B_DIGEST *creation_hash = NULL;
	TPMT_TK_CREATION *creation_ticket = NULL;
	ESYS_TR handle = ESYS_TR_NONE;
	size_t off = 0;
	TSS2_RC rc;
	int r = 0;

	rc = sym_Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				    &sensitive, template, &outside, &creation_pcrs, &handle, &out_public,
				    &creation_data, &creation_hash, &creation_ticket);
	if (rc != TSS2_RC_SUCCESS)
		return fail(why, why_size, -EIO, "TPM2_CreatePrimary of the %s (endorsement hierarchy) failed (TSS2_RC 0x%x)",
			    what, rc);
	rc = sym_Tss2_MU_TPM2B_PUBLIC_Marshal(out_public, public, SC_TPM_BLOB_MAX, &off);
	if (rc != TSS2_RC_SUCCESS) {
		r = fail(why, why_size, -EMSGSIZE, "marshalling the %s's TPM2B_PUBLIC failed (TSS2_RC 0x%x)", what, rc);
		(void)sc_tpm_flush(t, handle);
	} else {
		*ret_handle = handle;
		*public_len = off;
	}
	sym_Esys_Free(out_public);
	sym_Esys_Free(creation_data);
	sym_Esys_Free(creation_hash);
	sym_Esys_Free(creation_ticket);
	return r;
}

int sc_tpm_create_ak(struct sc_tpm *t, uint32_t *ret_handle, uint8_t public[static SC_TPM_BLOB_MAX],
		     size_t *public_len, char *why, size_t why_size)
{
	/* Exactly the template of sc-evidence.h. */
	const TPM2B_PUBLIC template = {
		.publicArea = {
			.type = TPM2_ALG_RSA,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = SC_AK_ATTRIBUTES,
			.authPolicy = { .size = 0 },
			.parameters.rsaDetail = {
				.symmetric = { .algorithm = TPM2_ALG_NULL },
				.scheme = { .scheme = TPM2_ALG_RSASSA, .details.rsassa.hashAlg = TPM2_ALG_SHA256 },
				.keyBits = 2048,
				.exponent = 0,
			},
			.unique.rsa = { .size = 0 },
		},
	};

	return create_primary(t, &template, "AK", ret_handle, public, public_len, why, why_size);
}

int sc_tpm_create_ek(struct sc_tpm *t, uint32_t *ret_handle, uint8_t public[static SC_TPM_BLOB_MAX],
		     size_t *public_len, char *why, size_t why_size)
{
	/* TCG EK Credential Profile, template L-1 (sc-evidence.h). */
	TPM2B_PUBLIC template = {
		.publicArea = {
			.type = TPM2_ALG_RSA,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = SC_EK_ATTRIBUTES,
			.authPolicy = { .size = 32 },
			.parameters.rsaDetail = {
				.symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB },
				.scheme = { .scheme = TPM2_ALG_NULL },
				.keyBits = 2048,
				.exponent = 0,
			},
			.unique.rsa = { .size = 256 }, /* 256 zero bytes */
		},
	};

	memcpy(template.publicArea.authPolicy.buffer, SC_EK_POLICY_A, 32);
	return create_primary(t, &template, "EK", ret_handle, public, public_len, why, why_size);
}

static int nv_read_all(struct sc_tpm *t, ESYS_TR nv, ESYS_TR auth, uint8_t *buf, uint16_t size)
{
	for (uint16_t off = 0; off < size;) {
		uint16_t n = size - off > 512 ? 512 : (uint16_t)(size - off);
		TPM2B_MAX_NV_BUFFER *data = NULL;
		TSS2_RC rc = sym_Esys_NV_Read(t->esys, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n, off, &data);

		if (rc != TSS2_RC_SUCCESS)
			return -EACCES;
		if (data->size != n) {
			sym_Esys_Free(data);
			return -EBADMSG;
		}
		memcpy(buf + off, data->buffer, n);
		sym_Esys_Free(data);
		off += n;
	}
	return 0;
}

int sc_tpm_read_ek_cert(struct sc_tpm *t, uint8_t **ret, size_t *ret_len, char *why, size_t why_size)
{
	_cleanup_free_ uint8_t *buf = NULL;
	TPM2B_NV_PUBLIC *pub = NULL;
	TPM2B_NAME *name = NULL;
	ESYS_TR nv = ESYS_TR_NONE;
	uint16_t size;
	TSS2_RC rc;
	int r;

	*ret = NULL;
	*ret_len = 0;
	rc = sym_Esys_TR_FromTPMPublic(t->esys, SC_EK_NV_INDEX_RSA, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
	if (rc != TSS2_RC_SUCCESS)
		return fail(why, why_size, -ENOENT, "no EK certificate (NV index 0x%08x)", SC_EK_NV_INDEX_RSA);
	rc = sym_Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name);
	if (rc != TSS2_RC_SUCCESS) {
		(void)sym_Esys_TR_Close(t->esys, &nv);
		return fail(why, why_size, -EIO, "TPM2_NV_ReadPublic of 0x%08x failed (TSS2_RC 0x%x)", SC_EK_NV_INDEX_RSA, rc);
	}
	size = pub->nvPublic.dataSize;
	sym_Esys_Free(pub);
	sym_Esys_Free(name);
	if (size == 0 || size > SC_EVIDENCE_EK_CERT_MAX) {
		(void)sym_Esys_TR_Close(t->esys, &nv);
		return fail(why, why_size, -EFBIG, "the EK certificate index holds %u bytes (cap %u)", size,
			    SC_EVIDENCE_EK_CERT_MAX);
	}
	buf = malloc(size);
	if (!buf) {
		(void)sym_Esys_TR_Close(t->esys, &nv);
		return -ENOMEM;
	}
	r = nv_read_all(t, nv, nv, buf, size);
	if (r == -EACCES) /* an index without AUTHREAD: the owner may read it (OWNERREAD) */
		r = nv_read_all(t, nv, ESYS_TR_RH_OWNER, buf, size);
	(void)sym_Esys_TR_Close(t->esys, &nv);
	if (r < 0)
		return fail(why, why_size, r, "reading the EK certificate (NV index 0x%08x) failed", SC_EK_NV_INDEX_RSA);
	*ret = TAKE_PTR(buf);
	*ret_len = size;
	return 0;
}

int sc_tpm_activate(struct sc_tpm *t, uint32_t ak, uint32_t ek, const uint8_t *blob, size_t blob_len,
		    const uint8_t *secret, size_t secret_len, uint8_t out[static 64], size_t *out_len, char *why,
		    size_t why_size)
{
	const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	TPM2B_ID_OBJECT cred = { 0 };
	TPM2B_ENCRYPTED_SECRET enc = { 0 };
	TPM2B_DIGEST *got = NULL;
	TPM2B_TIMEOUT *timeout = NULL;
	TPMT_TK_AUTH *ticket = NULL;
	ESYS_TR session = ESYS_TR_NONE;
	TSS2_RC rc;
	int r = 0;

	/* Both are marshalled TPM2Bs whose size field is the rest (sc_credential_challenge_parse()). */
	if (blob_len < 2 || blob_len - 2 > sizeof(cred.credential) || secret_len < 2 ||
	    secret_len - 2 > sizeof(enc.secret))
		return fail(why, why_size, -EINVAL, "the credential is over the TPM's sizes");
	cred.size = (uint16_t)(blob_len - 2);
	memcpy(cred.credential, blob + 2, cred.size);
	enc.size = (uint16_t)(secret_len - 2);
	memcpy(enc.secret, secret + 2, enc.size);

	rc = sym_Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				       NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &session);
	if (rc != TSS2_RC_SUCCESS)
		return fail(why, why_size, -EIO, "TPM2_StartAuthSession (policy) failed (TSS2_RC 0x%x)", rc);
	/* Policy A: the endorsement hierarchy's (empty) auth. */
	rc = sym_Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, session, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, NULL, NULL, 0, &timeout, &ticket);
	sym_Esys_Free(timeout);
	sym_Esys_Free(ticket);
	if (rc != TSS2_RC_SUCCESS) {
		(void)sc_tpm_flush(t, session);
		return fail(why, why_size, -EIO, "TPM2_PolicySecret(TPM_RH_ENDORSEMENT) failed (TSS2_RC 0x%x)", rc);
	}
	rc = sym_Esys_ActivateCredential(t->esys, ak, ek, ESYS_TR_PASSWORD, session, ESYS_TR_NONE, &cred, &enc, &got);
	if (rc != TSS2_RC_SUCCESS)
		r = fail(why, why_size, -EPERM, "TPM2_ActivateCredential refused the credential (TSS2_RC 0x%x)", rc);
	else if (got->size == 0 || got->size > 64)
		r = fail(why, why_size, -EBADMSG, "TPM2_ActivateCredential returned %u bytes", got->size);
	else {
		memcpy(out, got->buffer, got->size);
		*out_len = got->size;
	}
	sym_Esys_Free(got);
	/* A policy session used once: flushed here unless the TPM already did (continueSession clear). */
	(void)sc_tpm_flush(t, session);
	return r;
}

static void selection_of(uint32_t mask, TPML_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	for (unsigned i = 0; i < 3; i++)
		sel->pcrSelections[0].pcrSelect[i] = (uint8_t)(mask >> (8 * i));
}

int sc_tpm_pcr_read(struct sc_tpm *t, uint32_t mask, uint8_t values[SC_TPM_PCRS][SC_TPM_SHA256_LEN], char *why,
		    size_t why_size)
{
	uint32_t left = mask & ((1u << SC_TPM_PCRS) - 1);

	if (left != mask)
		return fail(why, why_size, -EINVAL, "PCR mask 0x%x beyond PCR 23", mask);
	while (left) {
		TPML_PCR_SELECTION in, *out = NULL;
		TPML_DIGEST *digests = NULL;
		uint32_t counter, got = 0;
		size_t k = 0;
		TSS2_RC rc;
		int r = 0;

		selection_of(left, &in);
		rc = sym_Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &in, &counter, &out, &digests);
		if (rc != TSS2_RC_SUCCESS)
			return fail(why, why_size, -EIO, "TPM2_PCR_Read failed (TSS2_RC 0x%x)", rc);
		/* The digests follow the returned selection's bits, lowest PCR first. */
		for (uint32_t b = 0; b < out->count && r == 0; b++) {
			const TPMS_PCR_SELECTION *s = &out->pcrSelections[b];

			if (s->hash != TPM2_ALG_SHA256)
				r = fail(why, why_size, -EBADMSG, "TPM2_PCR_Read returned bank 0x%x", s->hash);
			for (unsigned i = 0; r == 0 && i < 8u * s->sizeofSelect && i < SC_TPM_PCRS; i++) {
				if (!(s->pcrSelect[i / 8] & (1u << (i % 8))))
					continue;
				if (!(left & (1u << i)) || k >= digests->count ||
				    digests->digests[k].size != SC_TPM_SHA256_LEN)
					r = fail(why, why_size, -EBADMSG, "TPM2_PCR_Read returned PCR %u unasked or malformed", i);
				else {
					memcpy(values[i], digests->digests[k++].buffer, SC_TPM_SHA256_LEN);
					got |= 1u << i;
				}
			}
		}
		if (r == 0 && k != digests->count)
			r = fail(why, why_size, -EBADMSG, "TPM2_PCR_Read returned more digests than PCRs");
		if (r == 0 && got == 0)
			r = fail(why, why_size, -EIO, "TPM2_PCR_Read returned none of PCRs 0x%x", left);
		sym_Esys_Free(out);
		sym_Esys_Free(digests);
		if (r < 0)
			return r;
		left &= ~got;
	}
	return 0;
}

static void pcr_digest(uint32_t mask, uint8_t values[SC_TPM_PCRS][SC_TPM_SHA256_LEN], uint8_t out[32])
{
	uint8_t all[SC_TPM_PCRS * SC_TPM_SHA256_LEN];
	size_t n = 0;

	for (unsigned i = 0; i < SC_TPM_PCRS; i++)
		if (mask & (1u << i)) {
			memcpy(all + n, values[i], SC_TPM_SHA256_LEN);
			n += SC_TPM_SHA256_LEN;
		}
	SHA256(all, n, out);
}

/* One try: 1 when the PCRs changed under it, 0 done, or a negative errno. */
static int quote_once(struct sc_tpm *t, uint32_t ak, const uint8_t qualifying[32], uint32_t mask,
		      struct sc_tpm_quote *q, char *why, size_t why_size)
{
	uint8_t after[SC_TPM_PCRS][SC_TPM_SHA256_LEN], digest[32];
	TPM2B_DATA qd = { .size = 32 };
	const TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_RSASSA, .details.rsassa.hashAlg = TPM2_ALG_SHA256 };
	TPML_PCR_SELECTION sel;
	TPM2B_ATTEST *quoted = NULL;
	TPMT_SIGNATURE *signature = NULL;
	TPMS_ATTEST attest;
	size_t off = 0;
	TSS2_RC rc;
	int r;

	memcpy(qd.buffer, qualifying, 32);
	selection_of(mask, &sel);
	r = sc_tpm_pcr_read(t, mask, q->pcrs, why, why_size);
	if (r < 0)
		return r;
	rc = sym_Esys_Quote(t->esys, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qd, &scheme, &sel, &quoted,
			    &signature);
	if (rc != TSS2_RC_SUCCESS)
		return fail(why, why_size, -EIO, "TPM2_Quote failed (TSS2_RC 0x%x)", rc);
	if (quoted->size > sizeof(q->attest))
		r = fail(why, why_size, -EMSGSIZE, "the quote's TPMS_ATTEST is %u bytes", quoted->size);
	else {
		memcpy(q->attest, quoted->attestationData, quoted->size);
		q->attest_len = quoted->size;
		rc = sym_Tss2_MU_TPMT_SIGNATURE_Marshal(signature, q->signature, sizeof(q->signature), &off);
		if (rc != TSS2_RC_SUCCESS)
			r = fail(why, why_size, -EMSGSIZE, "marshalling the TPMT_SIGNATURE failed (TSS2_RC 0x%x)", rc);
		q->signature_len = off;
	}
	sym_Esys_Free(quoted);
	sym_Esys_Free(signature);
	if (r < 0)
		return r;
	off = 0;
	rc = sym_Tss2_MU_TPMS_ATTEST_Unmarshal(q->attest, q->attest_len, &off, &attest);
	if (rc != TSS2_RC_SUCCESS || off != q->attest_len || attest.type != TPM2_ST_ATTEST_QUOTE)
		return fail(why, why_size, -EBADMSG, "the TPM's quote does not unmarshal as a TPMS_ATTEST quote");
	r = sc_tpm_pcr_read(t, mask, after, why, why_size);
	if (r < 0)
		return r;
	pcr_digest(mask, q->pcrs, digest);
	for (unsigned i = 0; i < SC_TPM_PCRS; i++)
		if ((mask & (1u << i)) && memcmp(after[i], q->pcrs[i], SC_TPM_SHA256_LEN) != 0)
			return 1;
	if (attest.attested.quote.pcrDigest.size != sizeof(digest) ||
	    memcmp(attest.attested.quote.pcrDigest.buffer, digest, sizeof(digest)) != 0)
		return 1;
	q->pcr_mask = mask;
	return 0;
}

int sc_tpm_quote(struct sc_tpm *t, const uint8_t qualifying[static 32], uint32_t pcr_mask, struct sc_tpm_quote *ret,
		 char *why, size_t why_size)
{
	uint32_t ak;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = sc_tpm_create_ak(t, &ak, ret->ak_public, &ret->ak_public_len, why, why_size);
	if (r < 0)
		return r;
	r = quote_once(t, ak, qualifying, pcr_mask, ret, why, why_size);
	if (r == 1) /* a PCR was extended meanwhile (boot is still measuring): once more */
		r = quote_once(t, ak, qualifying, pcr_mask, ret, why, why_size);
	if (r == 1)
		r = fail(why, why_size, -EAGAIN, "the PCRs changed during the quote twice");
	if (sc_tpm_flush(t, ak) < 0 && r == 0)
		r = fail(why, why_size, -EIO, "flushing the AK failed");
	return r;
}
#else
void sc_tpm_close(struct sc_tpm *t)
{
}

int sc_tpm_open(const char *tcti, struct sc_tpm **ret, char *why, size_t why_size)
{
	*ret = NULL;
	return fail(why, why_size, -EOPNOTSUPP, "built without the tpm2-tss headers (libtss2-dev)");
}

int sc_tpm_flush(struct sc_tpm *t, uint32_t handle)
{
	return -EOPNOTSUPP;
}

int sc_tpm_create_ak(struct sc_tpm *t, uint32_t *ret_handle, uint8_t public[static SC_TPM_BLOB_MAX],
		     size_t *public_len, char *why, size_t why_size)
{
	return fail(why, why_size, -EOPNOTSUPP, "built without the tpm2-tss headers (libtss2-dev)");
}

int sc_tpm_pcr_read(struct sc_tpm *t, uint32_t mask, uint8_t values[SC_TPM_PCRS][SC_TPM_SHA256_LEN], char *why,
		    size_t why_size)
{
	return fail(why, why_size, -EOPNOTSUPP, "built without the tpm2-tss headers (libtss2-dev)");
}

int sc_tpm_create_ek(struct sc_tpm *t, uint32_t *ret_handle, uint8_t public[static SC_TPM_BLOB_MAX],
		     size_t *public_len, char *why, size_t why_size)
{
	return fail(why, why_size, -EOPNOTSUPP, "built without the tpm2-tss headers (libtss2-dev)");
}

int sc_tpm_read_ek_cert(struct sc_tpm *t, uint8_t **ret, size_t *ret_len, char *why, size_t why_size)
{
	return fail(why, why_size, -EOPNOTSUPP, "built without the tpm2-tss headers (libtss2-dev)");
}

int sc_tpm_activate(struct sc_tpm *t, uint32_t ak, uint32_t ek, const uint8_t *blob, size_t blob_len,
		    const uint8_t *secret, size_t secret_len, uint8_t out[static 64], size_t *out_len, char *why,
		    size_t why_size)
{
	return fail(why, why_size, -EOPNOTSUPP, "built without the tpm2-tss headers (libtss2-dev)");
}

int sc_tpm_quote(struct sc_tpm *t, const uint8_t qualifying[static 32], uint32_t pcr_mask, struct sc_tpm_quote *ret,
		 char *why, size_t why_size)
{
	return fail(why, why_size, -EOPNOTSUPP, "built without the tpm2-tss headers (libtss2-dev)");
}
#endif

static bool root_is_system(const struct sc_paths *paths)
{
	return !paths->root || !paths->root[0] || strcmp(paths->root, "/") == 0;
}

int sc_evidence_collect(const struct sc_paths *paths, const char *tcti, const char *nonce, const void *report,
			size_t report_len, char **ret, size_t *ret_len, char *why, size_t why_size)
{
	_cleanup_tpm_ struct sc_tpm *t = NULL;
	_cleanup_free_ struct sc_tpm_quote *q = NULL;
	_cleanup_free_ char *ev = NULL, *ul = NULL;
	_cleanup_json_ json_t *doc = NULL;
	uint8_t qualifying[32];
	size_t ev_len, ul_len;
	char *text;
	int r;

	if (!tcti && !root_is_system(paths))
		return fail(why, why_size, -ENODEV, "the TPM is live state, not looked for under --root (name a TCTI)");
	r = sc_evidence_qualifying_data(nonce, report, report_len, qualifying);
	if (r < 0)
		return fail(why, why_size, r, "no valid nonce to bind");
	r = sc_tpm_open(tcti, &t, why, why_size);
	if (r < 0)
		return r;
	r = sc_evidence_read_logs(paths, &ev, &ev_len, &ul, &ul_len, why, why_size);
	if (r < 0)
		return r;
	q = malloc(sizeof(*q));
	if (!q)
		return -ENOMEM;
	r = sc_tpm_quote(t, qualifying, SC_EVIDENCE_PCR_MASK, q, why, why_size);
	if (r < 0)
		return r;
	r = sc_evidence_to_json(nonce, report, report_len, q, ev ? ev : "", ev_len, ul, ul_len, &doc);
	if (r < 0)
		return fail(why, why_size, r, "building the evidence JSON: %s", strerror(-r));
	text = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!text)
		return -ENOMEM;
	*ret = text;
	*ret_len = strlen(text);
	return 0;
}

static int open_live(const struct sc_paths *paths, const char *tcti, struct sc_tpm **t, char *why, size_t why_size)
{
	if (!tcti && !root_is_system(paths))
		return fail(why, why_size, -ENODEV, "the TPM is live state, not looked for under --root (name a TCTI)");
	return sc_tpm_open(tcti, t, why, why_size);
}

static int dump_compact(json_t *doc, char **ret, size_t *ret_len)
{
	char *text = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);

	if (!text)
		return -ENOMEM;
	*ret = text;
	*ret_len = strlen(text);
	return 0;
}

void sc_ek_done(struct sc_ek *ek)
{
	free(ek->cert);
	memset(ek, 0, sizeof(*ek));
}

int sc_ek_read(const struct sc_paths *paths, const char *tcti, struct sc_ek *ret, char *why, size_t why_size)
{
	_cleanup_tpm_ struct sc_tpm *t = NULL;
	_cleanup_free_ uint8_t *cert = NULL;
	size_t cert_len = 0;
	uint32_t ek;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = open_live(paths, tcti, &t, why, why_size);
	if (r < 0)
		return r;
	r = sc_tpm_create_ek(t, &ek, ret->public, &ret->public_len, why, why_size);
	if (r < 0)
		return r;
	if (sc_tpm_flush(t, ek) < 0)
		return fail(why, why_size, -EIO, "flushing the EK failed");
	r = sc_tpm_read_ek_cert(t, &cert, &cert_len, why, why_size);
	if (r < 0 && r != -ENOENT)
		return r;
	ret->cert = TAKE_PTR(cert);
	ret->cert_len = cert_len;
	return 0;
}

int sc_ek_document(const struct sc_ek *ek, const char *nonce, char **ret, size_t *ret_len)
{
	_cleanup_json_ json_t *doc = NULL;

	if (!nonce || !sc_nonce_valid(nonce, strlen(nonce)) || ek->public_len == 0)
		return -EINVAL;
	doc = json_object();
	if (!doc || sc_json_set(doc, "schema", json_string(SC_EK_SCHEMA)) < 0 ||
	    sc_json_set(doc, "nonce", json_stringn(nonce, SC_NONCE_HEX_LEN)) < 0 ||
	    sc_json_set(doc, "ek_public", json_base64(ek->public, ek->public_len)) < 0 ||
	    sc_json_set(doc, "ek_cert", ek->cert ? json_base64(ek->cert, ek->cert_len) : json_null()) < 0)
		return -ENOMEM;
	return dump_compact(doc, ret, ret_len);
}

int sc_ek_collect(const struct sc_paths *paths, const char *tcti, const char *nonce, char **ret, size_t *ret_len,
		  char *why, size_t why_size)
{
	_cleanup_(sc_ek_done) struct sc_ek ek = { 0 };
	int r;

	if (!nonce || !sc_nonce_valid(nonce, strlen(nonce)))
		return fail(why, why_size, -EINVAL, "no valid nonce to bind");
	r = sc_ek_read(paths, tcti, &ek, why, why_size);
	if (r < 0)
		return r;
	return sc_ek_document(&ek, nonce, ret, ret_len);
}

int sc_credential_respond(const struct sc_paths *paths, const char *tcti, const struct sc_credential_challenge *c,
			  bool corrupt, char **ret, size_t *ret_len, char *why, size_t why_size)
{
	_cleanup_tpm_ struct sc_tpm *t = NULL;
	_cleanup_json_ json_t *doc = NULL;
	uint8_t pub[SC_TPM_BLOB_MAX], secret[64], answer[SC_CREDENTIAL_ANSWER_LEN];
	char hex[2 * SC_CREDENTIAL_ANSWER_LEN + 1];
	size_t pub_len = 0, secret_len = 0;
	uint32_t ak, ek;
	int r;

	r = open_live(paths, tcti, &t, why, why_size);
	if (r < 0)
		return r;
	r = sc_tpm_create_ak(t, &ak, pub, &pub_len, why, why_size);
	if (r < 0)
		return r;
	r = sc_tpm_create_ek(t, &ek, pub, &pub_len, why, why_size);
	if (r < 0) {
		(void)sc_tpm_flush(t, ak);
		return r;
	}
	r = sc_tpm_activate(t, ak, ek, c->blob, c->blob_len, c->secret, c->secret_len, secret, &secret_len, why,
			    why_size);
	(void)sc_tpm_flush(t, ek);
	(void)sc_tpm_flush(t, ak);
	if (r < 0)
		return r;
	r = sc_credential_answer(secret, secret_len, c->nonce, answer);
	explicit_bzero(secret, sizeof(secret));
	if (r < 0)
		return fail(why, why_size, r, "computing the answer failed");
	if (corrupt)
		answer[0] ^= 1;
	sc_hex_encode(answer, sizeof(answer), hex);
	doc = json_object();
	if (!doc || sc_json_set(doc, "schema", json_string(SC_ANSWER_SCHEMA)) < 0 ||
	    sc_json_set(doc, "nonce", json_stringn(c->nonce, SC_NONCE_HEX_LEN)) < 0 ||
	    sc_json_set(doc, "answer", json_string(hex)) < 0)
		return -ENOMEM;
	return dump_compact(doc, ret, ret_len);
}
