/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Binding the AK to the EK (host-probe/verify/probe-credential.h, agent/core/sc-tpm.h):
 *  - known answers for KDFa and the credential blob with an injected seed,
 *    from an independent reference (tests/unit/credential-kat.py, python's
 *    `cryptography`), and RSA-OAEP "IDENTITY\0" opened by OpenSSL's private key;
 *  - end to end on real swtpms made by swtpm_setup with local CAs as libvirt's
 *    are: the agent's EK (template L-1) and its certificate from NV 0x01c00002
 *    chain to the right CA and not to another; the host's MakeCredential is
 *    opened by the agent's ActivateCredential and by tpm2-tools'
 *    tpm2_activatecredential (and tpm2_makecredential's by the agent); a
 *    credential for an AK of another TPM, or to another TPM's EK, is refused;
 *  - the host's challenge and the answer check: right, wrong, other nonce.
 * Exit 77 (skipped) only when swtpm or tpm2-tools are not installed.
 */
#include "unit.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "sc-base64.h"
#include "probe-credential.h"
#include "probe-evidence.h"
#include "probe-session.h"
#include "sc-fileio.h"
#include "sc-wire.h"
#include "probe-tpm-state.h"
#include "probe-tpm.h"
#include "sc-digest.h"
#include "sc-evidence.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "swtpm-test.h"
#include "sc-tpm.h"

/* From tests/unit/credential-kat.py. */
#define KAT_SYMKEY "a00e055e3ed77b7e367859e4996afb60"
#define KAT_HMACKEY "094f9376bf7def7a00894381e0887d107ee8c0f04e09748c5dc96b7be9232c5a"
#define KAT_BLOB                                                                                                   \
	"00440020c65e2dec0e165c9bcd193484bf5f61960a7edb1514b634d7bdfe38520d6c9fd09518e04ba745c6b02574282d8179dbfb24b" \
	"e99d1941c95d02fc6e3262ae3b203b4ee"

static const char nonce_a[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char nonce_b[] = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

static void kat_inputs(uint8_t seed[32], uint8_t name[34], uint8_t secret[32])
{
	uint8_t h[PROBE_TPM_HASH_MAX];

	for (int i = 0; i < 32; i++) {
		seed[i] = (uint8_t)(i + 1);
		secret[i] = (uint8_t)(0xa0 + i);
	}
	name[0] = 0x00;
	name[1] = 0x0b;
	assert_int_equal(probe_tpm_hash(PROBE_TPM_ALG_SHA256, "sealcheck test AK", 17, h), 0);
	memcpy(name + 2, h, 32);
}

/* An EK-shaped public area (template L-1) around @modulus. */
static struct probe_tpm_public ek_like(const uint8_t *modulus)
{
	struct probe_tpm_public ek = {
		.type = PROBE_TPM_ALG_RSA, .name_alg = PROBE_TPM_ALG_SHA256, .attributes = SC_EK_ATTRIBUTES,
		.auth_policy_len = 32, .symmetric = 0x0006, .sym_bits = 128, .sym_mode = 0x0043,
		.scheme = PROBE_TPM_ALG_NULL, .key_bits = 2048, .modulus_len = 256,
	};

	memcpy(ek.auth_policy, SC_EK_POLICY_A, 32);
	if (modulus)
		memcpy(ek.modulus, modulus, 256);
	return ek;
}

static void hex_equal(const uint8_t *got, size_t len, const char *want)
{
	_cleanup_free_ char *hex = malloc(2 * len + 1);

	assert_non_null(hex);
	sc_hex_encode(got, len, hex);
	assert_string_equal(hex, want);
}

static void test_kdfa_known_answer(void **state)
{
	uint8_t seed[32], name[34], secret[32], out[32];

	kat_inputs(seed, name, secret);
	assert_int_equal(probe_kdfa(PROBE_TPM_ALG_SHA256, seed, 32, "STORAGE", name, 34, NULL, 0, 128, out), 0);
	hex_equal(out, 16, KAT_SYMKEY);
	assert_int_equal(probe_kdfa(PROBE_TPM_ALG_SHA256, seed, 32, "INTEGRITY", NULL, 0, NULL, 0, 256, out), 0);
	hex_equal(out, 32, KAT_HMACKEY);
	/* Bits not a whole number of bytes, or an unknown hash, are refused. */
	assert_int_equal(probe_kdfa(PROBE_TPM_ALG_SHA256, seed, 32, "X", NULL, 0, NULL, 0, 12, out), -EINVAL);
	assert_int_equal(probe_kdfa(0x1234, seed, 32, "X", NULL, 0, NULL, 0, 128, out), -EINVAL);
}

static void test_blob_known_answer(void **state)
{
	struct probe_tpm_public ek = ek_like(NULL);
	uint8_t seed[32], name[34], secret[32], blob[SC_CREDENTIAL_BLOB_MAX];
	size_t len = 0;
	char why[200];

	kat_inputs(seed, name, secret);
	assert_int_equal(probe_credential_wrap(&ek, seed, 32, name, 34, secret, 32, blob, &len, why, sizeof(why)), 0);
	assert_int_equal(len, strlen(KAT_BLOB) / 2);
	hex_equal(blob, len, KAT_BLOB);
	/* Another Name, another blob (the Name is in the key and the HMAC). */
	name[33] ^= 1;
	assert_int_equal(probe_credential_wrap(&ek, seed, 32, name, 34, secret, 32, blob, &len, why, sizeof(why)), 0);
	{
		char hex[2 * SC_CREDENTIAL_BLOB_MAX + 1];

		sc_hex_encode(blob, len, hex);
		assert_string_not_equal(hex, KAT_BLOB);
	}
	/* A secret longer than the nameAlg's digest, or an EK without AES-CFB: refused. */
	assert_int_equal(probe_credential_wrap(&ek, seed, 32, name, 34, blob, 33, blob, &len, why, sizeof(why)), -EINVAL);
	ek.sym_mode = 0x0044;
	assert_int_equal(probe_credential_wrap(&ek, seed, 32, name, 34, secret, 32, blob, &len, why, sizeof(why)),
			 -EOPNOTSUPP);
}

/* The seed sealed to an RSA key opens with its private key under OAEP-SHA256, label "IDENTITY\0". */
static void test_seal_seed_oaep(void **state)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	BIGNUM *n = NULL;
	uint8_t modulus[256], seed[32], out[SC_CREDENTIAL_SECRET_MAX], back[256];
	size_t out_len = 0, back_len = sizeof(back);
	struct probe_tpm_public ek;
	EVP_PKEY_CTX *ctx;
	char why[200];

	assert_non_null(key);
	assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n), 1);
	assert_int_equal(BN_bn2binpad(n, modulus, 256), 256);
	BN_free(n);
	ek = ek_like(modulus);
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)(0x55 ^ i);
	assert_int_equal(probe_credential_seal_seed(&ek, seed, 32, out, &out_len, why, sizeof(why)), 0);
	assert_int_equal(out_len, 2 + 256);
	assert_int_equal(out[0] << 8 | out[1], 256);
	ctx = EVP_PKEY_CTX_new(key, NULL);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()), 1);
	{
		unsigned char *l = OPENSSL_memdup("IDENTITY", 9);

		assert_int_equal(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, 9), 1);
	}
	assert_int_equal(EVP_PKEY_decrypt(ctx, back, &back_len, out + 2, 256), 1);
	assert_int_equal(back_len, 32);
	assert_memory_equal(back, seed, 32);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
}

