/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The option catalogue and what every verb's parser shares (cli-verb.h). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sc-verb.h"

/* Every option of every verb: a verb's parser knows them all, so one it does not take is named as such. */
static const struct option catalogue[] = {
	{ "help", no_argument, NULL, CLI_OPT_HELP },
	{ "version", no_argument, NULL, CLI_OPT_VERSION },
	{ "json", no_argument, NULL, CLI_OPT_JSON },
	{ "root", required_argument, NULL, CLI_OPT_ROOT },
	{ "sysroot", required_argument, NULL, CLI_OPT_SYSROOT },
	{ "verify-objects", no_argument, NULL, CLI_OPT_VERIFY_OBJECTS },
	{ "deep", no_argument, NULL, CLI_OPT_DEEP },
	{ "max-files", required_argument, NULL, CLI_OPT_MAX_FILES },
	{ "max-seconds", required_argument, NULL, CLI_OPT_MAX_SECONDS },
	{ "threads", required_argument, NULL, CLI_OPT_THREADS },
	{ "image", required_argument, NULL, CLI_OPT_IMAGE },
	{ "objects", required_argument, NULL, CLI_OPT_OBJECTS },
	{ "mounted", required_argument, NULL, CLI_OPT_MOUNTED },
	{ "walk", required_argument, NULL, CLI_OPT_WALK },
	{ "port", required_argument, NULL, CLI_OPT_PORT },
	{ "device", required_argument, NULL, CLI_OPT_DEVICE },
	{ "wait-port", required_argument, NULL, CLI_OPT_WAIT_PORT },
	{ "max-answers", required_argument, NULL, CLI_OPT_MAX_ANSWERS },
	{ "tpm", required_argument, NULL, CLI_OPT_TPM },
	{ "tpm-tcti", required_argument, NULL, CLI_OPT_TPM_TCTI },
	{},
};

/* What the usage calls an option's argument. */
static const char *arg_name(int id)
{
	switch (id) {
	case CLI_OPT_ROOT:
	case CLI_OPT_OBJECTS:
	case CLI_OPT_MOUNTED:
		return "DIR";
	case CLI_OPT_SYSROOT:
	case CLI_OPT_IMAGE:
	case CLI_OPT_DEVICE:
		return "PATH";
	case CLI_OPT_MAX_FILES:
	case CLI_OPT_MAX_ANSWERS:
	case CLI_OPT_THREADS:
		return "N";
	case CLI_OPT_MAX_SECONDS:
	case CLI_OPT_WAIT_PORT:
		return "S";
	case CLI_OPT_WALK:
		return "auto|parse|mount";
	case CLI_OPT_PORT:
		return "NAME";
	case CLI_OPT_TPM:
		return "auto|off";
	case CLI_OPT_TPM_TCTI:
		return "CONF";
	default:
		return NULL;
	}
}

const char *cli_option_name(int id)
{
	for (const struct option *o = catalogue; o->name; o++)
		if (o->val == id)
			return o->name;
	return "?";
}

int cli_option_has_arg(const char *name, size_t len)
{
	for (const struct option *o = catalogue; o->name; o++)
		if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
			return o->has_arg == required_argument;
	return -1;
}

const struct cli_verb *cli_verb_find(const char *name)
{
	for (size_t i = 0; i < cli_n_verbs; i++)
		if (strcmp(cli_verbs[i].name, name) == 0)
			return &cli_verbs[i];
	return NULL;
}

static bool verb_takes(const struct cli_verb *verb, int id)
{
	if (id == CLI_OPT_HELP)
		return true;
	for (const struct cli_option *o = verb->options; o && o->id; o++)
		if (o->id == id)
			return true;
	return false;
}

static void synopsis(const struct cli_verb *verb, FILE *f)
{
	fprintf(f, "Usage: sealcheck %s%s%s%s\n", verb->name, verb->options && verb->options[0].id ? " [OPTIONS]" : "",
		verb->args ? " " : "", verb->args ? verb->args : "");
}

