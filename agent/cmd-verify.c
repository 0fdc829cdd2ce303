/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sealcheck verify: every object of the composefs image, now. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-options.h"
#include "sc-composefs-paths.h"
#include "sc-json.h"
#include "sc-log.h"
#include "sc-term.h"
#include "sc-verify.h"

static void put(const char *s)
{
	(void)sc_term_fput(stdout, s, s ? strlen(s) : 0, 0);
}

/* The running system's image and store, from the cmdline's digest. */
static int default_paths(const struct sc_paths *paths, char **image, char **objects, struct sc_digest *digest,
			 char *why, size_t why_size)
{
	struct sc_seal_cmdline cmd;
	struct sc_check c;
	int r;

	if (sc_check_init(&c) < 0)
		return -ENOMEM;
	r = sc_check_cmdline(paths, &cmd, &c);
	if (r >= 0 && cmd.n_digests == 0) {
		snprintf(why, why_size, "no composefs digest on the kernel command line (%s); give --image and --objects",
			 c.reason ? c.reason : "?");
		r = -ENOENT;
	}
	if (r >= 0) {
		*digest = cmd.digests[0].digest;
		r = sc_composefs_paths(paths, &cmd.digests[0].digest, image, objects);
	}
	sc_seal_cmdline_done(&cmd);
	sc_check_done(&c);
	return r;
}

static int verify_run(const struct sc_paths *paths, struct sc_verify_options *o, bool json)
{
	_cleanup_free_ char *image = NULL, *objects = NULL;
	struct sc_digest digest;
	struct sc_verify_result res;
	char why[512] = "";
	enum sc_verify_status st;
	json_t *j;
	int r;

	if (!o->image) {
		r = default_paths(paths, &image, &objects, &digest, why, sizeof(why));
		if (r < 0) {
			sc_log_error("%s", why[0] ? why : strerror(-r));
			return 2;
		}
		o->image = image;
		o->objects = objects;
		o->image_digest = &digest; /* the running system's: the image must measure to it */
	}
	r = sc_verify(o, &res, why, sizeof(why));
	if (r < 0) {
		sc_log_error("%s", why[0] ? why : strerror(-r));
		return 2;
	}
	st = sc_verify_status(&res);
	j = sc_verify_to_json(o, &res);
	if (!j) {
		sc_verify_result_done(&res);
		return 2;
	}
	if (json) {
		json_object_set_new(j, "image", sc_json_str(o->image));
		json_object_set_new(j, "objects_dir", sc_json_str(o->objects));
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		fputc('\n', stdout);
	} else {
		json_t *v;
		size_t i;
		int any = 0;

		fputs("Image:    ", stdout);
		put(o->image);
		fputs("\nObjects:  ", stdout);
		put(o->objects);
		fputc('\n', stdout);
		printf("Walked:   %llu files (%llu with an object, %llu inline), %llu directories, %llu other; "
		       "%.1f MB in objects%s in %.2f s\n",
		       (unsigned long long)res.files, (unsigned long long)res.objects,
		       (unsigned long long)res.inline_files, (unsigned long long)res.dirs,
		       (unsigned long long)res.other, (double)res.bytes / 1e6, o->deep ? ", all read" : "",
		       res.seconds);
		printf("Problems: ");
		for (int p = 0; p < _SC_OBJ_PROBLEM_MAX; p++)
			if (res.problems[p])
				printf("%s%llu %s", any++ ? ", " : "", (unsigned long long)res.problems[p],
				       sc_obj_problem_name(p));
		printf("%s\n", any ? "" : "none");
		json_array_foreach(res.listed, i, v) {
			/* Paths come from the image: shown through the one escaping function. */
			const char *obj = json_string_value(json_object_get(v, "object"));

			fputs("  ", stdout);
			put(json_string_value(json_object_get(v, "problem")));
			fputs(": ", stdout);
			put(json_string_value(json_object_get(v, "path")));
			if (obj) {
				fputs(" -> ", stdout);
				put(obj);
			}
			fputs(" (", stdout);
			put(json_string_value(json_object_get(v, "detail")));
			fputs(")\n", stdout);
		}
		if (res.stopped_early) {
			fputs("Stopped early: ", stdout);
			put(res.stop_reason);
			fputc('\n', stdout);
		}
		printf("\nVerdict: %s (", st == SC_VERIFY_PASS ? "ALL COVERED" : st == SC_VERIFY_FAIL ? "NOT SEALED" : "UNDETERMINED");
		put(json_string_value(json_object_get(j, "reason")));
		fputs(")\n", stdout);
	}
	r = st == SC_VERIFY_PASS ? 0 : st == SC_VERIFY_FAIL ? 1 : 2; /* incomplete and error: 2 */
	json_decref(j);
	sc_verify_result_done(&res);
	return r;
}