static void test_challenge_parse(void **state)
{
	struct sc_credential_challenge c;
	char ok[400];

	snprintf(ok, sizeof(ok), "{\"schema\":\"%s\",\"nonce\":\"%s\",\"credential_blob\":\"0002abcd\",\"secret\":\"0001ff\"}",
		 SC_CHALLENGE_SCHEMA, nonce_a);
	assert_int_equal(sc_credential_challenge_parse(ok, strlen(ok), &c), 0);
	assert_string_equal(c.nonce, nonce_a);
	assert_int_equal(c.blob_len, 4);
	assert_int_equal(c.secret_len, 3);
	/* A size field that is not the rest, upper-case hex, an unknown key, another schema: refused. */
	snprintf(ok, sizeof(ok), "{\"schema\":\"%s\",\"nonce\":\"%s\",\"credential_blob\":\"0003abcd\",\"secret\":\"0001ff\"}",
		 SC_CHALLENGE_SCHEMA, nonce_a);
	assert_int_equal(sc_credential_challenge_parse(ok, strlen(ok), &c), -EBADMSG);
	snprintf(ok, sizeof(ok), "{\"schema\":\"%s\",\"nonce\":\"%s\",\"credential_blob\":\"0002ABCD\",\"secret\":\"0001ff\"}",
		 SC_CHALLENGE_SCHEMA, nonce_a);
	assert_int_equal(sc_credential_challenge_parse(ok, strlen(ok), &c), -EBADMSG);
	snprintf(ok, sizeof(ok), "{\"schema\":\"%s\",\"nonce\":\"%s\",\"credential_blob\":\"0002abcd\",\"secret\":\"0001ff\",\"x\":1}",
		 SC_CHALLENGE_SCHEMA, nonce_a);
	assert_int_equal(sc_credential_challenge_parse(ok, strlen(ok), &c), -EBADMSG);
	snprintf(ok, sizeof(ok), "{\"schema\":\"x\",\"nonce\":\"%s\",\"credential_blob\":\"0002abcd\",\"secret\":\"0001ff\"}", nonce_a);
	assert_int_equal(sc_credential_challenge_parse(ok, strlen(ok), &c), -EBADMSG);
}

/* ---- real swtpms ---- */

struct tpm {
	char dir[64];
	pid_t pid;
	char tcti[96];
	char ca[160]; /* the local CA's root and issuer certificates, one PEM bundle */
	bool made;    /* dir exists (mkdtemp's letters may include an X: no guessing from the name) */
};
/* As libvirt runs swtpm_setup: --vmid "<name>:<uuid>", which swtpm-localca makes the EK certificate's CN. */
#define VMID_A "vm-a:0b6b7b6e-1111-2222-3333-44445555aaaa"
#define VMID_B "vm-b:0b6b7b6e-1111-2222-3333-44445555bbbb"
static struct tpm tpm_a = { "/tmp/sealcheck-test-cred-a-XXXXXX" }, tpm_b = { "/tmp/sealcheck-test-cred-b-XXXXXX" };

/* swtpm_setup with a local CA of its own (as libvirt's, with /etc/swtpm-localca.conf), then swtpm on loopback. */
static int tpm_start(struct tpm *t)
{
	char cmd[2048];

	if (!mkdtemp(t->dir))
		return -1;
	t->made = true;
	snprintf(cmd, sizeof(cmd),
		 "set -e; d='%s'; mkdir -p $d/localca;"
		 "printf 'statedir = %%s\\nsigningkey = %%s\\nissuercert = %%s\\ncertserial = %%s\\n' $d/localca "
		 "$d/localca/signkey.pem $d/localca/issuercert.pem $d/localca/certserial >$d/lca.conf;"
		 "printf -- '--platform-manufacturer sealcheck\\n--platform-version 2.1\\n--platform-model QEMU\\n' >$d/lca.opts;"
		 "printf 'create_certs_tool = /usr/bin/swtpm_localca\\ncreate_certs_tool_config = %%s\\n"
		 "create_certs_tool_options = %%s\\nactive_pcr_banks = sha256\\n' $d/lca.conf $d/lca.opts >$d/setup.conf;"
		 "swtpm_setup --tpm2 --tpmstate $d --createek --create-ek-cert --lock-nvram --config $d/setup.conf "
		 "--vmid '%s' --not-overwrite >$d/setup.log 2>&1;"
		 "cat $d/localca/swtpm-localca-rootca-cert.pem $d/localca/issuercert.pem >$d/ca.pem",
		 t->dir, t == &tpm_a ? VMID_A : VMID_B);
	if (system(cmd) != 0)
		return -1;
	snprintf(t->ca, sizeof(t->ca), "%s/ca.pem", t->dir);
	return test_swtpm_start(t->dir, &t->pid, t->tcti, sizeof(t->tcti));
}

static void tpm_stop(struct tpm *t)
{
	char cmd[160];

	test_swtpm_stop(&t->pid);
	if (!t->made)
		return;
	t->made = false;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", t->dir);
}

static int teardown_tpms(void **state)
{
	tpm_stop(&tpm_a);
	tpm_stop(&tpm_b);
	return 0;
}

static int setup_tpms(void **state)
{
	if (tpm_start(&tpm_a) < 0 || tpm_start(&tpm_b) < 0) {
		/* cmocka runs no teardown after a failed setup: stop what started. */
		(void)teardown_tpms(state);
		return -1;
	}
	return 0;
}

