/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sealcheck: is the running system sealed? The front end: parses arguments,
 * runs the checking core, and says the result. Exit status:
 *   status:  0 sealed, 1 not sealed, 2 could not determine or usage error
 *   measure: 0 every file measured, 1 some file failed, 2 usage error
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli-agent.h"
#include "cli-output.h"
#include "cli-verify.h"
#include "config.h"
#include "sc-fsverity.h"
#include "sc-json.h"

#define EXIT_SEALED 0
#define EXIT_UNSEALED 1
#define EXIT_UNDETERMINED 2
#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fputs("Usage: sealcheck [status] [--json] [--root DIR] [--sysroot PATH]\n"
	      "       sealcheck measure FILE...\n"
	      "       sealcheck agent [--port NAME] [--wait-port S]\n"
	      "       sealcheck verify [--deep] [--max-files N] [--max-seconds S] [--json]\n"
	      "                        [--image PATH --objects DIR] [--walk auto|parse|mount]\n"
	      "\n"
	      "Verify that the running system is sealed: a signed UKI names a composefs\n"
	      "digest, / is that composefs image with verity=require, the image measures\n"
	      "to that digest, and Secure Boot is enforcing.\n"
	      "\n"
	      "Commands:\n"
	      "  status         all checks, a human report and a verdict (default)\n"
	      "  measure FILE   print each file's fs-verity digest, as `fsverity measure`\n"
	      "  agent          attest to the host over a virtio-serial port (the service)\n"
	      "  verify         check every object of the composefs image now (--deep: read them all)\n"
	      "\n"
	      "Options:\n"
	      "  --json         the report as JSON (sealcheck.report.v1) on stdout\n"
	      "  --verify-objects  status/agent: add checks.objects (sealcheck verify); --deep reads them\n"
	      "  --root DIR     read every system path below DIR (a fixture tree)\n"
	      "  --sysroot PATH where the composefs repository's physical root is (/sysroot)\n"
	      "  --port NAME    agent: virtio-serial port name (" SC_VIRTIO_PORT_DEFAULT ")\n"
	      "  --wait-port S  agent: look for the port this long (60)\n"
	      "  --walk HOW     verify: parse the image's bytes, or mount it (auto: parse, mount if unknown)\n"
	      "  -h, --help     this help\n"
	      "  --version      the version\n"
	      "\n"
	      "Exit status: 0 sealed, 1 not sealed, 2 could not determine or usage error.\n",
	      f);
}

static int cmd_measure(int argc, char **argv)
{
	int failed = 0;

	if (argc < 1) {
		fprintf(stderr, "sealcheck measure: no FILE given\n");
		return EXIT_USAGE;
	}
	for (int i = 0; i < argc; i++) {
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

static int cmd_status(const struct sc_paths *paths, const struct sc_collect_options *collect, bool json)
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
	r = rep.verdict == SC_VERDICT_SEALED ? EXIT_SEALED
	    : rep.verdict == SC_VERDICT_UNSEALED ? EXIT_UNSEALED
						 : EXIT_UNDETERMINED;
	sc_report_done(&rep);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "sealcheck: writing to stdout: %s\n", strerror(errno));
		return EXIT_UNDETERMINED;
	}
	return r;
}

