/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The option catalogue's parser and what every verb's parser shares (sc-verb.h). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sc-log.h"
#include "sc-verb.h"

/* getopt_long()'s table is built from the catalogue on each call: at most this many options. */
#define CATALOGUE_MAX 128

static bool is_short(int id)
{
	return id < 0x80 && ((id >= 'a' && id <= 'z') || (id >= 'A' && id <= 'Z') || (id >= '0' && id <= '9'));
}

static const struct sc_opt *opt_by_id(const struct sc_program *prog, int id)
{
	for (const struct sc_opt *o = prog->catalogue; o->name; o++)
		if (o->id == id)
			return o;
	return NULL;
}

const char *sc_opt_name(const struct sc_program *prog, int id)
{
	const struct sc_opt *o = id ? opt_by_id(prog, id) : NULL;

	return o ? o->name : "?";
}

const struct sc_opt *sc_opt_find(const struct sc_program *prog, const char *name, size_t len)
{
	for (const struct sc_opt *o = prog->catalogue; o->name; o++)
		if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
			return o;
	return NULL;
}

const struct sc_verb *sc_verb_find(const struct sc_program *prog, const char *name)
{
	for (const struct sc_verb *const *v = prog->verbs; *v; v++)
		if (strcmp((*v)->name, name) == 0)
			return *v;
	return NULL;
}

static bool verb_takes(const struct sc_verb *verb, int id)
{
	if (id == SC_OPT_HELP)
		return true;
	for (const struct sc_verb_option *o = verb->options; o && o->id; o++)
		if (o->id == id)
			return true;
	return false;
}

static void synopsis(const struct sc_program *prog, const struct sc_verb *verb, FILE *f)
{
	fprintf(f, "Usage: %s %s%s%s%s\n", prog->name, verb->name,
		verb->options && verb->options[0].id ? " [OPTIONS]" : "", verb->args ? " " : "",
		verb->args ? verb->args : "");
}