/* What the agent's TPM says: EK public (parsed), its certificate, the AK's Name. */
struct agent_view {
	uint8_t ek_raw[SC_TPM_BLOB_MAX], ak_raw[SC_TPM_BLOB_MAX];
	size_t ek_raw_len, ak_raw_len;
	struct probe_tpm_public ek, ak;
	uint8_t *cert;
	size_t cert_len;
};

static void agent_view(const struct tpm *t, struct agent_view *v)
{
	_cleanup_tpm_ struct sc_tpm *tpm = NULL;
	uint32_t ek, ak;
	char why[256];

	memset(v, 0, sizeof(*v));
	assert_int_equal(sc_tpm_open(t->tcti, &tpm, why, sizeof(why)), 0);
	assert_int_equal(sc_tpm_create_ek(tpm, &ek, v->ek_raw, &v->ek_raw_len, why, sizeof(why)), 0);
	assert_int_equal(sc_tpm_create_ak(tpm, &ak, v->ak_raw, &v->ak_raw_len, why, sizeof(why)), 0);
	assert_int_equal(sc_tpm_flush(tpm, ek), 0);
	assert_int_equal(sc_tpm_flush(tpm, ak), 0);
	assert_int_equal(sc_tpm_read_ek_cert(tpm, &v->cert, &v->cert_len, why, sizeof(why)), 0);
	assert_int_equal(probe_tpm2b_public_parse(v->ek_raw, v->ek_raw_len, &v->ek, why, sizeof(why)), 0);
	assert_int_equal(probe_tpm2b_public_parse(v->ak_raw, v->ak_raw_len, &v->ak, why, sizeof(why)), 0);
}

/* The agent's side of a challenge: ActivateCredential on @t. Returns its result and the secret. */
static int agent_activate(const struct tpm *t, const struct probe_credential *c, uint8_t out[64], size_t *out_len)
{
	_cleanup_tpm_ struct sc_tpm *tpm = NULL;
	uint8_t pub[SC_TPM_BLOB_MAX];
	size_t pub_len;
	uint32_t ek, ak;
	char why[256];
	int r;

	assert_int_equal(sc_tpm_open(t->tcti, &tpm, why, sizeof(why)), 0);
	assert_int_equal(sc_tpm_create_ak(tpm, &ak, pub, &pub_len, why, sizeof(why)), 0);
	assert_int_equal(sc_tpm_create_ek(tpm, &ek, pub, &pub_len, why, sizeof(why)), 0);
	r = sc_tpm_activate(tpm, ak, ek, c->blob, c->blob_len, c->secret, c->secret_len, out, out_len, why, sizeof(why));
	if (r < 0)
		fprintf(stderr, "# activation refused: %s\n", why);
	(void)sc_tpm_flush(tpm, ek);
	(void)sc_tpm_flush(tpm, ak);
	return r;
}

static void test_ek_cert_chain(void **state)
{
	struct agent_view a, b;
	char why[300], issuer[160];

	agent_view(&tpm_a, &a);
	agent_view(&tpm_b, &b);
	assert_int_equal(probe_ek_public_check(&a.ek, why, sizeof(why)), 0);
	assert_int_equal(probe_tpm_ak_check(&a.ak, why, sizeof(why)), 0);
	/* The agent's EK is the one its certificate certifies, under its own CA. */
	assert_int_equal(probe_ek_cert_check(a.cert, a.cert_len, tpm_a.ca, &a.ek, NULL, issuer, sizeof(issuer), why, sizeof(why)), 0);
	assert_non_null(strstr(issuer, "swtpm-localca"));
	/* Another CA: refused, naming the chain. */
	assert_int_equal(probe_ek_cert_check(a.cert, a.cert_len, tpm_b.ca, &a.ek, NULL, NULL, 0, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "does not chain"));
	/* Another TPM's EK under this certificate: refused (the certificate is for another key). */
	assert_int_equal(probe_ek_cert_check(a.cert, a.cert_len, tpm_a.ca, &b.ek, NULL, NULL, 0, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "another key"));
	/* Bound to the VM (libvirt's CN=<name>:<uuid>): this VM's passes, another VM's EK under the same CA does not. */
	assert_int_equal(probe_ek_cert_check(a.cert, a.cert_len, tpm_a.ca, &a.ek, VMID_A, NULL, 0, why, sizeof(why)), 0);
	assert_int_equal(probe_ek_cert_check(a.cert, a.cert_len, tpm_a.ca, &a.ek, VMID_B, NULL, 0, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "not this VM's"));
	assert_int_equal(probe_ek_cert_check(a.cert, a.cert_len, tpm_a.ca, &a.ek, "vm-a", NULL, 0, why, sizeof(why)), -EPERM);
	/* By name alone ("NAME:", a socket directory's VM): any UUID after this name, never another name. */
	assert_int_equal(probe_ek_cert_check(a.cert, a.cert_len, tpm_a.ca, &a.ek, "vm-a:", NULL, 0, why, sizeof(why)), 0);
	assert_int_equal(probe_ek_cert_check(a.cert, a.cert_len, tpm_a.ca, &a.ek, "vm-b:", NULL, 0, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "is not \"vm-b:<uuid>\""));
	assert_int_equal(probe_ek_cert_check(a.cert, a.cert_len, tpm_a.ca, &a.ek, "vm-:", NULL, 0, why, sizeof(why)), -EPERM);
	assert_int_equal(probe_ek_cert_check(a.cert, a.cert_len, tpm_a.ca, &a.ek, "m-a:", NULL, 0, why, sizeof(why)), -EPERM);
	assert_int_equal(probe_ek_cert_check(a.cert, a.cert_len, tpm_a.ca, &a.ek, ":", NULL, 0, why, sizeof(why)), -EPERM);
	/* Not a certificate. */
	assert_int_equal(probe_ek_cert_check(a.cert, a.cert_len - 1, tpm_a.ca, &a.ek, NULL, NULL, 0, why, sizeof(why)), -EBADMSG);
	/* The AK is no EK. */
	assert_int_equal(probe_ek_public_check(&a.ak, why, sizeof(why)), -EPERM);
	free(a.cert);
	free(b.cert);
}

