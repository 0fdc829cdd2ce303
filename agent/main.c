/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sealcheck: is the running system sealed? The front end: finds the verb in
 * the table below and hands it the arguments; each verb (cmd-*.c) parses its
 * own options, runs the checking core and says the result. Exit status:
 *   status:  0 sealed, 1 not sealed, 2 could not determine or usage error
 *   measure: 0 every file measured, 1 some file failed, 2 usage error
 *   verify:  0 every object covered, 1 some object fails, 2 error or stopped early
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sc-verb.h"
#include "config.h"

static const struct cli_option status_options[] = {
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

static const struct cli_option verify_options[] = {
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

static const struct cli_option agent_options[] = {
	{ CLI_OPT_PORT, "the virtio-serial port's name (" SC_VIRTIO_PORT_DEFAULT ")" },
	{ CLI_OPT_DEVICE, "use this device instead of looking the port up (tests)" },
	{ CLI_OPT_WAIT_PORT, "look for the port this long (60)" },
	{ CLI_OPT_MAX_ANSWERS, "exit after sending N reports (default 0: run forever)" },
	{ CLI_OPT_TPM, "auto (default): after each answer to a nonce, TPM evidence when the "
			"machine has a TPM; off: never" },
	{ CLI_OPT_TPM_TCTI, "the tpm2-tss TCTI to use (default device:/dev/tpmrm0, then "
			     "device:/dev/tpm0; e.g. swtpm:host=127.0.0.1,port=2321)" },
	{ CLI_OPT_VERIFY_OBJECTS, "add checks.objects to each report, as status --verify-objects" },
	{ CLI_OPT_DEEP, "with --verify-objects: read every object too" },
	{ CLI_OPT_MAX_SECONDS, "with --verify-objects: stop each walk after S seconds (default "
			       "120, 0: no limit); a walk cut short is an error, never a pass" },
	{ CLI_OPT_ROOT, "read every system path below DIR (a fixture tree)" },
	{ CLI_OPT_SYSROOT, "where the composefs repository's physical root is (/sysroot)" },
	{},
};

const struct cli_verb cli_verbs[] = {
	{
		.name = "status",
		.run = cmd_status,
		.summary = "all checks, a human report and a verdict (the default)",
		.description = "Verify that the running system is sealed: a signed UKI names a composefs\n"
			       "digest, / is that composefs image with verity=require, the image measures\n"
			       "to that digest, and Secure Boot is enforcing. One line per check, the facts\n"
			       "behind it, and a verdict.",
		.exit_status = "0 sealed, 1 not sealed, 2 could not determine or usage error.",
		.options = status_options,
	},
	{
		.name = "measure",
		.run = cmd_measure,
		.args = "FILE...",
		.summary = "each file's fs-verity digest, as `fsverity measure` prints it",
		.description = "Print each FILE's fs-verity digest as ALGORITHM:HEX FILE, as `fsverity measure`\n"
			       "does (symbolic links are followed). A FILE that begins with '-' goes after --.",
		.exit_status = "0 every file measured, 1 some file could not be, 2 usage error.",
		.options = NULL,
	},
	{
		.name = "verify",
		.run = cmd_verify,
		.summary = "check every object of the composefs image now (--deep: read all)",
		.description = "Account for every file of the composefs image now: each object its metacopy\n"
			       "names exists, has fs-verity and measures to the metacopy's digest. By default\n"
			       "the image and store are the ones the kernel command line names, and the image\n"
			       "must measure to that digest.",
		.exit_status = "0 every object covered, 1 some object fails the seal, 2 error,\n"
			       "stopped early or usage error.",
		.options = verify_options,
	},
	{
		.name = "agent",
		.run = cmd_agent,
		.summary = "attest to the host over a virtio-serial port (the service)",
		.description = "The guest service: push a report when the port opens, then answer the newest\n"
			       "nonce the host sent with a fresh report (docs/protocol.md), followed by TPM\n"
			       "evidence for exactly that report when the machine has a TPM (docs/evidence.md).",
		.exit_status = "0 done (--max-answers), 1 no port, 2 error or usage error.",
		.options = agent_options,
	},
};
const size_t cli_n_verbs = ELEMENTSOF(cli_verbs);

static void usage(FILE *f)
{
	fputs("Usage: sealcheck [VERB] [OPTIONS]\n"
	      "       sealcheck VERB --help\n"
	      "\n"
	      "Verify that the running system is sealed: a signed UKI names a composefs\n"
	      "digest, / is that composefs image with verity=require, the image measures\n"
	      "to that digest, and Secure Boot is enforcing.\n"
	      "\n"
	      "Verbs:\n",
	      f);
	for (size_t i = 0; i < cli_n_verbs; i++)
		fprintf(f, "  %-9s %s\n", cli_verbs[i].name, cli_verbs[i].summary);
	fputs("\n"
	      "Each verb takes its own options: sealcheck VERB --help lists them. Options\n"
	      "given before the verb are the verb's (sealcheck --root DIR verify).\n"
	      "  -h, --help  this help\n"
	      "  --version   the version\n"
	      "\n"
	      "Exit status: 0 sealed, 1 not sealed, 2 could not determine or usage error.\n",
	      f);
}

/* Index of the verb in @argv, skipping options before it and their arguments; 0 when there is none. */
static int find_verb(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			return 0;
		if (a[0] != '-' || a[1] == '\0')
			return i;
		if (a[1] == '-' && !strchr(a, '=') && cli_option_has_arg(a + 2, strlen(a + 2)) == 1)
			i++; /* --root DIR */
	}
	return 0;
}

int main(int argc, char **argv)
{
	_cleanup_free_ char **args = NULL;
	_cleanup_free_ char *name = NULL;
	const struct cli_verb *verb;
	int v, n = 0;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("sealcheck %s\n", PACKAGE_VERSION);
		return 0;
	}
	v = find_verb(argc, argv);
	verb = cli_verb_find(v ? argv[v] : "status");
	if (!verb) {
		fprintf(stderr, "sealcheck: unknown verb '%s' (sealcheck --help lists them)\n", argv[v]);
		return EXIT_USAGE;
	}
	/* The verb's own argv: "sealcheck VERB", the options before the verb, then everything after it. */
	args = calloc((size_t)argc + 1, sizeof(char *));
	if (asprintf(&name, "sealcheck %s", verb->name) < 0 || !args) {
		fprintf(stderr, "sealcheck: out of memory\n");
		return EXIT_UNDETERMINED;
	}
	args[n++] = name;
	for (int i = 1; i < argc; i++)
		if (i != v)
			args[n++] = argv[i];
	args[n] = NULL;
	return verb->run(verb, n, args);
}
