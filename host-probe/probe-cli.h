/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the probe's verbs share: option values, the policy options, the result. */
#pragma once

#include <stdbool.h>

#include "probe-attest.h"
#include "probe-evidence.h"
#include "probe-swtpm.h"
#include "probe-tpm-state.h"
#include "probe-policy.h"
#include "probe-verdict.h"

#define EXIT_USAGE 2

struct probe_verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/* The policy options both run and attest take. */
struct cli_policy {
	const char *expect[PROBE_POLICY_MAX_DIGESTS];
	unsigned n_expect;
	const char *policy_file;
	const char *vm_name;
	bool allow_setup_mode; /* --no-require-secure-boot */
};

/* The options run and attest share: their getopt values, table entries and parser. */
enum {
	CLI_O_EXPECT = 0x1000,
	CLI_O_POLICY,
	CLI_O_VM,
	CLI_O_NO_SB,
	CLI_O_TIMEOUT,
	CLI_O_JSON,
};
#define CLI_POLICY_OPTIONS                                                                  \
	{ "expect-digest", required_argument, NULL, CLI_O_EXPECT },                         \
		{ "policy", required_argument, NULL, CLI_O_POLICY },                        \
		{ "vm", required_argument, NULL, CLI_O_VM },                                \
		{ "no-require-secure-boot", no_argument, NULL, CLI_O_NO_SB },               \
		{ "timeout", required_argument, NULL, CLI_O_TIMEOUT },                      \
		{ "json", no_argument, NULL, CLI_O_JSON }, { "help", no_argument, NULL, 'h' }

struct cli_common {
	struct cli_policy policy;
	unsigned long timeout;
	bool json;
};

/*
 * cli_common_option() - handle getopt's @c if it is one of the shared
 * options. Returns 1 handled, 0 not one of them, -EINVAL after printing the
 * problem (the verb then exits with EXIT_USAGE).
 */
int cli_common_option(const char *verb, int c, const char *arg, struct cli_common *ret);

/* Parses "--timeout S". 0, or prints the problem and returns -EINVAL. */
int cli_parse_seconds(const char *verb, const char *opt, const char *arg, unsigned long max, unsigned long *ret);
/* Adds an --expect-digest; prints the problem and returns -EINVAL when it is not a digest. */
int cli_add_expect(const char *verb, struct cli_policy *c, const char *arg);
/* The policy the options give; prints the problem and returns -EINVAL when there is none. */
int cli_make_policy(const char *verb, const struct cli_policy *c, const char *fallback_source,
		    const struct sc_digest *fallback, struct probe_policy *ret);

/* What a VM's TPM evidence must prove, as the front ends assemble it. */
struct cli_tpm {
	struct probe_evidence_expect x;
	struct probe_sb_reference sb; /* owned: the key directory's PK, KEK, db, dbx */
	uint8_t ak_name[PROBE_TPM_STATE_NAME_MAX];
	char counters[320];
	struct probe_credential_config cred; /* no AK pinned: how the EK is trusted (cli_tpm_credential()) */
	uint8_t *ek_pub;                     /* owned: --tpm-ek-pub's bytes */
	char pin[320];                       /* where a proven AK is pinned (ak.name) */
	char ek_cn[300];                     /* the EK certificate's expected CN (cred.ek_cert_cn), libvirt's */
};
void cli_tpm_done(struct cli_tpm *t);

/*
 * cli_tpm_credential() - after cli_tpm_prepare(), for a VM whose AK is not pinned: bind the evidence's
 * AK to the EK by credential activation in the session, the EK chaining to @ek_ca (a PEM bundle) or
 * being @ek_pub's (a TPM2B_PUBLIC file the host recorded), and pin the AK proven in @state_dir/ak.name
 * (@state_dir may be NULL: nothing is pinned). The configuration is t->cred: give it to the
 * attestation (probe_attest.credential, cli_tpm_credential_config()). Prints the problem and returns -EINVAL when neither @ek_ca nor
 * @ek_pub is given or @ek_pub cannot be read.
 */
int cli_tpm_credential(const char *verb, const char *ek_ca, const char *ek_pub, const char *state_dir, struct cli_tpm *t);
/* t->cred when cli_tpm_credential() configured it, else NULL: no credential phase. */
static inline const struct probe_credential_config *cli_tpm_credential_config(const struct cli_tpm *t)
{
	return t->cred.ek_ca_file || t->cred.ek_public ? &t->cred : NULL;
}

/*
 * cli_tpm_prepare() - the host's enrolled keys from @keys_dir (PK.crt,
 * KEK.crt, db.crt), the pinned AK Name, the sealed UKI and the counters file
 * of the VM's TPM state (@state_dir, or NULL). Prints the problem and returns
 * -EINVAL when a key cannot be read.
 */
int cli_tpm_prepare(const char *verb, const char *keys_dir, const uint8_t *ak_name, size_t ak_name_len,
		    const char *uki_path, const char *state_dir, const struct probe_policy *policy, struct cli_tpm *ret);

/* Print the verdict (human or JSON) and return the exit status. */
int cli_finish(const struct probe_attest *a, const struct probe_policy *p, bool json, const struct probe_vm *vm,
	       const struct probe_evidence_expect *tpm);

int verb_run(int argc, char **argv);

/*
 * run_libvirt() - `sealcheck-probe run --libvirt` (cmd-run-libvirt.c): the image of @vm
 * (its options as `run` parsed them) defined as a libvirt domain on @uri and
 * started, attested over its channel, the verdict printed as `run` prints
 * it, then the domain destroyed and undefined (its nvram and TPM state with
 * it) unless @vm->keep. With a TPM the guest's AK is bound to its EK by
 * credential activation, the EK certificate chaining to @ek_ca (a PEM
 * bundle; NULL: libvirt's swtpm-localca). Returns the exit status.
 */
int run_libvirt(struct probe_vm *vm, struct cli_common *o, const char *uri, const char *ek_ca);

int verb_attest(int argc, char **argv);
int verb_predict_pcr11(int argc, char **argv);
int verb_watch(int argc, char **argv);