static void test_activate_swtpm(void **state)
{
	struct agent_view a, b;
	struct probe_credential c;
	uint8_t secret[32], got[64];
	size_t got_len = 0;
	char why[300];

	agent_view(&tpm_a, &a);
	agent_view(&tpm_b, &b);
	for (int i = 0; i < 32; i++)
		secret[i] = (uint8_t)(3 * i + 1);
	/* The right AK and EK: the TPM gives the secret back. */
	assert_int_equal(probe_credential_make(&a.ek, a.ak.name, a.ak.name_len, secret, 32, &c, why, sizeof(why)), 0);
	assert_int_equal(agent_activate(&tpm_a, &c, got, &got_len), 0);
	assert_int_equal(got_len, 32);
	assert_memory_equal(got, secret, 32);
	/* A credential for the AK of another TPM (the guest's AK is not there): refused. */
	assert_int_equal(probe_credential_make(&a.ek, b.ak.name, b.ak.name_len, secret, 32, &c, why, sizeof(why)), 0);
	assert_int_equal(agent_activate(&tpm_a, &c, got, &got_len), -EPERM);
	/* A credential to another TPM's EK: this TPM cannot open it. */
	assert_int_equal(probe_credential_make(&b.ek, a.ak.name, a.ak.name_len, secret, 32, &c, why, sizeof(why)), 0);
	assert_int_equal(agent_activate(&tpm_a, &c, got, &got_len), -EPERM);
	free(a.cert);
	free(b.cert);
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	bool ok = f && fwrite(data, 1, len, f) == len;

	if (f && fclose(f) != 0)
		ok = false;
	return ok ? 0 : -1;
}

/* tpm2-tools, independently: it opens the host's credential, and the agent opens tpm2_makecredential's. */
static void test_tpm2_tools_interop(void **state)
{
	struct agent_view a;
	struct probe_credential c;
	uint8_t secret[32], file[8 + 2 * SC_CREDENTIAL_SECRET_MAX], got[64];
	size_t n = 0, got_len = 0;
	char why[300], cmd[2048], path[160], name_hex[2 * PROBE_TPM_NAME_MAX + 1];
	FILE *f;

	if (system("command -v tpm2_activatecredential >/dev/null 2>&1") != 0) {
		fprintf(stderr, "# tpm2-tools not installed: interop not checked\n");
		skip();
	}
	agent_view(&tpm_a, &a);
	for (int i = 0; i < 32; i++)
		secret[i] = (uint8_t)(0xc3 ^ i);
	assert_int_equal(probe_credential_make(&a.ek, a.ak.name, a.ak.name_len, secret, 32, &c, why, sizeof(why)), 0);
	/* tpm2-tools' credential file: magic 0xbadcc0de, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET. */
	memcpy(file, "\xba\xdc\xc0\xde\x00\x00\x00\x01", 8);
	n = 8;
	memcpy(file + n, c.blob, c.blob_len);
	n += c.blob_len;
	memcpy(file + n, c.secret, c.secret_len);
	n += c.secret_len;
	snprintf(path, sizeof(path), "%s/cred.in", tpm_a.dir);
	assert_int_equal(write_file(path, file, n), 0);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && export TPM2TOOLS_TCTI='%s' && "
		 /* No resource manager on swtpm's socket: each tool's objects stay loaded until flushed. */
		 "tpm2_createek -c ek.ctx -G rsa -u ek.pub >/dev/null && tpm2_flushcontext -t && "
		 "tpm2_createprimary -C e -G " SC_AK_TOOLS_ALG " -g sha256 -a '" SC_AK_TOOLS_ATTRS "' -c ak.ctx >/dev/null && "
		 "tpm2_flushcontext -t && tpm2_startauthsession --policy-session -S s.ctx && "
		 "tpm2_policysecret -S s.ctx -c e >/dev/null && "
		 "tpm2_activatecredential -c ak.ctx -C ek.ctx -i cred.in -o secret.out -P session:s.ctx >/dev/null; "
		 "r=$?; tpm2_flushcontext -t; tpm2_flushcontext -s; exit $r",
		 tpm_a.dir, tpm_a.tcti);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/secret.out", tpm_a.dir);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(got, 1, sizeof(got), f), 32);
	fclose(f);
	assert_memory_equal(got, secret, 32);

	/* The other way: tpm2_makecredential (offline, its own random seed), opened by the agent's ActivateCredential. */
	sc_hex_encode(a.ak.name, a.ak.name_len, name_hex);
	snprintf(path, sizeof(path), "%s/secret.in", tpm_a.dir);
	assert_int_equal(write_file(path, secret, 32), 0);
	snprintf(cmd, sizeof(cmd),
		 "set -e; cd '%s'; tpm2_makecredential --tcti none -u ek.pub -s secret.in -n %s -o cred.tools >/dev/null",
		 tpm_a.dir, name_hex);
	assert_int_equal(system(cmd), 0);
	{
		struct blob b;
		size_t blob_len;

		snprintf(path, sizeof(path), "%s/cred.tools", tpm_a.dir);
		f = fopen(path, "rb");
		assert_non_null(f);
		n = fread(file, 1, sizeof(file), f);
		fclose(f);
		assert_true(n > 12);
		assert_memory_equal(file, "\xba\xdc\xc0\xde", 4);
		blob_len = 2 + (size_t)(file[8] << 8 | file[9]);
		assert_true(8 + blob_len + 2 <= n && blob_len <= sizeof(c.blob));
		memcpy(c.blob, file + 8, blob_len);
		c.blob_len = blob_len;
		c.secret_len = n - 8 - blob_len;
		assert_true(c.secret_len <= sizeof(c.secret));
		memcpy(c.secret, file + 8 + blob_len, c.secret_len);
		(void)b;
	}
	assert_int_equal(agent_activate(&tpm_a, &c, got, &got_len), 0);
	assert_int_equal(got_len, 32);
	assert_memory_equal(got, secret, 32);
	free(a.cert);
}

/*
 * A public-only copy of a software key with the AK's attributes, loaded with TPM2_LoadExternal (a
 * root's way to get a credential for a key it holds outside the TPM): the TPM loads it, but refuses
 * to activate a credential for it (TPM_RC_AUTH_UNAVAILABLE: no authValue without the sensitive
 * area), so its Name can never be pinned.
 */