static int run(const struct sc_program *prog, const struct sc_verb *verb, int argc, char **argv)
{
	struct sc_paths paths = SC_PATHS_SYSTEM;
	struct sc_verify_options o = { 0 };
	bool json = false;
	unsigned long long v;
	int c, r;

	optind = 0;
	while ((c = sc_verb_next_option(prog, verb, argc, argv)) >= 0) {
		switch (c) {
		case CLI_OPT_DEEP:
			o.deep = true;
			break;
		case CLI_OPT_MAX_FILES:
			if (sc_verb_parse_number(prog, verb, c, optarg, 0, UINT64_MAX, &v) < 0)
				return EXIT_USAGE;
			o.max_files = v;
			break;
		case CLI_OPT_MAX_SECONDS:
			if (sc_verb_parse_number(prog, verb, c, optarg, 0, 86400, &v) < 0)
				return EXIT_USAGE;
			o.max_seconds = (unsigned)v;
			break;
		case CLI_OPT_THREADS:
			if (sc_verb_parse_number(prog, verb, c, optarg, 1, 64, &v) < 0)
				return EXIT_USAGE;
			o.threads = (unsigned)v;
			break;
		case CLI_OPT_IMAGE:
			o.image = optarg;
			break;
		case CLI_OPT_OBJECTS:
			o.objects = optarg;
			break;
		case CLI_OPT_MOUNTED:
			o.mountpoint = optarg;
			break;
		case CLI_OPT_WALK:
			if (strcmp(optarg, "auto") == 0)
				o.walk = SC_VERIFY_WALK_AUTO;
			else if (strcmp(optarg, "parse") == 0)
				o.walk = SC_VERIFY_WALK_PARSE;
			else if (strcmp(optarg, "mount") == 0)
				o.walk = SC_VERIFY_WALK_MOUNT;
			else
				return sc_verb_usage_error(prog, verb, "--walk %s: not one of auto, parse, mount", optarg);
			break;
		case CLI_OPT_JSON:
			json = true;
			break;
		default:
			(void)cli_path_option(c, optarg, &paths);
			break;
		}
	}
	if ((r = sc_verb_options_done(prog, verb, c, argc, argv)) >= 0)
		return r;
	if (!o.image != !o.objects)
		return sc_verb_usage_error(prog, verb, "give both --image and --objects, or neither");
	if (cli_check_paths(&paths) != 0)
		return EXIT_USAGE;
	return verify_run(&paths, &o, json);
}

static const struct sc_verb_option options[] = {
	{ CLI_OPT_DEEP, "read every object too: on-disk corruption shows now as EIO" },
	{ CLI_OPT_MAX_FILES, "stop after N files (default 0: no limit)" },
	{ CLI_OPT_MAX_SECONDS, "stop after S seconds (default 0: no limit); a walk cut short "
			       "says so and exits 2" },
	{ CLI_OPT_THREADS, "I/O workers, 1 to 64 (default 64)" },
	{ CLI_OPT_IMAGE, "this EROFS image, not the running system's (with --objects)" },
	{ CLI_OPT_OBJECTS, "its object store (with --image)" },
	{ CLI_OPT_WALK, "parse the image's bytes, or mount it read-only (needs root); "
			"auto (the default): parse, mount if the layout is unknown" },
	{ CLI_OPT_MOUNTED, "walk the image as mounted at DIR instead (diagnostics: the "
				   "image file is then not measured against the digest)" },
	{ CLI_OPT_JSON, "the result as JSON (the report's checks.objects) on stdout" },
	{ CLI_OPT_ROOT, "find the running system's image below DIR (a fixture tree)" },
	{ CLI_OPT_SYSROOT, "where the composefs repository's physical root is (/sysroot)" },
	{},
};

const struct sc_verb cmd_verify = {
	.name = "verify",
	.summary = "check every object of the composefs image now (--deep: read all)",
	.description = "Account for every file of the composefs image now: each object its metacopy\n"
		       "names exists, has fs-verity and measures to the metacopy's digest. By default\n"
		       "the image and store are the ones the kernel command line names, and the image\n"
		       "must measure to that digest.",
	.exit_status = "0 every object covered, 1 some object fails the seal, 2 error,\n"
		       "stopped early or usage error.",
	.run = run,
	.options = options,
};
