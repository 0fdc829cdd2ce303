/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sealcheck-probe: the host side. One verb a file (cmd-*.c), each with its
 * own options; what they share is probe-cli.c and probe-attest.c, the rest
 * is the rooms below (verify/, session/, vm/, libvirt/, fleet/: README.md).
 * Exit status: 0 sealed, 1 not sealed, 2 no valid report, no policy or error.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "probe-cli.h"
#include "sc-macro.h"
#include "sc-term.h"

static const struct probe_verb verbs[] = {
	{ "run", verb_run, "boot a sealed image under QEMU, attest it, stop it" },
	{ "attest", verb_attest, "attest a VM that already runs, through its port's socket" },
	{ "predict-pcr11", verb_predict_pcr11, "predict PCR 11 of a UKI as systemd-measure calculate does" },
	{ "watch", verb_watch, "attest every VM of this host, round after round, and report changes" },
};

static void usage(FILE *f)
{
	fputs("Usage: sealcheck-probe VERB [OPTIONS]\n\nVerbs:\n", f);
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		fprintf(f, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
	fputs("\n`sealcheck-probe VERB --help` lists a verb's options.\n"
	      "Exit status: 0 sealed, 1 not sealed, 2 no valid report, no policy or error.\n",
	      f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("sealcheck-probe %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (strcmp(argv[1], verbs[i].name) == 0) {
			char name[64];

			/* getopt's own messages then name the verb: "sealcheck-probe run: unrecognized option". */
			snprintf(name, sizeof(name), "sealcheck-probe %s", verbs[i].name);
			argv[1] = name;
			return verbs[i].run(argc - 1, argv + 1);
		}
	fputs("sealcheck-probe: unknown verb '", stderr);
	sc_term_fput(stderr, argv[1], strlen(argv[1]) > 40 ? 40 : strlen(argv[1]), 0);
	fputs("' (try --help)\n", stderr);
	return EXIT_USAGE;
}
