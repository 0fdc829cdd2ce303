/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sealcheck-probe attest: a VM that already runs, through its port's socket. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "probe-cli.h"
#include "sc-fileio.h"
#include "sc-io.h"
#include "sc-log.h"
#include "sc-macro.h"

static int run(const struct sc_program *prog, const struct sc_verb *verb, int argc, char **argv)
{
	/* --json known first: a usage error among the options is then said in JSON too. */
	struct cli_common o = { .timeout = 60, .json = cli_json_requested(prog, argc, argv) };
	struct cli_policy *cp = &o.policy;
	struct probe_policy policy;
	struct probe_attest a = { 0 };
	const char *socket_path = NULL, *tpm_state = NULL, *tpm_uki = NULL, *tpm_keys = NULL, *ek_ca = NULL, *ek_pub = NULL,
		   *ek_owner = NULL;
	bool activate = false;
	_cleanup_(cli_tpm_done) struct cli_tpm tpm = { 0 };
	char name[128];
	int c, r, rc;

	optind = 0;
	while ((c = sc_verb_next_option(prog, verb, argc, argv)) >= 0) {
		switch (c) {
		case CLI_O_SOCKET:
			socket_path = optarg;
			break;
		case CLI_O_TPM_STATE:
			tpm_state = optarg;
			break;
		case CLI_O_TPM_UKI:
			tpm_uki = optarg;
			break;
		case CLI_O_TPM_KEYS:
			tpm_keys = optarg;
			break;
		case CLI_O_TPM_EK_CA:
			ek_ca = optarg;
			break;
		case CLI_O_TPM_EK_PUB:
			ek_pub = optarg;
			break;
		case CLI_O_TPM_EK_OWNER:
			ek_owner = optarg;
			break;
		case CLI_O_TPM_AK:
			if (strcmp(optarg, "pinned") != 0 && strcmp(optarg, "activate") != 0) {
				sc_log_error("--tpm-ak: not pinned or activate");
				return cli_error_exit(o.json, CLI_ERROR_USAGE);
			}
			activate = strcmp(optarg, "activate") == 0;
			break;
		default:
			if (cli_common_option(c, optarg, &o) < 0)
				return cli_error_exit(o.json, CLI_ERROR_USAGE);
			break;
		}
	}
	if (c != SC_OPTIONS_END)
		return cli_options_exit(o.json, sc_options_exit(c));
	if (!socket_path || optind != argc) {
		sc_verb_usage_error(prog, verb, "give --socket PATH and no other argument");
		return cli_error_exit(o.json, CLI_ERROR_USAGE);
	}
	if (!cp->vm_name) {
		/* The VM's name is where its socket is, never what the guest says (docs/threat-model.md). */
		const char *base = strrchr(socket_path, '/') ? strrchr(socket_path, '/') + 1 : socket_path;
		size_t n = strlen(base);

		if (n > 5 && strcmp(base + n - 5, ".sock") == 0)
			n -= 5;
		snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) - 1 ? n : sizeof(name) - 1), base);
		cp->vm_name = name;
	}
	if (cli_make_policy(cp, NULL, NULL, &policy) < 0)
		return cli_error_exit(o.json, CLI_ERROR_NO_POLICY);
	if (ek_ca && (!ek_owner || !ek_owner[0] || strlen(ek_owner) > 250)) {
		/* A CA certifies many TPMs: without the VM's identity a rooted VM could relay the challenge
		 * to a sealed neighbour under the same CA and have that neighbour's AK pinned as its own. */
		sc_log_error("--tpm-ek-ca needs --tpm-ek-owner NAME[:UUID], the VM its EK certificate must "
			     "name (libvirt's swtpm_setup writes CN=NAME:UUID)");
		return cli_error_exit(o.json, CLI_ERROR_USAGE);
	}
	if (ek_owner && !ek_ca) {
		sc_log_error("--tpm-ek-owner goes with --tpm-ek-ca");
		return cli_error_exit(o.json, CLI_ERROR_USAGE);
	}
	if (tpm_state || tpm_uki || tpm_keys || ek_ca || ek_pub || activate) {
		/* The VM's TPM, as the host recorded it: its evidence is required. */
		uint8_t ak[PROBE_TPM_STATE_NAME_MAX];
		char ak_path[PATH_MAX], why[400];
		size_t ak_len = 0;

		if (!tpm_state || !tpm_uki || !tpm_keys) {
			sc_log_error("--tpm-state, --tpm-uki and --tpm-keys go together");
			return cli_error_exit(o.json, CLI_ERROR_USAGE);
		}
		if (probe_tpm_state_path(tpm_state, PROBE_TPM_STATE_AK_NAME, ak_path, sizeof(ak_path)) < 0) {
			sc_log_error("--tpm-state: the path is too long");
			return cli_error_exit(o.json, CLI_ERROR_USAGE);
		}
		{
			/* The VM folder itself: not a symlink, ours, not group/other writable (probe-tpm-state.h). */
			_cleanup_close_ int fd = probe_tpm_state_open(tpm_state, NULL, false, why, sizeof(why));

			if (fd < 0) {
				sc_log_error("--tpm-state %s", why);
				return cli_error_exit(o.json, CLI_ERROR_USAGE);
			}
			r = activate ? -ENOENT : probe_tpm_state_read_ak_at(fd, tpm_state, ak, sizeof(ak), &ak_len, why, sizeof(why));
		}
		if (r < 0 && r != -ENOENT && r != -EBADMSG) {
			/* Refused (a symlink, another owner, ...): never read through, never replaced by activation. */
			sc_log_error("%s", why);
			return cli_error_exit(o.json, CLI_ERROR_USAGE);
		}
		if (r < 0 && r != -ENOENT) {
			/* A pin that is there but unreadable or cut short is never replaced by a new activation. */
			sc_log_error("%s: the pinned AK Name cannot be read or is shorter than 34 bytes; "
				     "remove it to bind the VM's AK again",
				     ak_path);
			return cli_error_exit(o.json, CLI_ERROR_USAGE);
		}
		if (r == -ENOENT) {
			/* No AK pinned (a TPM the probe did not make, e.g. libvirt's): bind it to the EK now. */
			ak_len = 0;
			if (!ek_ca && !ek_pub) {
				sc_log_error("%s: no AK Name the host recorded (made by run --tpm-state); "
					     "give --tpm-ek-ca or --tpm-ek-pub to bind the VM's AK to its EK",
					     ak_path);
				return cli_error_exit(o.json, CLI_ERROR_USAGE);
			}
		}
		if (cli_tpm_prepare(tpm_keys, ak, ak_len, tpm_uki, tpm_state, &policy, &tpm) < 0)
			return cli_error_exit(o.json, CLI_ERROR_USAGE);
		if (!ak_len && cli_tpm_credential(ek_ca, ek_pub, tpm_state, &tpm) < 0)
			return cli_error_exit(o.json, CLI_ERROR_USAGE);
		if (ek_owner) {
			/* NAME:UUID exactly; NAME alone: that name, then any UUID (probe-credential.h). */
			size_t n = strlen(ek_owner);
			bool has_uuid = n > 37 && ek_owner[n - 37] == ':' && ek_owner[n - 28] == '-' && ek_owner[n - 23] == '-' &&
					ek_owner[n - 18] == '-' && ek_owner[n - 13] == '-';

			snprintf(tpm.ek_cn, sizeof(tpm.ek_cn), "%s%s", ek_owner, has_uuid ? "" : ":");
			tpm.cred.ek_cert_cn = tpm.ek_cn;
		}
		a.expect_evidence = true;
	}

	r = probe_block_signals();
	if (r >= 0) {
		a.socket_path = socket_path;
		a.deadline_ms = sc_now_ms() + (long long)o.timeout * 1000;
		a.credential = cli_tpm_credential_config(&tpm);
		r = probe_attest_run(&a);
		tpm.x.credential = &a.session.credential; /* how the credential phase went, if it ran */
	}
	if (r < 0) {
		sc_log_error("setting up the event loop: %s", strerror(-r));
		probe_attest_done(&a);
		return PROBE_NO_REPORT;
	}
	rc = cli_finish(&a, &policy, o.json, NULL, a.expect_evidence ? &tpm.x : NULL);
	probe_attest_done(&a);
	return rc;
}

