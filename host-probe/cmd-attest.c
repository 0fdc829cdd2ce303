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
	enum { O_SOCKET = 0x100 };
	static const struct option options[] = {
		{ "socket", required_argument, NULL, O_SOCKET },
		CLI_POLICY_OPTIONS,
		{},
	};
	struct cli_common o = { .timeout = 60 };
	struct cli_policy *cp = &o.policy;
	struct probe_policy policy;
	struct probe_attest a = { 0 };
	const char *socket_path = NULL;
	char name[128];
	int c, r, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case O_SOCKET:
			socket_path = optarg;
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

	r = probe_block_signals();
	if (r >= 0) {
		a.socket_path = socket_path;
		a.deadline_ms = sc_now_ms() + (long long)o.timeout * 1000;
		r = probe_attest_run(&a);
	}
	if (r < 0) {
		fprintf(stderr, "sealcheck-probe attest: setting up the event loop: %s\n", strerror(-r));
		probe_attest_done(&a);
		return PROBE_NO_REPORT;
	}
	rc = cli_finish(&a, &policy, o.json, NULL, NULL);
	probe_attest_done(&a);
	return rc;
}
