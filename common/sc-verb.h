/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sealcheck command's verbs, as fsverity-utils' programs/fsverity.c has
 * them: a table of name, function and usage. Every option sealcheck knows is
 * in one catalogue (cli-verb.c); each verb lists the ones it takes, with the
 * help text for that verb. --help is generated from that list, and an option
 * of the catalogue that the verb does not list is a usage error naming both.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "sc-checks.h"

#define EXIT_SEALED 0
#define EXIT_UNSEALED 1
#define EXIT_UNDETERMINED 2
#define EXIT_USAGE 2

enum cli_opt_id {
	CLI_OPT_HELP = 'h',
	CLI_OPT_VERSION = 0x100,
	CLI_OPT_JSON,
	CLI_OPT_ROOT,
	CLI_OPT_SYSROOT,
	CLI_OPT_VERIFY_OBJECTS,
	CLI_OPT_DEEP,
	CLI_OPT_MAX_FILES,
	CLI_OPT_MAX_SECONDS,
	CLI_OPT_THREADS,
	CLI_OPT_IMAGE,
	CLI_OPT_OBJECTS,
	CLI_OPT_MOUNTED,
	CLI_OPT_WALK,
	CLI_OPT_PORT,
	CLI_OPT_DEVICE,
	CLI_OPT_WAIT_PORT,
	CLI_OPT_MAX_ANSWERS,
	CLI_OPT_TPM,
	CLI_OPT_TPM_TCTI,
};

/* One option a verb takes, with what it means for that verb (one line; --help wraps it). */
struct cli_option {
	int id; /* enum cli_opt_id; 0 ends a list */
	const char *help;
};

struct cli_verb {
	const char *name;
	/* @argv[0] is "sealcheck VERB"; options given before the verb are moved after it. Returns the exit status. */
	int (*run)(const struct cli_verb *verb, int argc, char **argv);
	const char *args;        /* operands after the options ("FILE..."), or NULL */
	const char *summary;     /* one line, for sealcheck --help */
	const char *description; /* for sealcheck VERB --help */
	const char *exit_status;
	const struct cli_option *options; /* what the verb takes besides -h/--help */
};

int cmd_status(const struct cli_verb *verb, int argc, char **argv);
int cmd_measure(const struct cli_verb *verb, int argc, char **argv);
int cmd_verify(const struct cli_verb *verb, int argc, char **argv);
int cmd_agent(const struct cli_verb *verb, int argc, char **argv);

/* The verb table (main.c) and its length. */
extern const struct cli_verb cli_verbs[];
extern const size_t cli_n_verbs;

/* The verb called @name, or NULL. */
const struct cli_verb *cli_verb_find(const char *name);

/* A verb's usage: synopsis, description, every option it takes, exit status. */
void cli_verb_usage(const struct cli_verb *verb, FILE *f);

/* Whether an option of the catalogue called @name (without "--") takes an argument: 1, 0, or -1 unknown. */
int cli_option_has_arg(const char *name, size_t len);

#define CLI_OPTIONS_END (-1)  /* every option read; operands from optind */
#define CLI_OPTIONS_EXIT0 (-2) /* --help printed: exit 0 */
#define CLI_OPTIONS_USAGE (-3) /* a usage error printed: exit 2 */

/*
 * cli_next_option() - getopt_long() over the whole catalogue for @verb:
 * the next option's id (optarg set), CLI_OPTIONS_END, or, having printed the
 * verb's usage or a usage error, CLI_OPTIONS_EXIT0 / CLI_OPTIONS_USAGE.
 * An option of the catalogue that @verb does not take is a usage error naming
 * the option and the verb. Reset optind to 0 (a fresh scan) before the first call.
 */
int cli_next_option(const struct cli_verb *verb, int argc, char **argv);

/* The exit status for a cli_next_option() result below 0. */
static inline int cli_options_exit(int c)
{
	return c == CLI_OPTIONS_EXIT0 ? 0 : EXIT_USAGE;
}

/* --root and --sysroot, which every verb that reads the system takes: true when @c was one of them. */
bool cli_path_option(int c, const char *arg, struct sc_paths *paths);

/*
 * cli_options_done() - after the option loop ended with @c: -1 when the verb
 * goes on (every option read and no operand left), else the exit status
 * (--help printed, a usage error said, or an unexpected operand named).
 */
int cli_options_done(const struct cli_verb *verb, int c, int argc, char **argv);

/* The catalogue's name of option @id ("deep"), for messages. */
const char *cli_option_name(int id);

/* @arg as a number from @min to @max; a usage error naming the verb and option otherwise. Returns 0 or -EINVAL. */
int cli_parse_number(const struct cli_verb *verb, int id, const char *arg, unsigned long long min,
		     unsigned long long max, unsigned long long *ret);

/* A usage error, printed as "sealcheck VERB: ..." with a pointer to VERB --help. Returns EXIT_USAGE. */
_printf_(2, 3) int cli_usage_error(const struct cli_verb *verb, const char *fmt, ...);

/* --root must be a directory, --sysroot an absolute path. Returns 0, or EXIT_USAGE having said why. */
int cli_check_paths(const struct cli_verb *verb, const struct sc_paths *paths);
