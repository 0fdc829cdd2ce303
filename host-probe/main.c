/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sealcheck-probe: the host side. The front end lists the verbs, each
 * defined in its own file beside its option handling (cmd-*.c, as kmod's
 * tools/ have them), and hands the arguments to common/sc-verb.c, which finds
 * the verb and runs it. What the verbs share is probe-cli.c (the option
 * catalogue, the policy options, the result) and probe-attest.c, the rest is
 * the rooms below (verify/, session/, vm/, libvirt/, fleet/: README.md).
 * Exit status: 0 sealed, 1 not sealed, 2 no valid report, no policy or error.
 */
#include <stdio.h>

#include "config.h"
#include "probe-cli.h"

static const struct sc_verb *const verbs[] = {
	&cmd_run,
	&cmd_attest,
	&cmd_predict_pcr11,
	&cmd_watch,
	NULL,
};

static void usage(const struct sc_program *prog, FILE *f)
{
	fputs("Usage: sealcheck-probe VERB [OPTIONS]\n"
	      "       sealcheck-probe VERB --help\n"
	      "\n"
	      "Verbs:\n",
	      f);
	sc_program_list_verbs(prog, f, 13);
	fputs("\n"
	      "`sealcheck-probe VERB --help` lists a verb's options. Options given before the\n"
	      "verb are the verb's (sealcheck-probe --json attest --socket PATH ...).\n"
	      "  -h, --help  this help\n"
	      "  --version   the version\n"
	      "\n"
	      "Exit status: 0 sealed, 1 not sealed, 2 no valid report, no policy or error.\n",
	      f);
}

static const struct sc_program program = {
	.name = "sealcheck-probe",
	.version = PACKAGE_VERSION,
	.catalogue = probe_catalogue,
	.verbs = verbs,
	.default_verb = NULL, /* no verb: the usage, exit 2 */
	.usage = usage,
};

int main(int argc, char **argv)
{
	return sc_program_main(&program, argc, argv);
}
