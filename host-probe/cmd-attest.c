/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sealcheck-probe attest: a VM that already runs, through its port's socket. */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "probe-cli.h"
#include "sc-io.h"
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
	      "  -h, --help              this text\n"
	      "\n"
	      "Exit status: 0 sealed, 1 not sealed, 2 no valid report, no policy or usage error.\n",
	      f);
}

int verb_attest(int argc, char **argv)
{
	enum { O_SOCKET = 0x100, O_EXPECT, O_POLICY, O_VM, O_NO_SB, O_TIMEOUT, O_JSON };
	static const struct option options[] = {
		{ "socket", required_argument, NULL, O_SOCKET },   { "expect-digest", required_argument, NULL, O_EXPECT },
		{ "policy", required_argument, NULL, O_POLICY },   { "vm", required_argument, NULL, O_VM },
		{ "no-require-secure-boot", no_argument, NULL, O_NO_SB },
		{ "timeout", required_argument, NULL, O_TIMEOUT }, { "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },		   {},
	};
	struct cli_policy cp = { 0 };
	struct probe_policy policy;
	struct probe_attest a = { 0 };
	const char *socket_path = NULL;
	unsigned long timeout = 60;
	bool json = false;
	char name[128];
	int c, r, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case O_SOCKET:
			socket_path = optarg;
			break;
		case O_EXPECT:
			if (cli_add_expect("attest", &cp, optarg) < 0)
				return EXIT_USAGE;
			break;
		case O_POLICY:
			cp.policy_file = optarg;
			break;
		case O_VM:
			cp.vm_name = optarg;
			break;
		case O_NO_SB:
			cp.allow_setup_mode = true;
			break;
		case O_TIMEOUT:
			if (cli_parse_seconds("attest", "--timeout", optarg, 86400, &timeout) < 0)
				return EXIT_USAGE;
			break;
		case O_JSON:
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fputs("sealcheck-probe attest: see --help for the options of this verb\n", stderr);
			return EXIT_USAGE;
		}
	}
	if (!socket_path || optind != argc) {
		fprintf(stderr, "sealcheck-probe attest: give --socket PATH and no other argument\n");
		return EXIT_USAGE;
	}
	if (!cp.vm_name) {
		/* The VM's name is where its socket is, never what the guest says (docs/threat-model.md). */
		const char *base = strrchr(socket_path, '/') ? strrchr(socket_path, '/') + 1 : socket_path;
		size_t n = strlen(base);

		if (n > 5 && strcmp(base + n - 5, ".sock") == 0)
			n -= 5;
		snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) - 1 ? n : sizeof(name) - 1), base);
		cp.vm_name = name;
	}
	if (cli_make_policy("attest", &cp, NULL, NULL, &policy) < 0)
		return EXIT_USAGE;

	r = probe_block_signals();
	if (r >= 0) {
		a.socket_path = socket_path;
		a.deadline_ms = sc_now_ms() + (long long)timeout * 1000;
		r = probe_attest_run(&a);
	}
	if (r < 0) {
		fprintf(stderr, "sealcheck-probe attest: setting up the event loop: %s\n", strerror(-r));
		probe_attest_done(&a);
		return PROBE_NO_REPORT;
	}
	rc = cli_finish(&a, &policy, json, NULL);
	probe_attest_done(&a);
	return rc;
}
