/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sealcheck measure: fs-verity digests, as `fsverity measure` prints them. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "sc-verb.h"
#include "sc-fsverity.h"

int cmd_measure(const struct cli_verb *verb, int argc, char **argv)
{
	int c, failed = 0;

	optind = 0;
	while ((c = cli_next_option(verb, argc, argv)) >= 0)
		; /* measure takes no option but --help: cli_next_option() turns down every other */
	if (c != CLI_OPTIONS_END)
		return cli_options_exit(c);
	if (optind >= argc)
		return cli_usage_error(verb, "no FILE given");
	for (int i = optind; i < argc; i++) {
		struct sc_digest d;
		char s[SC_DIGEST_HEX_MAX + 8];
		int r = sc_fsverity_measure_path(argv[i], true, &d); /* as fsverity measure, follow links */

		if (r < 0) {
			const char *why = sc_fsverity_strerror(r);

			fprintf(stderr, "sealcheck: %s: %s\n", argv[i], why ? why : strerror(-r));
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