static void test_public_only_copy_refused(void **state)
{
	struct agent_view a;
	struct probe_credential c;
	uint8_t secret[32] = { 1 }, name[PROBE_TPM_NAME_MAX], file[8 + 2 * SC_CREDENTIAL_SECRET_MAX];
	size_t n, name_len;
	char why[300], cmd[2048], path[160];
	FILE *f;

	if (system("command -v tpm2_loadexternal >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1") != 0)
		skip();
	agent_view(&tpm_a, &a);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && export TPM2TOOLS_TCTI='%s' && openssl genrsa -out soft.pem 2048 2>/dev/null && "
		 "openssl rsa -in soft.pem -pubout -out soft.pub.pem 2>/dev/null && "
		 "tpm2_loadexternal -C o -G " SC_AK_TOOLS_ALG " -u soft.pub.pem -a '" SC_AK_TOOLS_ATTRS "' -c soft.ctx -n soft.name "
		 ">/dev/null && tpm2_flushcontext -t && tpm2_createek -c ek.ctx -G rsa >/dev/null && tpm2_flushcontext -t",
		 tpm_a.dir, tpm_a.tcti);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/soft.name", tpm_a.dir);
	f = fopen(path, "rb");
	assert_non_null(f);
	name_len = fread(name, 1, sizeof(name), f);
	fclose(f);
	assert_int_equal(name_len, 34);
	/* The host would make this credential for such a Name (it has the AK's attributes). */
	assert_int_equal(probe_credential_make(&a.ek, name, name_len, secret, 32, &c, why, sizeof(why)), 0);
	memcpy(file, "\xba\xdc\xc0\xde\x00\x00\x00\x01", 8);
	n = 8;
	memcpy(file + n, c.blob, c.blob_len);
	n += c.blob_len;
	memcpy(file + n, c.secret, c.secret_len);
	n += c.secret_len;
	snprintf(path, sizeof(path), "%s/soft.cred", tpm_a.dir);
	assert_int_equal(write_file(path, file, n), 0);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && export TPM2TOOLS_TCTI='%s' && tpm2_startauthsession --policy-session -S s.ctx && "
		 "tpm2_policysecret -S s.ctx -c e >/dev/null && "
		 "tpm2_activatecredential -c soft.ctx -C ek.ctx -i soft.cred -o soft.out -P session:s.ctx >soft.log 2>&1; "
		 "r=$?; tpm2_flushcontext -t; tpm2_flushcontext -s; grep -qi 0x12f soft.log || r=99; exit $r",
		 tpm_a.dir, tpm_a.tcti);
	/* Refused, and for the reason said (0x12f, TPM_RC_AUTH_UNAVAILABLE): not some other failure. */
	assert_int_equal(WEXITSTATUS(system(cmd)), 1);
	free(a.cert);
}

