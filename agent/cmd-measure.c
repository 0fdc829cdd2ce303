/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sealcheck measure: fs-verity digests, as `fsverity measure` prints them. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli-options.h"
#include "sc-fsverity.h"
#include "sc-log.h"

static int run(const struct sc_program *prog, const struct sc_verb *verb, int argc, char **argv)
{
	int c, failed = 0;

	/* As `fsverity measure`, a file's problem is said as "sealcheck: FILE: why", no verb named. */
	sc_log_open(prog->name, NULL);
	optind = 0;
	while ((c = sc_verb_next_option(prog, verb, argc, argv)) >= 0)
		; /* measure takes no option but --help: sc_verb_next_option() turns down every other */
	if (c != SC_OPTIONS_END)
		return sc_options_exit(c);
	if (optind >= argc)
		return sc_verb_usage_error(prog, verb, "no FILE given");
	for (int i = optind; i < argc; i++) {
		struct sc_digest d;
		char s[SC_DIGEST_HEX_MAX + 8];
		int r = sc_fsverity_measure_path(argv[i], true, &d); /* as fsverity measure, follow links */

		if (r < 0) {
			const char *why = sc_fsverity_strerror(r);

			sc_log_error("%s: %s", argv[i], why ? why : strerror(-r));
			failed = 1;
			continue;
		}
		printf("%s %s\n", sc_digest_to_string(&d, s), argv[i]);
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "sealcheck: writing to stdout: %s\n", strerror(errno));
		return EXIT_UNDETERMINED;
	}
	return failed ? 1 : 0;
}

const struct sc_verb cmd_measure = {
	.name = "measure",
	.args = "FILE...",
	.summary = "each file's fs-verity digest, as `fsverity measure` prints it",
	.description = "Print each FILE's fs-verity digest as ALGORITHM:HEX FILE, as `fsverity measure`\n"
		       "does (symbolic links are followed). A FILE that begins with '-' goes after --.",
	.exit_status = "0 every file measured, 1 some file could not be, 2 usage error.",
	.run = run,
};