static const struct sc_verb_option options[] = {
	{ CLI_O_SOCKET, "the port's UNIX socket (required)" },
	{ CLI_O_EXPECT, "a composefs digest the VM may run (sha256:/sha512: optional); repeatable" },
	{ CLI_O_POLICY, "a sealcheck.policy.v1 file mapping VM names to allowed digests" },
	{ CLI_O_VM, "the VM's name in the policy (default: the socket's file name without .sock)" },
	{ CLI_O_NO_SB, "accept Secure Boot in setup, audit or disabled mode" },
	{ CLI_O_TIMEOUT, "how long to wait for the report (default 60)" },
	{ CLI_O_JSON, "the verdict as JSON (sealcheck.probe.v1), the guest report embedded; an exit 2 for a "
		      "usage error or no policy as {\"verdict\": null, \"error\": ...}" },
	{ CLI_O_TPM_STATE, "the VM's TPM state as `run --tpm-state` made it (its pinned AK, its quote "
			   "counters): the report's TPM evidence is then required" },
	{ CLI_O_TPM_UKI, "with --tpm-state: the sealed UKI the host built (for PCR 11 and 9)" },
	{ CLI_O_TPM_KEYS, "with --tpm-state: the Secure Boot keys enrolled (PK.crt, KEK.crt, db.crt)" },
	{ CLI_O_TPM_EK_CA, "with --tpm-state: when it pins no AK (no ak.name, e.g. libvirt's swtpm), bind the "
			   "guest's AK to the EK by credential activation, the EK certificate chaining to these "
			   "CA certificates (PEM), and pin it in DIR/ak.name" },
	{ CLI_O_TPM_EK_OWNER, "with --tpm-ek-ca (required): the VM the EK certificate must name, its subject CN "
			      "as libvirt's swtpm_setup writes it (NAME:UUID; NAME alone: that name and any UUID), "
			      "so a neighbour's EK under the same CA is refused" },
	{ CLI_O_TPM_EK_PUB, "the same, the EK being this TPM2B_PUBLIC the host recorded" },
	{ CLI_O_TPM_AK, "pinned|activate: the pinned AK when there is one (default), or activation now "
			"regardless" },
	{},
};

const struct sc_verb cmd_attest = {
	.name = "attest",
	.args = "--socket PATH (--expect-digest HEX... | --policy FILE)",
	.summary = "attest a VM that already runs, through its port's socket",
	.description = "Attest a VM that already runs: connect to the host side of its virtio-serial port\n"
		       "org.sealcheck.attest.0 (a QEMU or libvirt chardev socket), send a fresh nonce,\n"
		       "validate the report that echoes it and judge it against the host's policy.\n"
		       "Without a digest policy the probe refuses (exit 2).",
	.exit_status = "0 sealed, 1 not sealed, 2 no valid report, no policy or usage error.",
	.run = run,
	.options = options,
};
