/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sealcheck-probe attest: a VM that already runs, through its port's socket. */
#include <getopt.h>
#include <stdlib.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "probe-cli.h"
#include "sc-fileio.h"
#include "sc-io.h"
#include "sc-macro.h"
#include "sc-term.h"

static void usage(FILE *f)
{
	fputs("Usage: sealcheck-probe attest --socket PATH (--expect-digest HEX... | --policy FILE) [OPTIONS]\n"
	      "\n"
	      "Attest a VM that already runs: connect to the host side of its virtio-serial port\n"
	      "org.sealcheck.attest.0 (a QEMU or libvirt chardev socket), send a fresh nonce,\n"
	      "validate the report that echoes it and judge it against the host's policy.\n"
	      "Without a digest policy the probe refuses (exit 2).\n"
	      "\n"
	      "Options:\n"
	      "  --socket PATH           the port's UNIX socket (required)\n"
	      "  --expect-digest HEX     a composefs digest the VM may run (sha256:/sha512: optional); repeatable\n"
	      "  --policy FILE           a sealcheck.policy.v1 file mapping VM names to allowed digests\n"
	      "  --vm NAME               the VM's name in the policy (default: the socket's file name\n"
	      "                          without .sock)\n"
	      "  --no-require-secure-boot  accept Secure Boot in setup, audit or disabled mode\n"
	      "  --timeout S             how long to wait for the report (default 60)\n"
	      "  --json                  the verdict as JSON (sealcheck.probe.v1), the guest report embedded\n"
	      "  --tpm-state DIR         the VM's TPM state as `run --tpm-state` made it (its pinned AK,\n"
	      "                          its quote counters): the report's TPM evidence is then required\n"
	      "  --tpm-uki FILE          with --tpm-state: the sealed UKI the host built (for PCR 11 and 9)\n"
	      "  --tpm-keys DIR          with --tpm-state: the Secure Boot keys enrolled (PK.crt, KEK.crt, db.crt)\n"
	      "  --tpm-ek-ca FILE        with --tpm-state: when it pins no AK (no ak.name, e.g. libvirt's swtpm), bind\n"
	      "                          the guest's AK to the EK by credential activation, the EK certificate\n"
	      "                          chaining to these CA certificates (PEM), and pin it in DIR/ak.name\n"
	      "  --tpm-ek-owner NAME[:UUID]  with --tpm-ek-ca (required): the VM the EK certificate must name,\n"
	      "                          its subject CN as libvirt's swtpm_setup writes it (NAME:UUID; NAME alone:\n"
	      "                          that name and any UUID), so a neighbour's EK under the same CA is refused\n"
	      "  --tpm-ek-pub FILE       the same, the EK being this TPM2B_PUBLIC the host recorded\n"
	      "  --tpm-ak pinned|activate  the pinned AK when there is one (default), or activation now regardless\n"
	      "  -h, --help              this text\n"
	      "\n"
	      "Exit status: 0 sealed, 1 not sealed, 2 no valid report, no policy or usage error.\n",
	      f);
}

