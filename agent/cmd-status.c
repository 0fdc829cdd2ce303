/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sealcheck status: every check, a human report or the JSON one, and a verdict. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-output.h"
#include "cli-options.h"
#include "sc-bootc.h"
#include "sc-checks.h"
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
	} else {
		_cleanup_free_ struct sc_bootc_deployment *d = calloc(1, sizeof(*d));

		if (!d || sc_report_deployment(paths, &rep, d) < 0) {
			fprintf(stderr, "sealcheck: out of memory\n");
			sc_report_done(&rep);
			return EXIT_UNDETERMINED;
		}
		cli_print_human(stdout, &rep, d, cli_use_color(stdout));
	}
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

static int run(const struct sc_program *prog, const struct sc_verb *verb, int argc, char **argv)
{
	struct sc_paths paths = SC_PATHS_SYSTEM;
	struct sc_collect_options collect = { 0 };
	bool json = false, bounded = false;
	unsigned long long v;
	int c, r;

	optind = 0;
	while ((c = sc_verb_next_option(prog, verb, argc, argv)) >= 0) {
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
			if (sc_verb_parse_number(prog, verb, c, optarg, 0, 86400, &v) < 0)
				return EXIT_USAGE;
			collect.max_seconds = (unsigned)v;
			bounded = true;
			break;
		default:
			(void)cli_path_option(c, optarg, &paths);
			break;
		}
	}
	if ((r = sc_verb_options_done(prog, verb, c, argc, argv)) >= 0)
		return r;
	if ((collect.deep || bounded) && !collect.verify_objects)
		return sc_verb_usage_error(prog, verb, "--%s needs --verify-objects", collect.deep ? "deep" : "max-seconds");
	if (cli_check_paths(&paths) != 0)
		return EXIT_USAGE;
	return status_run(&paths, &collect, json);
}

static const struct sc_verb_option options[] = {
	{ CLI_OPT_JSON, "the report as JSON (sealcheck.report.v1) on stdout" },
	{ CLI_OPT_VERIFY_OBJECTS, "add checks.objects: every object of the image, as sealcheck "
				  "verify; it is then required for a sealed verdict" },
	{ CLI_OPT_DEEP, "with --verify-objects: read every object too" },
	{ CLI_OPT_MAX_SECONDS, "with --verify-objects: stop the walk after S seconds (default 0: "
			       "no limit); a walk cut short is an error, never a pass" },
	{ CLI_OPT_ROOT, "read every system path below DIR (a fixture tree)" },
	{ CLI_OPT_SYSROOT, "where the composefs repository's physical root is (/sysroot)" },
	{},
};

const struct sc_verb cmd_status = {
	.name = "status",
	.summary = "all checks, a human report and a verdict (the default)",
	.description = "Verify that the running system is sealed: a signed UKI names a composefs\n"
		       "digest, / is that composefs image with verity=require, the image measures\n"
		       "to that digest, and Secure Boot is enforcing. One line per check, the facts\n"
		       "behind it, and a verdict.",
	.exit_status = "0 sealed, 1 not sealed, 2 could not determine or usage error.",
	.run = run,
	.options = options,
};
