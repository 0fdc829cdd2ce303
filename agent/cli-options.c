/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sealcheck option catalogue and the path options every system-reading verb shares (cli-options.h). */
#include <sys/stat.h>

#include "cli-options.h"
#include "sc-log.h"

/* Every option of every verb: a verb's parser knows them all, so one it does not take is named as such. */
const struct sc_opt cli_catalogue[] = {
	{ "help", no_argument, CLI_OPT_HELP, NULL },
	{ "version", no_argument, CLI_OPT_VERSION, NULL },
	{ "json", no_argument, CLI_OPT_JSON, NULL },
	{ "root", required_argument, CLI_OPT_ROOT, "DIR" },
	{ "sysroot", required_argument, CLI_OPT_SYSROOT, "PATH" },
	{ "verify-objects", no_argument, CLI_OPT_VERIFY_OBJECTS, NULL },
	{ "deep", no_argument, CLI_OPT_DEEP, NULL },
	{ "max-files", required_argument, CLI_OPT_MAX_FILES, "N" },
	{ "max-seconds", required_argument, CLI_OPT_MAX_SECONDS, "S" },
	{ "threads", required_argument, CLI_OPT_THREADS, "N" },
	{ "image", required_argument, CLI_OPT_IMAGE, "PATH" },
	{ "objects", required_argument, CLI_OPT_OBJECTS, "DIR" },
	{ "mounted", required_argument, CLI_OPT_MOUNTED, "DIR" },
	{ "walk", required_argument, CLI_OPT_WALK, "auto|parse|mount" },
	{ "port", required_argument, CLI_OPT_PORT, "NAME" },
	{ "device", required_argument, CLI_OPT_DEVICE, "PATH" },
	{ "wait-port", required_argument, CLI_OPT_WAIT_PORT, "S" },
	{ "max-answers", required_argument, CLI_OPT_MAX_ANSWERS, "N" },
	{ "tpm", required_argument, CLI_OPT_TPM, "auto|off" },
	{ "tpm-tcti", required_argument, CLI_OPT_TPM_TCTI, "CONF" },
	{},
};

int cli_check_paths(const struct sc_paths *paths)
{
	struct stat st;

	if (paths->root[0] && stat(paths->root, &st) < 0) {
		sc_log_error("--root %s: %m", paths->root);
		return EXIT_USAGE;
	}
	if (paths->root[0] && !S_ISDIR(st.st_mode)) {
		sc_log_error("--root %s: not a directory", paths->root);
		return EXIT_USAGE;
	}
	if (paths->sysroot[0] != '/') {
		sc_log_error("--sysroot %s: must be an absolute path", paths->sysroot);
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
