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

#include "sc-verb.h"

#define EXIT_USAGE SC_EXIT_USAGE

/*
 * The probe's options: one catalogue for every verb (probe_catalogue,
 * probe-cli.c), each verb listing the ones it takes beside its option
 * handling (cmd-*.c), as the agent's cli-options.h and kmod's tools/ have it.
 * The verb layer is common/sc-verb.h.
 */
enum cli_opt_id {
	CLI_O_HELP = SC_OPT_HELP,
	CLI_O_VERSION = SC_OPT_VERSION,
	CLI_O_JSON = SC_OPT_FIRST,
	/* the policy options run, attest and watch share */
	CLI_O_EXPECT,
	CLI_O_POLICY,
	CLI_O_VM,
	CLI_O_NO_SB,
	CLI_O_TIMEOUT,
	/* run */
	CLI_O_KEYS,
	CLI_O_FIRMWARE,
	CLI_O_ESP,
	CLI_O_DISK,
	CLI_O_ACCEL,
	CLI_O_KEEP,
	CLI_O_TPM,
	CLI_O_LIBVIRT,
	CLI_O_LIBVIRT_URI,
	/* run and attest */
	CLI_O_TPM_STATE,
	CLI_O_TPM_AK,
	/* attest and watch */
	CLI_O_SOCKET,
	CLI_O_TPM_UKI,
	CLI_O_TPM_KEYS,
	CLI_O_TPM_EK_CA,
	CLI_O_TPM_EK_PUB,
	CLI_O_TPM_EK_OWNER,
	/* watch */
	CLI_O_SOCKET_DIR,
	CLI_O_INTERVAL,
	CLI_O_STALE,
	CLI_O_EVENTS,
	CLI_O_RECONNECT,
	CLI_O_STATE_DIR,
	CLI_O_METRICS_LISTEN,
	CLI_O_TEXTFILE,
	/* predict-pcr11 */
	CLI_O_BANK,
	CLI_O_PHASE,
	CLI_O_STUB,
};

/*
 * Every option of every sealcheck-probe verb. --libvirt, --libvirt-uri and
 * --metrics-listen are there in every build: a build without libvirt or
 * libmicrohttpd refuses them by name ("built without ...").
 */
extern const struct sc_opt probe_catalogue[];

/* The verbs (cmd-*.c), each defined beside its option handling. */
extern const struct sc_verb cmd_run;
extern const struct sc_verb cmd_attest;
extern const struct sc_verb cmd_predict_pcr11;
extern const struct sc_verb cmd_watch;

/* The policy options both run and attest take. */
struct cli_policy {
	const char *expect[PROBE_POLICY_MAX_DIGESTS];
	unsigned n_expect;
	const char *policy_file;
	const char *vm_name;
	bool allow_setup_mode; /* --no-require-secure-boot */
};

struct cli_common {
	struct cli_policy policy;
	unsigned long timeout;
	bool json;
};

/*
 * cli_common_option() - handle sc_verb_next_option()'s @c if it is one of
 * the shared options. Returns 1 handled, 0 not one of them, -EINVAL after
 * saying the problem (sc_log_error(); the verb then exits with EXIT_USAGE).
 */
int cli_common_option(int c, const char *arg, struct cli_common *ret);

/* Parses "--OPT S" (@opt: "--timeout"). 0, or says the problem and returns -EINVAL. */
int cli_parse_seconds(const char *opt, const char *arg, unsigned long max, unsigned long *ret);
/* Adds an --expect-digest; says the problem and returns -EINVAL when it is not a digest. */
int cli_add_expect(struct cli_policy *c, const char *arg);
/* The policy the options give; says the problem and returns -EINVAL when there is none. */
int cli_make_policy(const struct cli_policy *c, const char *fallback_source, const struct sc_digest *fallback,
		    struct probe_policy *ret);

/*
 * Why a verb ends with exit status 2 when it is neither a verdict (no-report
 * has its verdict document) nor a failure to set up: with --json the verb
 * says which on stdout (cli_error_exit()).
 */