int verb_attest(int argc, char **argv)
{
	enum { O_SOCKET = 0x100, O_TPM_STATE, O_TPM_UKI, O_TPM_KEYS, O_TPM_EK_CA, O_TPM_EK_PUB, O_TPM_AK, O_TPM_EK_OWNER };
	static const struct option options[] = {
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "tpm-state", required_argument, NULL, O_TPM_STATE },
		{ "tpm-uki", required_argument, NULL, O_TPM_UKI },
		{ "tpm-keys", required_argument, NULL, O_TPM_KEYS },
		{ "tpm-ek-ca", required_argument, NULL, O_TPM_EK_CA },
		{ "tpm-ek-pub", required_argument, NULL, O_TPM_EK_PUB },
		{ "tpm-ek-owner", required_argument, NULL, O_TPM_EK_OWNER },
		{ "tpm-ak", required_argument, NULL, O_TPM_AK },
		CLI_POLICY_OPTIONS,
		{},
	};
	struct cli_common o = { .timeout = 60 };
	struct cli_policy *cp = &o.policy;
	struct probe_policy policy;
	struct probe_attest a = { 0 };
	const char *socket_path = NULL, *tpm_state = NULL, *tpm_uki = NULL, *tpm_keys = NULL, *ek_ca = NULL, *ek_pub = NULL,
		   *ek_owner = NULL;
	bool activate = false;
	_cleanup_(cli_tpm_done) struct cli_tpm tpm = { 0 };
	char name[128];
	int c, r, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case O_SOCKET:
			socket_path = optarg;
			break;
		case O_TPM_STATE:
			tpm_state = optarg;
			break;
		case O_TPM_UKI:
			tpm_uki = optarg;
			break;
		case O_TPM_KEYS:
			tpm_keys = optarg;
			break;
		case O_TPM_EK_CA:
			ek_ca = optarg;
			break;
		case O_TPM_EK_PUB:
			ek_pub = optarg;
			break;
		case O_TPM_EK_OWNER:
			ek_owner = optarg;
			break;
		case O_TPM_AK:
			if (strcmp(optarg, "pinned") != 0 && strcmp(optarg, "activate") != 0) {
				fputs("sealcheck-probe attest: --tpm-ak: not pinned or activate\n", stderr);
				return EXIT_USAGE;
			}
			activate = strcmp(optarg, "activate") == 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			r = cli_common_option("attest", c, optarg, &o);
			if (r > 0)
				break;
			if (r < 0)
				return EXIT_USAGE;
			fputs("sealcheck-probe attest: see --help for the options of this verb\n", stderr);
			return EXIT_USAGE;
		}
	}
	if (!socket_path || optind != argc) {
		fprintf(stderr, "sealcheck-probe attest: give --socket PATH and no other argument\n");
		return EXIT_USAGE;
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
	if (cli_make_policy("attest", cp, NULL, NULL, &policy) < 0)
		return EXIT_USAGE;
	if (ek_ca && (!ek_owner || !ek_owner[0] || strlen(ek_owner) > 250)) {
		/* A CA certifies many TPMs: without the VM's identity a rooted VM could relay the challenge
		 * to a sealed neighbour under the same CA and have that neighbour's AK pinned as its own. */
		fputs("sealcheck-probe attest: --tpm-ek-ca needs --tpm-ek-owner NAME[:UUID], the VM its EK certificate must "
		      "name (libvirt's swtpm_setup writes CN=NAME:UUID)\n",
		      stderr);
		return EXIT_USAGE;
	}
	if (ek_owner && !ek_ca) {
		fputs("sealcheck-probe attest: --tpm-ek-owner goes with --tpm-ek-ca\n", stderr);
		return EXIT_USAGE;
	}
	if (tpm_state || tpm_uki || tpm_keys || ek_ca || ek_pub || activate) {
		/* The VM's TPM, as the host recorded it: its evidence is required. */
		uint8_t ak[PROBE_TPM_STATE_NAME_MAX];
		char ak_path[PATH_MAX];
		size_t ak_len = 0;

		if (!tpm_state || !tpm_uki || !tpm_keys) {
			fputs("sealcheck-probe attest: --tpm-state, --tpm-uki and --tpm-keys go together\n", stderr);
			return EXIT_USAGE;
		}
		if (probe_tpm_state_path(tpm_state, PROBE_TPM_STATE_AK_NAME, ak_path, sizeof(ak_path)) < 0) {
			fputs("sealcheck-probe attest: --tpm-state: the path is too long\n", stderr);
			return EXIT_USAGE;
		}
		r = activate ? -ENOENT : probe_tpm_state_read_ak(ak_path, ak, sizeof(ak), &ak_len);
		if (r < 0 && r != -ENOENT) {
			/* A pin that is there but unreadable or cut short is never replaced by a new activation. */
			fprintf(stderr, "sealcheck-probe attest: %s: the pinned AK Name cannot be read or is shorter than 34 bytes; "
					"remove it to bind the VM's AK again\n",
				ak_path);
			return EXIT_USAGE;
		}
		if (r == -ENOENT) {
			/* No AK pinned (a TPM the probe did not make, e.g. libvirt's): bind it to the EK now. */
			ak_len = 0;
			if (!ek_ca && !ek_pub) {
				fprintf(stderr, "sealcheck-probe attest: %s: no AK Name the host recorded (made by run --tpm-state); "
						"give --tpm-ek-ca or --tpm-ek-pub to bind the VM's AK to its EK\n",
					ak_path);
				return EXIT_USAGE;
			}
		}
		if (cli_tpm_prepare("attest", tpm_keys, ak, ak_len, tpm_uki, tpm_state, &policy, &tpm) < 0)
			return EXIT_USAGE;
		if (!ak_len && cli_tpm_credential("attest", ek_ca, ek_pub, tpm_state, &tpm) < 0)
			return EXIT_USAGE;
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
		fprintf(stderr, "sealcheck-probe attest: setting up the event loop: %s\n", strerror(-r));
		probe_attest_done(&a);
		return PROBE_NO_REPORT;
	}
	rc = cli_finish(&a, &policy, o.json, NULL, a.expect_evidence ? &tpm.x : NULL);
	probe_attest_done(&a);
	return rc;
}