static char *b64(const void *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

/* The host's challenge from the agent's EK document, and its check of the agent's real answer. */
static void test_challenge_answer(void **state)
{
	const struct sc_paths paths = SC_PATHS_SYSTEM;
	struct agent_view a, b;
	struct probe_credential_config cfg = { .ek_ca_file = tpm_a.ca };
	struct probe_credential_state st;
	struct sc_credential_challenge chal;
	_cleanup_free_ char *ek_doc = NULL, *chal_text = NULL, *answer = NULL, *ak64 = NULL, *akb64 = NULL;
	_cleanup_json_ json_t *ev = NULL, *ev_b = NULL;
	size_t ek_len = 0, chal_len = 0, answer_len = 0;
	char why[300];

	agent_view(&tpm_a, &a);
	agent_view(&tpm_b, &b);
	ak64 = b64(a.ak_raw, a.ak_raw_len);
	akb64 = b64(b.ak_raw, b.ak_raw_len);
	ev = json_pack("{s:s}", "ak_public", ak64);
	ev_b = json_pack("{s:s}", "ak_public", akb64);
	assert_int_equal(sc_ek_collect(&paths, tpm_a.tcti, nonce_a, &ek_doc, &ek_len, why, sizeof(why)), 0);
	assert_non_null(strstr(ek_doc, "\"ek_cert\":\"MII"));

	/* The agent's own AK: challenge, real activation, answer proven. */
	assert_int_equal(probe_credential_challenge(&cfg, nonce_a, ev, ek_doc, ek_len, &st, &chal_text, &chal_len), 0);
	assert_int_equal(st.status, PROBE_CRED_PENDING);
	assert_int_equal(sc_credential_challenge_parse(chal_text, chal_len, &chal), 0);
	assert_int_equal(sc_credential_respond(&paths, tpm_a.tcti, &chal, false, &answer, &answer_len, why, sizeof(why)), 0);
	assert_int_equal(probe_credential_check_answer(&st, nonce_a, answer, answer_len), 0);
	assert_int_equal(st.status, PROBE_CRED_PROVEN);
	assert_memory_equal(st.ak_name, a.ak.name, a.ak.name_len);
	free(TAKE_PTR(answer));
	free(TAKE_PTR(chal_text));

	/* The test hook's wrong answer: failed, never proven. */
	assert_int_equal(probe_credential_challenge(&cfg, nonce_a, ev, ek_doc, ek_len, &st, &chal_text, &chal_len), 0);
	assert_int_equal(sc_credential_challenge_parse(chal_text, chal_len, &chal), 0);
	assert_int_equal(sc_credential_respond(&paths, tpm_a.tcti, &chal, true, &answer, &answer_len, why, sizeof(why)), 0);
	assert_int_equal(probe_credential_check_answer(&st, nonce_a, answer, answer_len), -EPERM);
	assert_int_equal(st.status, PROBE_CRED_FAILED);
	assert_non_null(strstr(st.why, "wrong"));
	free(TAKE_PTR(answer));
	free(TAKE_PTR(chal_text));

	/* An AK of another TPM named in the evidence: the agent's TPM refuses to activate. */
	assert_int_equal(probe_credential_challenge(&cfg, nonce_a, ev_b, ek_doc, ek_len, &st, &chal_text, &chal_len), 0);
	assert_int_equal(sc_credential_challenge_parse(chal_text, chal_len, &chal), 0);
	assert_int_equal(sc_credential_respond(&paths, tpm_a.tcti, &chal, false, &answer, &answer_len, why, sizeof(why)),
			 -EPERM);
	free(TAKE_PTR(chal_text));

	/* An AK with adminWithPolicy (a policy could open a public-only copy): refused before any challenge. */
	{
		_cleanup_free_ char *x64 = NULL;
		_cleanup_json_ json_t *ev_x = NULL;
		uint8_t raw[SC_TPM_BLOB_MAX];

		memcpy(raw, a.ak_raw, a.ak_raw_len);
		raw[9] |= 0x80; /* TPM2B size, type, nameAlg, then objectAttributes: bit 7 adminWithPolicy */
		x64 = b64(raw, a.ak_raw_len);
		ev_x = json_pack("{s:s}", "ak_public", x64);
		assert_int_equal(probe_credential_challenge(&cfg, nonce_a, ev_x, ek_doc, ek_len, &st, &chal_text, &chal_len),
				 -EPERM);
		assert_non_null(strstr(st.why, "not the AK template"));
	}

	/* An answer for another nonce: failed. */
	assert_int_equal(probe_credential_challenge(&cfg, nonce_a, ev, ek_doc, ek_len, &st, &chal_text, &chal_len), 0);
	{
		char other[300];

		snprintf(other, sizeof(other), "{\"schema\":\"%s\",\"nonce\":\"%s\",\"answer\":\"%064d\"}", SC_ANSWER_SCHEMA,
			 nonce_b, 0);
		assert_int_equal(probe_credential_check_answer(&st, nonce_a, other, strlen(other)), -EPERM);
		assert_non_null(strstr(st.why, "not for this nonce"));
	}
	free(TAKE_PTR(chal_text));

	/* The EK certificate under another CA, the EK document for another nonce, no trust at all: no challenge. */
	cfg.ek_ca_file = tpm_b.ca;
	assert_int_equal(probe_credential_challenge(&cfg, nonce_a, ev, ek_doc, ek_len, &st, &chal_text, &chal_len), -EPERM);
	assert_int_equal(st.status, PROBE_CRED_FAILED);
	assert_non_null(strstr(st.why, "does not chain"));
	cfg.ek_ca_file = tpm_a.ca;
	assert_int_equal(probe_credential_challenge(&cfg, nonce_b, ev, ek_doc, ek_len, &st, &chal_text, &chal_len),
			 -EBADMSG);
	cfg.ek_ca_file = NULL;
	assert_int_equal(probe_credential_challenge(&cfg, nonce_a, ev, ek_doc, ek_len, &st, &chal_text, &chal_len), -EPERM);
	assert_non_null(strstr(st.why, "--tpm-ek-ca"));
	/* The recorded EK instead of a CA: this TPM's is taken, another TPM's is not. */
	cfg.ek_public = a.ek_raw;
	cfg.ek_public_len = a.ek_raw_len;
	assert_int_equal(probe_credential_challenge(&cfg, nonce_a, ev, ek_doc, ek_len, &st, &chal_text, &chal_len), 0);
	free(TAKE_PTR(chal_text));
	cfg.ek_public = b.ek_raw;
	cfg.ek_public_len = b.ek_raw_len;
	assert_int_equal(probe_credential_challenge(&cfg, nonce_a, ev, ek_doc, ek_len, &st, &chal_text, &chal_len), -EPERM);
	assert_non_null(strstr(st.why, "recorded"));
	free(a.cert);
	free(b.cert);
}

static void test_pin(void **state)
{
	char dir[] = "/tmp/sealcheck-test-pin-XXXXXX", path[64], why[200];
	const uint8_t name[34] = { 0x00, 0x0b, 1, 2, 3 };
	uint8_t back[40];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ak.name", dir);
	assert_int_equal(probe_tpm_state_pin_ak(path, name, sizeof(name), why, sizeof(why)), 0);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(back, 1, sizeof(back), f), sizeof(name));
	fclose(f);
	assert_memory_equal(back, name, sizeof(name));
	/* The same Name again (a concurrent pinner of the same AK): success, unchanged. */
	assert_int_equal(probe_tpm_state_pin_ak(path, name, sizeof(name), why, sizeof(why)), 0);
	/* Another Name: refused, the first pin kept, no temporary file left. */
	{
		uint8_t other[34] = { 0x00, 0x0b, 9, 9, 9 };
		char tmpl[80];
		int n = 0;
		DIR *d;
		struct dirent *de;

		assert_int_equal(probe_tpm_state_pin_ak(path, other, sizeof(other), why, sizeof(why)), -EEXIST);
		assert_non_null(strstr(why, "already pins another AK"));
		f = fopen(path, "rb");
		assert_non_null(f);
		assert_int_equal(fread(back, 1, sizeof(back), f), sizeof(name));
		fclose(f);
		assert_memory_equal(back, name, sizeof(name));
		d = opendir(dir);
		assert_non_null(d);
		while ((de = readdir(d)))
			n += de->d_name[0] != '.';
		closedir(d);
		assert_int_equal(n, 1);
		snprintf(tmpl, sizeof(tmpl), "%s/missing/ak.name", dir);
		assert_int_equal(probe_tpm_state_pin_ak(tmpl, name, sizeof(name), why, sizeof(why)), -ENOENT);
	}
	unlink(path);
	rmdir(dir);
}

/* ---- the session's credential phase, with the agent's real TPM code on the other end ---- */

#define T0 1000000LL
#define REPORT_TEMPLATE FIXTURES_DIR "/../probe/sealed-report.json"

/* The report (echoing @nonce) as sent, and the start of its E frame naming @ak_public (as the agent's). */
static void send_report_and_evidence(struct probe_session *s, const uint8_t *ak_raw, size_t ak_len)
{
	_cleanup_free_ char *buf = NULL, *text = NULL, *r = NULL, *e = NULL, *ak64 = NULL, *ev_text = NULL;
	_cleanup_json_ json_t *doc = NULL, *ev = NULL;
	size_t len, r_len, e_len;
	char sha[65];

	assert_int_equal(sc_read_file_capped(REPORT_TEMPLATE, 1u << 20, &buf, &len), 0);
	doc = json_loadb(buf, len, 0, NULL);
	assert_non_null(doc);
	json_object_set_new(doc, "nonce", json_string(s->nonce));
	text = json_dumps(doc, JSON_COMPACT);
	assert_non_null(text);
	assert_int_equal(sc_wire_encode(SC_WIRE_REPORT, text, strlen(text), &r, &r_len), 0);
	sc_evidence_report_sha256(text, strlen(text), sha);
	ak64 = b64(ak_raw, ak_len);
	ev = json_pack("{s:s, s:s, s:s, s:s}", "schema", SC_EVIDENCE_SCHEMA, "nonce", s->nonce, "report_sha256", sha,
		       "ak_public", ak64);
	ev_text = json_dumps(ev, JSON_COMPACT);
	assert_int_equal(sc_wire_encode(SC_WIRE_EVIDENCE, ev_text, strlen(ev_text), &e, &e_len), 0);
	probe_session_feed(s, r, r_len, T0 + 1);
	probe_session_feed(s, e, e_len, T0 + 2);
}

