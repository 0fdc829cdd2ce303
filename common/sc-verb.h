/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A program's verbs, as fsverity-utils' programs/fsverity.c has them: a table
 * of name, function and usage, and as kmod's tools/kmod.h has them: each verb
 * defined in its own file beside its option handling, the program listing
 * them. Every option the program knows is in one catalogue (struct
 * sc_program); each verb lists the ones it takes, with the help text for that
 * verb. VERB --help is generated from that list, and an option of the
 * catalogue that the verb does not list is a usage error naming both.
 *
 * Nothing here knows a program: its name, catalogue and verbs come in a
 * struct sc_program.
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "sc-macro.h"

/* The exit status of a usage error, for every program here. */
#define SC_EXIT_USAGE 2

/* Ids the layer knows: -h/--help (every verb takes it) and --version (the program's, no verb's). */
#define SC_OPT_HELP 'h'
#define SC_OPT_VERSION 0x100
#define SC_OPT_FIRST 0x101 /* a program's own long-only options from here */

/*
 * One option of a program's catalogue. An @id that is an ASCII letter or
 * digit is also the short option -@id. @has_arg is getopt's no_argument,
 * required_argument or optional_argument (an optional argument is
 * --name=ARG; a verb that also takes it as the next word consumes it itself,
 * as getopt_long() leaves it there; before the verb only --name=ARG is read
 * as its argument, the next word being taken for the verb).
 */
struct sc_opt {
	const char *name; /* without "--" */
	int has_arg;
	int id;              /* > 0, unique in the catalogue */
	const char *metavar; /* what the usage calls the argument ("DIR"), or NULL */
};

/* One option a verb takes, with what it means for that verb (one line; --help wraps it). */
struct sc_verb_option {
	int id; /* 0 ends a list */
	const char *help;
};

struct sc_program;

struct sc_verb {
	const char *name;
	/*
	 * @argv[0] is "PROGRAM VERB"; options given before the verb are moved
	 * after it. Returns the exit status. A verb may be taken by any option
	 * repeated: sc_verb_next_option() returns each occurrence.
	 */
	int (*run)(const struct sc_program *prog, const struct sc_verb *verb, int argc, char **argv);
	const char *args;        /* operands after the options ("FILE..."), or NULL */
	const char *summary;     /* one line, for PROGRAM --help */
	const char *description; /* for PROGRAM VERB --help */
	const char *exit_status;
	const struct sc_verb_option *options; /* what the verb takes besides -h/--help */
};

struct sc_program {
	const char *name;                 /* "sealcheck" */
	const char *version;              /* for --version */
	const struct sc_opt *catalogue;   /* every option of every verb; { NULL } ends it */
	const struct sc_verb *const *verbs; /* NULL ends it */
	const char *default_verb;         /* run when no verb is given, or NULL: usage error */
	/* PROGRAM --help (sc_program_list_verbs() lists the verbs). */
	void (*usage)(const struct sc_program *prog, FILE *f);
};

/*
 * sc_program_main() - what main() does: PROGRAM --help and --version, then
 * finds the verb (skipping options before it and their arguments), gives it
 * "PROGRAM VERB", the options before the verb, then everything after it.
 * sc_log_error() says "PROGRAM: " until the verb runs, then "PROGRAM VERB: ".
 * Returns the exit status.
 */
int sc_program_main(const struct sc_program *prog, int argc, char **argv);

/* "  NAME     SUMMARY" for each verb, the names padded to @width. */
void sc_program_list_verbs(const struct sc_program *prog, FILE *f, int width);

/* The verb called @name, or NULL. */
const struct sc_verb *sc_verb_find(const struct sc_program *prog, const char *name);

/* A verb's usage: synopsis, description, every option it takes, exit status. */
void sc_verb_usage(const struct sc_program *prog, const struct sc_verb *verb, FILE *f);

/* The catalogue's entry called @name (@len bytes, without "--"), or NULL. */
const struct sc_opt *sc_opt_find(const struct sc_program *prog, const char *name, size_t len);

/* The catalogue's name of option @id ("deep"), for messages; "?" when it has none. */
const char *sc_opt_name(const struct sc_program *prog, int id);

#define SC_OPTIONS_END (-1)   /* every option read; operands from optind */
#define SC_OPTIONS_EXIT0 (-2) /* --help printed: exit 0 */
#define SC_OPTIONS_USAGE (-3) /* a usage error printed: exit SC_EXIT_USAGE */

/*
 * sc_verb_next_option() - getopt_long() over the whole catalogue for @verb:
 * the next option's id (optarg set), SC_OPTIONS_END, or, having printed the
 * verb's usage or a usage error, SC_OPTIONS_EXIT0 / SC_OPTIONS_USAGE.
 * An option of the catalogue that @verb does not take is a usage error naming
 * the option and the verb. Reset optind to 0 (a fresh scan) before the first call.
 */
int sc_verb_next_option(const struct sc_program *prog, const struct sc_verb *verb, int argc, char **argv);

/* The exit status for a sc_verb_next_option() result below 0. */
static inline int sc_options_exit(int c)
{
	return c == SC_OPTIONS_EXIT0 ? 0 : SC_EXIT_USAGE;
}

/*
 * sc_verb_options_done() - after the option loop ended with @c: -1 when the
 * verb goes on (every option read and no operand left), else the exit status
 * (--help printed, a usage error said, or an unexpected operand named).
 */
int sc_verb_options_done(const struct sc_program *prog, const struct sc_verb *verb, int c, int argc, char **argv);

/* @arg as a number from @min to @max; a usage error naming the verb and option otherwise. Returns 0 or -EINVAL. */
int sc_verb_parse_number(const struct sc_program *prog, const struct sc_verb *verb, int id, const char *arg,
			 unsigned long long min, unsigned long long max, unsigned long long *ret);

/*
 * A usage error, printed as "PROGRAM VERB: ..." (each %s argument escaped
 * for a terminal, as sc_log_error() does, sc-log.h) with a pointer to VERB
 * --help. Returns SC_EXIT_USAGE.
 */
_printf_(3, 4) int sc_verb_usage_error(const struct sc_program *prog, const struct sc_verb *verb, const char *fmt,
				       ...);