enum cli_error {
	CLI_ERROR_USAGE,     /* the command line is wrong, or names what cannot be used */
	CLI_ERROR_NO_POLICY, /* no digest policy, or one that cannot be loaded */
};

/*
 * cli_json_requested() - whether @argv (a verb's, sc-verb.h) asks for --json,
 * read as getopt_long() will read it (an abbreviation of --json, not the
 * argument of an option that takes one, nothing after "--"): known before the
 * options are parsed, so that a usage error among them can be said in JSON.
 */
bool cli_json_requested(const struct sc_program *prog, int argc, char **argv);

/*
 * cli_error_exit() - a verb ending with EXIT_USAGE for @kind, the problem
 * already said on stderr. With @json, one document on stdout:
 * {"schema": "sealcheck.probe.v1", "verdict": null, "error": "usage" |
 * "no-policy", "message": the last message said (sc_log_last())}.
 * Returns EXIT_USAGE.
 */
int cli_error_exit(bool json, enum cli_error kind);

/*
 * cli_not_bootable_exit() - `run --disk` found a boot chain the enrolled keys'
 * firmware refuses (said on stderr): NOT SEALED without a boot, exit 1. With
 * @json: {"schema": "sealcheck.probe.v1", "verdict": "unsealed", "error":
 * "not-bootable", "message": ...}.
 */
int cli_not_bootable_exit(bool json);

/* After sc_verb_next_option() returned @c < 0 or sc_verb_options_done() @rc >= 0: 0 for --help, else cli_error_exit(@json, CLI_ERROR_USAGE). */
int cli_options_exit(bool json, int rc);

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
	struct probe_uki_ref *uki;           /* owned: the sealed UKI read once (cli_tpm_load_uki()), x.uki */
};
void cli_tpm_done(struct cli_tpm *t);

/*
 * cli_tpm_load_uki() - after cli_tpm_prepare(): read x.uki_path and hash it once (probe-uki-ref.h) for
 * every verdict to come (watch: each round of each VM), against the key directory t->sb. 0; -EINVAL
 * with @why when the file cannot be read or parsed: the first time nothing is loaded; again (SIGHUP) the
 * failure replaces the UKI read before, so every verification's UKI links fail with @why (fail closed);
 * -ENOMEM (the UKI read before stays).
 */
int cli_tpm_load_uki(struct cli_tpm *t, char *why, size_t why_size);

/*
 * cli_tpm_credential() - after cli_tpm_prepare(), for a VM whose AK is not pinned: bind the evidence's
 * AK to the EK by credential activation in the session, the EK chaining to @ek_ca (a PEM bundle) or
 * being @ek_pub's (a TPM2B_PUBLIC file the host recorded), and pin the AK proven in @state_dir/ak.name
 * (@state_dir may be NULL: nothing is pinned). The configuration is t->cred: give it to the
 * attestation (probe_attest.credential, cli_tpm_credential_config()). Says the problem and returns -EINVAL when neither @ek_ca nor
 * @ek_pub is given or @ek_pub cannot be read.
 */
int cli_tpm_credential(const char *ek_ca, const char *ek_pub, const char *state_dir, struct cli_tpm *t);
/* t->cred when cli_tpm_credential() configured it, else NULL: no credential phase. */
static inline const struct probe_credential_config *cli_tpm_credential_config(const struct cli_tpm *t)
{
	return t->cred.ek_ca_file || t->cred.ek_public ? &t->cred : NULL;
}

/*
 * cli_tpm_prepare() - the host's enrolled keys from @keys_dir (PK.crt,
 * KEK.crt, db.crt), the pinned AK Name, the sealed UKI and the counters file
 * of the VM's TPM state (@state_dir, or NULL). Says the problem and returns
 * -EINVAL when a key cannot be read.
 */
int cli_tpm_prepare(const char *keys_dir, const uint8_t *ak_name, size_t ak_name_len,
		    const char *uki_path, const char *state_dir, const struct probe_policy *policy, struct cli_tpm *ret);

/* Print the verdict (human or JSON) and return the exit status. */
int cli_finish(const struct probe_attest *a, const struct probe_policy *p, bool json, const struct probe_vm *vm,
	       const struct probe_evidence_expect *tpm);

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