int main(int argc, char **argv)
{
	enum { OPT_ROOT = 0x100, OPT_SYSROOT, OPT_JSON, OPT_VERSION, OPT_PORT, OPT_DEVICE, OPT_WAIT_PORT, OPT_MAX_ANSWERS,
	       OPT_DEEP, OPT_MAX_FILES, OPT_MAX_SECONDS, OPT_IMAGE, OPT_OBJECTS, OPT_THREADS, OPT_MOUNTED,
	       OPT_VERIFY_OBJECTS, OPT_WALK };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },	      { "version", no_argument, NULL, OPT_VERSION },
		{ "json", no_argument, NULL, OPT_JSON },      { "root", required_argument, NULL, OPT_ROOT },
		{ "sysroot", required_argument, NULL, OPT_SYSROOT }, { "port", required_argument, NULL, OPT_PORT },
		{ "device", required_argument, NULL, OPT_DEVICE },   { "wait-port", required_argument, NULL, OPT_WAIT_PORT },
		{ "max-answers", required_argument, NULL, OPT_MAX_ANSWERS }, { "deep", no_argument, NULL, OPT_DEEP },
		{ "max-files", required_argument, NULL, OPT_MAX_FILES },     { "max-seconds", required_argument, NULL, OPT_MAX_SECONDS },
		{ "image", required_argument, NULL, OPT_IMAGE },	     { "objects", required_argument, NULL, OPT_OBJECTS },
		{ "threads", required_argument, NULL, OPT_THREADS },	     { "mounted", required_argument, NULL, OPT_MOUNTED },
		{ "verify-objects", no_argument, NULL, OPT_VERIFY_OBJECTS }, { "walk", required_argument, NULL, OPT_WALK },
		{},
	};
	struct sc_paths paths = SC_PATHS_SYSTEM;
	struct cli_agent_options agent = { .port = SC_VIRTIO_PORT_DEFAULT, .wait_port_s = 60 };
	struct sc_verify_options verify = { 0 };
	char *end;
	bool json = false;
	const char *verb = "status";
	struct stat st;
	int c;

	while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("sealcheck %s\n", PACKAGE_VERSION);
			return 0;
		case OPT_JSON:
			json = true;
			break;
		case OPT_ROOT:
			paths.root = optarg;
			break;
		case OPT_SYSROOT:
			paths.sysroot = optarg;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		verb = argv[optind++];
	if (strcmp(verb, "measure") == 0)
		return cmd_measure(argc - optind, argv + optind);
	if (strcmp(verb, "status") != 0 && strcmp(verb, "agent") != 0 && strcmp(verb, "verify") != 0) {
		fprintf(stderr, "sealcheck: unknown command '%s' (try --help)\n", verb);
		return EXIT_USAGE;
	}
	/* Options may follow the verb too: sealcheck status --json. */
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case OPT_JSON:
			json = true;
			break;
		case OPT_ROOT:
			paths.root = optarg;
			break;
		case OPT_SYSROOT:
			paths.sysroot = optarg;
			break;
		case OPT_PORT:
			agent.port = optarg;
			break;
		case OPT_DEVICE:
			agent.device = optarg;
			break;
		case OPT_WAIT_PORT:
		case OPT_MAX_ANSWERS:
		case OPT_MAX_SECONDS:
		case OPT_THREADS:
			errno = 0;
			{
				unsigned long v = strtoul(optarg, &end, 10);

				if (errno || *end || end == optarg || v > 86400) {
					fprintf(stderr, "sealcheck: %s %s: not a number from 0 to 86400\n", argv[optind - 2],
						optarg);
					return EXIT_USAGE;
				}
				*(c == OPT_WAIT_PORT	 ? &agent.wait_port_s
				  : c == OPT_MAX_ANSWERS ? &agent.max_answers
				  : c == OPT_THREADS	 ? &verify.threads
							 : &verify.max_seconds) = (unsigned)v;
			}
			break;
		case OPT_MAX_FILES:
			errno = 0;
			verify.max_files = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg) {
				fprintf(stderr, "sealcheck: --max-files %s: not a number\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_DEEP:
			verify.deep = true;
			agent.collect.deep = true;
			break;
		case OPT_VERIFY_OBJECTS:
			agent.collect.verify_objects = true;
			break;
		case OPT_IMAGE:
			verify.image = optarg;
			break;
		case OPT_OBJECTS:
			verify.objects = optarg;
			break;
		case OPT_MOUNTED:
			verify.mountpoint = optarg;
			break;
		case OPT_WALK:
			if (strcmp(optarg, "auto") == 0)
				verify.walk = SC_VERIFY_WALK_AUTO;
			else if (strcmp(optarg, "parse") == 0)
				verify.walk = SC_VERIFY_WALK_PARSE;
			else if (strcmp(optarg, "mount") == 0)
				verify.walk = SC_VERIFY_WALK_MOUNT;
			else {
				fprintf(stderr, "sealcheck: --walk %s: not one of auto, parse, mount\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sealcheck %s: unexpected argument '%s'\n", verb, argv[optind]);
		return EXIT_USAGE;
	}
	if (paths.root[0] && (stat(paths.root, &st) < 0 || !S_ISDIR(st.st_mode))) {
		fprintf(stderr, "sealcheck: --root %s: %s\n", paths.root, errno ? strerror(errno) : "not a directory");
		return EXIT_USAGE;
	}
	if (paths.sysroot[0] != '/') {
		fprintf(stderr, "sealcheck: --sysroot %s: must be an absolute path\n", paths.sysroot);
		return EXIT_USAGE;
	}
	if (strcmp(verb, "agent") == 0)
		return cli_agent(&paths, &agent);
	if (strcmp(verb, "verify") == 0)
		return cli_verify(&paths, &verify, json);
	return cmd_status(&paths, &agent.collect, json);
}