/* The next frame the session sent to the peer (skipping the nonce), of @type; its payload malloc'd. */
static char *read_frame(int peer, char type, size_t *ret_len)
{
	struct sc_wire_decoder dec;
	struct sc_wire_frame fr;
	char *out = NULL;

	assert_int_equal(sc_wire_decoder_init(&dec, SC_WIRE_MAX_PAYLOAD), 0);
	while (!out) {
		uint8_t buf[4096];
		struct pollfd p = { .fd = peer, .events = POLLIN };
		ssize_t n;

		assert_int_equal(poll(&p, 1, 5000), 1);
		n = read(peer, buf, sizeof(buf));
		assert_true(n > 0);
		sc_wire_feed(&dec, buf, (size_t)n);
		while (!out && sc_wire_next(&dec, &fr) == 1) {
			if (fr.type == SC_WIRE_NONCE)
				continue;
			assert_int_equal(fr.type, type);
			out = malloc(fr.len + 1);
			assert_non_null(out);
			memcpy(out, fr.payload, fr.len);
			out[fr.len] = 0;
			*ret_len = fr.len;
		}
	}
	sc_wire_decoder_done(&dec);
	return out;
}

static void feed_frame(struct probe_session *s, char type, const char *text, size_t len, long long now)
{
	_cleanup_free_ char *f = NULL;
	size_t f_len;

	assert_int_equal(sc_wire_encode(type, text, len, &f, &f_len), 0);
	probe_session_feed(s, f, f_len, now);
}

/*
 * One session whose guest's AK is @ak_of's and whose TPM is @agent_tpm, the host trusting @ca.
 * @corrupt: the agent's test hook. @answer: whether the agent answers the challenge at all.
 */
static void session_case(const struct tpm *ak_of, const struct tpm *agent_tpm, const char *ca, bool corrupt,
			 struct probe_credential_state *ret)
{
	const struct sc_paths paths = SC_PATHS_SYSTEM;
	struct probe_credential_config cred = { .ek_ca_file = ca };
	struct probe_session_config cfg = { .deadline_ms = T0 + 600000, .expect_evidence = true,
					    .credential = &cred, .credential_wait_ms = 20000 };
	struct probe_session s;
	struct agent_view v;
	_cleanup_free_ char *req = NULL, *ek_doc = NULL, *chal_text = NULL, *answer = NULL;
	struct sc_credential_challenge chal;
	size_t len, ek_len, answer_len;
	char why[300];
	int sv[2];

	agent_view(ak_of, &v);
	free(v.cert);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(probe_session_init(&s, &cfg), 0);
	assert_int_equal(probe_session_attach(&s, sv[0], T0), 0);
	send_report_and_evidence(&s, v.ak_raw, v.ak_raw_len);
	/* The session asks for the EK, naming its nonce, and waits (bounded). */
	assert_int_equal(s.state, PROBE_SESSION_WAITING);
	assert_int_equal(s.credential_step, 1);
	assert_int_equal(probe_session_wakeup(&s), T0 + 2 + 20000);
	req = read_frame(sv[1], SC_WIRE_EK, &len);
	assert_int_equal(len, SC_NONCE_HEX_LEN);
	assert_string_equal(req, s.nonce);
	/* The agent's EK document, from its real TPM. */
	assert_int_equal(sc_ek_collect(&paths, agent_tpm->tcti, s.nonce, &ek_doc, &ek_len, why, sizeof(why)), 0);
	feed_frame(&s, SC_WIRE_EK, ek_doc, ek_len, T0 + 3);
	if (s.state == PROBE_SESSION_DONE) { /* the EK was refused: no challenge */
		*ret = s.credential;
		probe_session_done(&s);
		close(sv[1]);
		return;
	}
	assert_int_equal(s.credential_step, 2);
	chal_text = read_frame(sv[1], SC_WIRE_CHALLENGE, &len);
	assert_int_equal(sc_credential_challenge_parse(chal_text, len, &chal), 0);
	assert_string_equal(chal.nonce, s.nonce);
	if (sc_credential_respond(&paths, agent_tpm->tcti, &chal, corrupt, &answer, &answer_len, why, sizeof(why)) == 0)
		feed_frame(&s, SC_WIRE_ANSWER, answer, answer_len, T0 + 4);
	else /* the TPM could not activate: the agent sends nothing, the deadline says so */
		probe_session_tick(&s, T0 + 3 + 20000);
	assert_int_equal(s.state, PROBE_SESSION_DONE);
	assert_int_equal(s.end, PROBE_END_REPORT);
	assert_non_null(s.evidence);
	*ret = s.credential;
	probe_session_done(&s);
	close(sv[1]);
}

static void test_session_phase(void **state)
{
	struct probe_credential_state st;

	/* The agent's own AK and TPM, its EK certified by the CA the host trusts: proven. */
	session_case(&tpm_a, &tpm_a, tpm_a.ca, false, &st);
	assert_int_equal(st.status, PROBE_CRED_PROVEN);
	assert_non_null(strstr(st.why, "credential activation"));
	/* A wrong answer (the agent's test hook): failed. */
	session_case(&tpm_a, &tpm_a, tpm_a.ca, true, &st);
	assert_int_equal(st.status, PROBE_CRED_FAILED);
	assert_non_null(strstr(st.why, "wrong"));
	/* The evidence's AK is another TPM's: this TPM cannot activate, no answer before the deadline: failed. */
	session_case(&tpm_b, &tpm_a, tpm_a.ca, false, &st);
	assert_int_equal(st.status, PROBE_CRED_FAILED);
	assert_non_null(strstr(st.why, "before the deadline"));
	/* The EK certificate is from another CA: failed, no challenge sent. */
	session_case(&tpm_a, &tpm_a, tpm_b.ca, false, &st);
	assert_int_equal(st.status, PROBE_CRED_FAILED);
	assert_non_null(strstr(st.why, "does not chain"));
}