/* "  --name ARG          help", the help wrapped at word boundaries to end before column 80. */
static void option_line(const struct sc_program *prog, FILE *f, int id, const char *help)
{
	enum { INDENT = 22, WIDTH = 80 - INDENT };
	const struct sc_opt *o = opt_by_id(prog, id);
	const char *arg = o ? o->metavar : NULL, *p = help;
	const char *name = o ? o->name : id == SC_OPT_HELP ? "help" : "?";
	int has_arg = o ? o->has_arg : no_argument;
	char spec[64], a[40] = "";

	/* --name ARG, --name[=ARG] */
	if (arg && has_arg == optional_argument)
		snprintf(a, sizeof(a), "[=%s]", arg);
	else if (arg)
		snprintf(a, sizeof(a), " %s", arg);
	if (is_short(id))
		snprintf(spec, sizeof(spec), "-%c, --%s%s", id, name, a);
	else
		snprintf(spec, sizeof(spec), "--%s%s", name, a);
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

void sc_verb_usage(const struct sc_program *prog, const struct sc_verb *verb, FILE *f)
{
	synopsis(prog, verb, f);
	fprintf(f, "\n%s\n\nOptions:\n", verb->description);
	for (const struct sc_verb_option *o = verb->options; o && o->id; o++)
		option_line(prog, f, o->id, o->help);
	option_line(prog, f, SC_OPT_HELP, "this help");
	fprintf(f, "\nExit status: %s\n", verb->exit_status);
}

int sc_verb_usage_error(const struct sc_program *prog, const struct sc_verb *verb, const char *fmt, ...)
{
	char msg[SC_LOG_LINE_MAX];
	va_list ap;

	/* The option values a message names are the user's (or a script's) words: escaped, as sc_log_error() does. */
	va_start(ap, fmt);
	sc_log_vformat(msg, sizeof(msg), errno, fmt, ap);
	va_end(ap);
	sc_log_set_last(msg);
	fprintf(stderr, "%s %s: %s\n", prog->name, verb->name, msg);
	synopsis(prog, verb, stderr);
	fprintf(stderr, "(%s %s --help lists its options)\n", prog->name, verb->name);
	return SC_EXIT_USAGE;
}

/* "--deep does not apply to measure (it is an option of status, verify, agent)" */
static int not_applicable(const struct sc_program *prog, const struct sc_verb *verb, int id)
{
	char others[128] = "";
	size_t o = 0;

	if (id == SC_OPT_VERSION)
		return sc_verb_usage_error(prog, verb, "--version does not apply to %s (it is %s --version)", verb->name,
					   prog->name);
	for (const struct sc_verb *const *v = prog->verbs; *v; v++)
		if (verb_takes(*v, id) && o < sizeof(others))
			o += (size_t)snprintf(others + o, sizeof(others) - o, "%s%s", o ? ", " : "", (*v)->name);
	return sc_verb_usage_error(prog, verb, "--%s does not apply to %s (it is an option of %s)",
				   sc_opt_name(prog, id), verb->name, others);
}

int sc_verb_next_option(const struct sc_program *prog, const struct sc_verb *verb, int argc, char **argv)
{
	struct option longopts[CATALOGUE_MAX + 1] = { 0 };
	char shortopts[2 + 3 * CATALOGUE_MAX + 1] = ":";
	size_t n = 0, s = 1;
	int c;

	for (const struct sc_opt *o = prog->catalogue; o->name; o++, n++) {
		if (n == CATALOGUE_MAX) {
			fprintf(stderr, "%s %s: more than %d options in the catalogue\n", prog->name, verb->name,
				CATALOGUE_MAX);
			return SC_OPTIONS_USAGE;
		}
		longopts[n] = (struct option){ o->name, o->has_arg, NULL, o->id };
		if (is_short(o->id)) {
			shortopts[s++] = (char)o->id;
			if (o->has_arg != no_argument)
				shortopts[s++] = ':';
			if (o->has_arg == optional_argument)
				shortopts[s++] = ':';
		}
	}
	shortopts[s] = '\0';
	opterr = 0; /* every message here names the verb */
	c = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (c == -1)
		return SC_OPTIONS_END;
	if (c == '?' || c == ':') {
		const struct sc_opt *o = optopt ? opt_by_id(prog, optopt) : NULL;

		if (o && !verb_takes(verb, optopt))
			not_applicable(prog, verb, optopt);
		else if (c == ':')
			sc_verb_usage_error(prog, verb, "--%s needs an argument", sc_opt_name(prog, optopt));
		else if (o && !is_short(optopt))
			sc_verb_usage_error(prog, verb, "--%s takes no argument", sc_opt_name(prog, optopt));
		else if (optopt)
			sc_verb_usage_error(prog, verb, "unknown option '-%c'", optopt);
		else
			sc_verb_usage_error(prog, verb, "unknown option '%s' (an unrecognized option, or an ambiguous abbreviation)",
					    argv[optind - 1]);
		return SC_OPTIONS_USAGE;
	}
	if (c == SC_OPT_HELP) {
		sc_verb_usage(prog, verb, stdout);
		return SC_OPTIONS_EXIT0;
	}
	if (!verb_takes(verb, c)) {
		not_applicable(prog, verb, c);
		return SC_OPTIONS_USAGE;
	}
	return c;
}

int sc_verb_parse_number(const struct sc_program *prog, const struct sc_verb *verb, int id, const char *arg,
			 unsigned long long min, unsigned long long max, unsigned long long *ret)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	/* strtoull() takes "-1" as ULLONG_MAX and skips blanks: only digits are a number here. */
	if (arg[0] < '0' || arg[0] > '9' || errno || *end || v < min || v > max) {
		sc_verb_usage_error(prog, verb, "--%s %s: not a number from %llu to %llu", sc_opt_name(prog, id), arg,
				    min, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int sc_verb_options_done(const struct sc_program *prog, const struct sc_verb *verb, int c, int argc, char **argv)
{
	if (c != SC_OPTIONS_END)
		return sc_options_exit(c);
	if (optind < argc)
		return sc_verb_usage_error(prog, verb, "unexpected argument '%s'", argv[optind]);
	return -1;
}

void sc_program_list_verbs(const struct sc_program *prog, FILE *f, int width)
{
	for (const struct sc_verb *const *v = prog->verbs; *v; v++)
		fprintf(f, "  %-*s %s\n", width, (*v)->name, (*v)->summary);
}

/* Index of the verb in @argv, skipping options before it and their arguments; 0 when there is none. */
static int find_verb(const struct sc_program *prog, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const struct sc_opt *o;

		if (strcmp(a, "--") == 0)
			return 0;
		if (a[0] != '-' || a[1] == '\0')
			return i;
		if (a[1] == '-' && !strchr(a, '=') && (o = sc_opt_find(prog, a + 2, strlen(a + 2))) &&
		    o->has_arg == required_argument)
			i++; /* --root DIR */
	}
	return 0;
}

int sc_program_main(const struct sc_program *prog, int argc, char **argv)
{
	_cleanup_free_ char **args = NULL;
	_cleanup_free_ char *name = NULL;
	const struct sc_verb *verb;
	int v, n = 0;

	sc_log_open(prog->name, NULL);
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		prog->usage(prog, stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", prog->name, prog->version);
		return 0;
	}
	v = find_verb(prog, argc, argv);
	if (!v && !prog->default_verb) {
		prog->usage(prog, stderr);
		return SC_EXIT_USAGE;
	}
	verb = sc_verb_find(prog, v ? argv[v] : prog->default_verb);
	if (!verb) {
		sc_log_error("unknown verb '%s' (%s --help lists them)", argv[v], prog->name);
		return SC_EXIT_USAGE;
	}
	/* The verb's own argv: "PROGRAM VERB", the options before the verb, then everything after it. */
	args = calloc((size_t)argc + 1, sizeof(char *));
	if (!args || asprintf(&name, "%s %s", prog->name, verb->name) < 0) {
		name = NULL;
		sc_log_error("out of memory");
		return 2; /* every program here: could not determine */
	}
	args[n++] = name;
	for (int i = 1; i < argc; i++)
		if (i != v)
			args[n++] = argv[i];
	args[n] = NULL;
	sc_log_open(prog->name, verb->name);
	return verb->run(prog, verb, n, args);
}
