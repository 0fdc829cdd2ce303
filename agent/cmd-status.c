/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sealcheck status: every check, a human report or the JSON one, and a verdict. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli-output.h"
#include "sc-verb.h"
#include "sc-json.h"

static int status_run(const struct sc_paths *paths, const struct sc_collect_options *collect, bool json)
{
	struct sc_report rep;
	_cleanup_json_ json_t *doc = NULL;
	int r;

	r = sc_report_collect(paths, collect, &rep);
	if (r < 0) {
		fprintf(stderr, "sealcheck: collecting the report: %s\n", strerror(-r));
		return EXIT_UNDETERMINED;
	}
	if (json) {
		r = sc_report_to_json(paths, &rep, NULL, &doc);
		if (r < 0 || json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) < 0) {
			fprintf(stderr, "sealcheck: writing the JSON report failed\n");
			sc_report_done(&rep);
			return EXIT_UNDETERMINED;
		}
		fputc('\n', stdout);
	} else
		cli_print_human(stdout, &rep, cli_use_color(stdout));
	r = rep.verdict == SC_VERDICT_SEALED	 ? EXIT_SEALED
	    : rep.verdict == SC_VERDICT_UNSEALED ? EXIT_UNSEALED
						 : EXIT_UNDETERMINED;
	sc_report_done(&rep);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "sealcheck: writing to stdout: %s\n", strerror(errno));
		return EXIT_UNDETERMINED;
	}
	return r;
}

int cmd_status(const struct cli_verb *verb, int argc, char **argv)
{
	struct sc_paths paths = SC_PATHS_SYSTEM;
	struct sc_collect_options collect = { 0 };
	bool json = false, bounded = false;
	unsigned long long v;
	int c, r;

	optind = 0;
	while ((c = cli_next_option(verb, argc, argv)) >= 0) {
		switch (c) {
		case CLI_OPT_JSON:
			json = true;
			break;
		case CLI_OPT_VERIFY_OBJECTS:
			collect.verify_objects = true;
			break;
		case CLI_OPT_DEEP:
			collect.deep = true;
			break;
		case CLI_OPT_MAX_SECONDS:
			if (cli_parse_number(verb, c, optarg, 0, 86400, &v) < 0)
				return EXIT_USAGE;
			collect.max_seconds = (unsigned)v;
			bounded = true;
			break;
		default:
			(void)cli_path_option(c, optarg, &paths);
			break;
		}
	}
	if ((r = cli_options_done(verb, c, argc, argv)) >= 0)
		return r;
	if ((collect.deep || bounded) && !collect.verify_objects)
		return cli_usage_error(verb, "--%s needs --verify-objects", collect.deep ? "deep" : "max-seconds");
	if (cli_check_paths(verb, &paths) != 0)
		return EXIT_USAGE;
	return status_run(&paths, &collect, json);
}
