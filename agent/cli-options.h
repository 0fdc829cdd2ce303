/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sealcheck program's options: the catalogue every verb's parser knows
 * (cli-options.c), and what the verbs that read the system share. The verbs
 * themselves are in cmd-*.c, each beside its option handling; main.c lists
 * them. The verb layer is common/sc-verb.h.
 */
#pragma once

#include <stdbool.h>

#include "sc-checks.h"
#include "sc-verb.h"

#define EXIT_SEALED 0
#define EXIT_UNSEALED 1
#define EXIT_UNDETERMINED 2
#define EXIT_USAGE SC_EXIT_USAGE

enum cli_opt_id {
	CLI_OPT_HELP = SC_OPT_HELP,
	CLI_OPT_VERSION = SC_OPT_VERSION,
	CLI_OPT_JSON = SC_OPT_FIRST,
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

/* Every option of every sealcheck verb. */
extern const struct sc_opt cli_catalogue[];

/* The verbs (cmd-*.c), each defined beside its option handling. */
extern const struct sc_verb cmd_status;
extern const struct sc_verb cmd_measure;
extern const struct sc_verb cmd_verify;
extern const struct sc_verb cmd_agent;

/* --root and --sysroot, which every verb that reads the system takes: true when @c was one of them. */
bool cli_path_option(int c, const char *arg, struct sc_paths *paths);

/* --root must be a directory, --sysroot an absolute path. Returns 0, or EXIT_USAGE having said why (sc_log_error()). */
int cli_check_paths(const struct sc_paths *paths);