/* No credential phase when the AK is pinned, nor without a configuration: as before. */
static void test_session_pinned(void **state)
{
	const uint8_t name[34] = { 0x00, 0x0b };
	struct probe_credential_config cred = { .ek_ca_file = "/nonexistent", .pinned_name = name, .pinned_name_len = 34 };
	struct probe_session_config cfg = { .deadline_ms = T0 + 60000, .expect_evidence = true, .credential = &cred };
	struct probe_session s;
	uint8_t ak[4] = { 0, 2, 0, 0 };
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(probe_session_init(&s, &cfg), 0);
	assert_int_equal(probe_session_attach(&s, sv[0], T0), 0);
	send_report_and_evidence(&s, ak, sizeof(ak));
	assert_int_equal(s.state, PROBE_SESSION_DONE);
	assert_int_equal(s.end, PROBE_END_REPORT);
	assert_int_equal(s.credential.status, PROBE_CRED_NONE);
	assert_null(s.out_frame);
	probe_session_done(&s);
	close(sv[1]);
}

/* The verdict's tpm:quote with the session's result, on a real boot's evidence (tests/fixtures/evidence). */
#define EVDIR FIXTURES_DIR "/evidence/"
static void test_quote_link(void **state)
{
	_cleanup_free_ char *buf = NULL, *report = NULL, *nonce = NULL;
	_cleanup_free_ uint8_t *ak = NULL;
	_cleanup_json_ json_t *ev = NULL;
	struct probe_tpm_public pub;
	struct probe_credential_state st = { 0 };
	struct probe_policy policy;
	char dir[] = "/tmp/sealcheck-test-quote-link-XXXXXX", pin[80], n[65];
	size_t len, report_len, ak_len;
	struct probe_evidence_expect x;
	json_t *links, *l;
	uint8_t back[80];
	FILE *f;

	assert_int_equal(sc_read_file_capped(EVDIR "evidence.json", 1 << 20, &buf, &len), 0);
	ev = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(ev);
	assert_int_equal(sc_read_file_capped(EVDIR "report.json", 1 << 20, &report, &report_len), 0);
	assert_int_equal(sc_read_file_capped(EVDIR "nonce", 128, &nonce, &len), 0);
	memcpy(n, nonce, 64);
	n[64] = 0;
	assert_int_equal(sc_base64_decode(json_string_value(json_object_get(ev, "ak_public")), 1024, &ak, &ak_len), 0);
	assert_int_equal(probe_tpm2b_public_parse(ak, ak_len, &pub, NULL, 0), 0);
	probe_policy_init(&policy);
	assert_non_null(mkdtemp(dir));
	snprintf(pin, sizeof(pin), "%s/ak.name", dir);
	x = (struct probe_evidence_expect){ .nonce = n, .report = (const uint8_t *)report, .report_len = report_len,
					    .policy = &policy, .credential = &st, .ak_pin_file = pin };

	/* Proven by activation: the quote must be signed by that AK, which is then pinned. */
	st.status = PROBE_CRED_PROVEN;
	memcpy(st.ak_name, pub.name, pub.name_len);
	st.ak_name_len = pub.name_len;
	snprintf(st.ek_trust, sizeof(st.ek_trust), "the EK certified by /CN=test");
	links = probe_evidence_verify(ev, &x, NULL);
	l = json_array_get(links, 1);
	assert_string_equal(json_string_value(json_object_get(l, "link")), "tpm:quote");
	assert_string_equal(json_string_value(json_object_get(l, "status")), "proven");
	assert_non_null(strstr(json_string_value(json_object_get(l, "reason")), "by credential activation now (pinned in ak.name)"));
	json_decref(links);
	f = fopen(pin, "rb");
	assert_non_null(f);
	assert_int_equal(fread(back, 1, sizeof(back), f), pub.name_len);
	fclose(f);
	assert_memory_equal(back, pub.name, pub.name_len);
	unlink(pin);

	/* Proven for another AK than the quote's: the quote fails (Name), nothing is pinned. */
	st.ak_name[5] ^= 1;
	links = probe_evidence_verify(ev, &x, NULL);
	l = json_array_get(links, 1);
	assert_string_equal(json_string_value(json_object_get(l, "status")), "failed");
	json_decref(links);
	assert_int_equal(access(pin, F_OK), -1);

	/* Failed activation: tpm:quote fails with its reason, everything after it is not verified. */
	st.status = PROBE_CRED_FAILED;
	snprintf(st.why, sizeof(st.why), "AK not bound to the EK: test");
	links = probe_evidence_verify(ev, &x, NULL);
	l = json_array_get(links, 1);
	assert_string_equal(json_string_value(json_object_get(l, "status")), "failed");
	assert_string_equal(json_string_value(json_object_get(l, "reason")), "AK not bound to the EK: test");
	assert_string_equal(json_string_value(json_object_get(json_array_get(links, 2), "status")), "failed");
	json_decref(links);
	assert_int_equal(access(pin, F_OK), -1);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_kdfa_known_answer),
		cmocka_unit_test(test_blob_known_answer),
		cmocka_unit_test(test_seal_seed_oaep),
		cmocka_unit_test(test_challenge_parse),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_session_pinned),
		cmocka_unit_test(test_quote_link),
	};
	const struct CMUnitTest all[] = {
		cmocka_unit_test(test_kdfa_known_answer),
		cmocka_unit_test(test_blob_known_answer),
		cmocka_unit_test(test_seal_seed_oaep),
		cmocka_unit_test(test_challenge_parse),
		cmocka_unit_test(test_pin),
		cmocka_unit_test(test_ek_cert_chain),
		cmocka_unit_test(test_activate_swtpm),
		cmocka_unit_test(test_tpm2_tools_interop),
		cmocka_unit_test(test_public_only_copy_refused),
		cmocka_unit_test(test_challenge_answer),
		cmocka_unit_test(test_session_phase),
		cmocka_unit_test(test_session_pinned),
		cmocka_unit_test(test_quote_link),
	};

	/* One TAP plan either way: without swtpm only the known answers run, and the skip is said. */
	if (system("command -v swtpm >/dev/null 2>&1 && command -v swtpm_setup >/dev/null 2>&1") != 0) {
		fprintf(stderr, "# swtpm not installed: the end-to-end credential tests do not run\n");
		return cmocka_run_group_tests_name("credential", pure, NULL, NULL);
	}
	return cmocka_run_group_tests_name("credential", all, setup_tpms, teardown_tpms);
}
