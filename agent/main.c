/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sealcheck: is the running system sealed? The front end: lists the verbs,
 * each defined in its own file beside its option handling (cmd-*.c, as kmod's
 * tools/ have them), and hands the arguments to common/sc-verb.c, which finds
 * the verb and runs it. Exit status:
 *   status:  0 sealed, 1 not sealed, 2 could not determine or usage error
 *   measure: 0 every file measured, 1 some file failed, 2 usage error
 *   verify:  0 every object covered, 1 some object fails, 2 error or stopped early
 */
#include <stdio.h>

#include "cli-options.h"
#include "config.h"

static const struct sc_verb *const verbs[] = {
	&cmd_status,
	&cmd_measure,
	&cmd_verify,
	&cmd_agent,
	NULL,
};

static void usage(const struct sc_program *prog, FILE *f)
{
	fputs("Usage: sealcheck [VERB] [OPTIONS]\n"
	      "       sealcheck VERB --help\n"
	      "\n"
	      "Verify that the running system is sealed: a signed UKI names a composefs\n"
	      "digest, / is that composefs image with verity=require, the image measures\n"
	      "to that digest, and Secure Boot is enforcing.\n"
	      "\n"
	      "Verbs:\n",
	      f);
	sc_program_list_verbs(prog, f, 9);
	fputs("\n"
	      "Each verb takes its own options: sealcheck VERB --help lists them. Options\n"
	      "given before the verb are the verb's (sealcheck --root DIR verify).\n"
	      "  -h, --help  this help\n"
	      "  --version   the version\n"
	      "\n"
	      "Exit status: 0 sealed, 1 not sealed, 2 could not determine or usage error.\n",
	      f);
}

static const struct sc_program program = {
	.name = "sealcheck",
	.version = PACKAGE_VERSION,
	.catalogue = cli_catalogue,
	.verbs = verbs,
	.default_verb = "status",
	.usage = usage,
};

int main(int argc, char **argv)
{
	return sc_program_main(&program, argc, argv);
}