/* "  --name ARG          help", the help wrapped at word boundaries to end before column 80. */
static void option_line(FILE *f, int id, const char *help)
{
	enum { INDENT = 22, WIDTH = 80 - INDENT };
	char spec[48];
	const char *arg = arg_name(id), *p = help;

	if (id == CLI_OPT_HELP)
		snprintf(spec, sizeof(spec), "-h, --help");
	else
		snprintf(spec, sizeof(spec), "--%s%s%s", cli_option_name(id), arg ? " " : "", arg ? arg : "");
	if (strlen(spec) > 19)
		fprintf(f, "  %s\n%*s", spec, INDENT, "");
	else
		fprintf(f, "  %-19s ", spec);
	while (*p) {
		size_t n = strlen(p), cut = n;

		if (n > WIDTH) {
			cut = WIDTH;
			while (cut > 0 && p[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = WIDTH;
		}
		fprintf(f, "%.*s", (int)cut, p);
		p += cut;
		while (*p == ' ')
			p++;
		if (*p)
			fprintf(f, "\n%*s", INDENT, "");
	}
	fputc('\n', f);
}

void cli_verb_usage(const struct cli_verb *verb, FILE *f)
{
	synopsis(verb, f);
	fprintf(f, "\n%s\n\nOptions:\n", verb->description);
	for (const struct cli_option *o = verb->options; o && o->id; o++)
		option_line(f, o->id, o->help);
	option_line(f, CLI_OPT_HELP, "this help");
	fprintf(f, "\nExit status: %s\n", verb->exit_status);
}

int cli_usage_error(const struct cli_verb *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sealcheck %s: ", verb->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	synopsis(verb, stderr);
	fprintf(stderr, "(sealcheck %s --help lists its options)\n", verb->name);
	return EXIT_USAGE;
}

/* "--deep does not apply to measure (it is an option of status, verify, agent)" */
static int not_applicable(const struct cli_verb *verb, int id)
{
	char others[128] = "";
	size_t o = 0;

	if (id == CLI_OPT_VERSION)
		return cli_usage_error(verb, "--version does not apply to %s (it is sealcheck --version)", verb->name);
	for (size_t i = 0; i < cli_n_verbs; i++)
		if (verb_takes(&cli_verbs[i], id) && o < sizeof(others))
			o += (size_t)snprintf(others + o, sizeof(others) - o, "%s%s", o ? ", " : "", cli_verbs[i].name);
	return cli_usage_error(verb, "--%s does not apply to %s (it is an option of %s)", cli_option_name(id),
			       verb->name, others);
}

int cli_next_option(const struct cli_verb *verb, int argc, char **argv)
{
	int c;

	opterr = 0; /* every message here names the verb */
	c = getopt_long(argc, argv, ":h", catalogue, NULL);
	if (c == -1)
		return CLI_OPTIONS_END;
	if (c == '?' || c == ':') {
		if (optopt >= CLI_OPT_VERSION && !verb_takes(verb, optopt))
			not_applicable(verb, optopt);
		else if (c == ':')
			cli_usage_error(verb, "--%s needs an argument", cli_option_name(optopt));
		else if (optopt >= CLI_OPT_VERSION)
			cli_usage_error(verb, "--%s takes no argument", cli_option_name(optopt));
		else if (optopt)
			cli_usage_error(verb, "unknown option '-%c'", optopt);
		else
			cli_usage_error(verb, "unknown option '%s' (or an ambiguous abbreviation)", argv[optind - 1]);
		return CLI_OPTIONS_USAGE;
	}
	if (c == CLI_OPT_HELP) {
		cli_verb_usage(verb, stdout);
		return CLI_OPTIONS_EXIT0;
	}
	if (!verb_takes(verb, c)) {
		not_applicable(verb, c);
		return CLI_OPTIONS_USAGE;
	}
	return c;
}

int cli_parse_number(const struct cli_verb *verb, int id, const char *arg, unsigned long long min,
		     unsigned long long max, unsigned long long *ret)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	/* strtoull() takes "-1" as ULLONG_MAX and skips blanks: only digits are a number here. */
	if (arg[0] < '0' || arg[0] > '9' || errno || *end || v < min || v > max) {
		cli_usage_error(verb, "--%s %s: not a number from %llu to %llu", cli_option_name(id), arg, min, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int cli_check_paths(const struct cli_verb *verb, const struct sc_paths *paths)
{
	struct stat st;

	if (paths->root[0] && stat(paths->root, &st) < 0) {
		fprintf(stderr, "sealcheck %s: --root %s: %s\n", verb->name, paths->root, strerror(errno));
		return EXIT_USAGE;
	}
	if (paths->root[0] && !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "sealcheck %s: --root %s: not a directory\n", verb->name, paths->root);
		return EXIT_USAGE;
	}
	if (paths->sysroot[0] != '/') {
		fprintf(stderr, "sealcheck %s: --sysroot %s: must be an absolute path\n", verb->name, paths->sysroot);
		return EXIT_USAGE;
	}
	return 0;
}

bool cli_path_option(int c, const char *arg, struct sc_paths *paths)
{
	if (c == CLI_OPT_ROOT)
		paths->root = arg;
	else if (c == CLI_OPT_SYSROOT)
		paths->sysroot = arg;
	else
		return false;
	return true;
}

int cli_options_done(const struct cli_verb *verb, int c, int argc, char **argv)
{
	if (c != CLI_OPTIONS_END)
		return cli_options_exit(c);
	if (optind < argc)
		return cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
	return -1;
}
