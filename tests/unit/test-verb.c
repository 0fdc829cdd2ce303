/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * common/sc-verb: a program shaped like sealcheck-probe (host-probe/cmd-run.c):
 * a repeated option (--expect-digest), an optional argument (--libvirt[=URI],
 * the URI as the next word taken by the verb itself), a short option (-h, -k).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sc-verb.h"
#include "unit.h"

enum { O_EXPECT = SC_OPT_FIRST, O_LIBVIRT, O_TIMEOUT, O_KEEP = 'k' };

static const struct sc_opt catalogue[] = {
	{ "help", no_argument, SC_OPT_HELP, NULL },
	{ "version", no_argument, SC_OPT_VERSION, NULL },
	{ "expect-digest", required_argument, O_EXPECT, "HEX" },
	{ "libvirt", optional_argument, O_LIBVIRT, "URI" },
	{ "timeout", required_argument, O_TIMEOUT, "S" },
	{ "keep", no_argument, O_KEEP, NULL },
	{},
};

/* What the last run saw. */
static struct {
	int n_expect, libvirt, keep, result;
	const char *expect[4], *libvirt_uri, *operand;
	unsigned long long timeout;
} seen;

static int run_run(const struct sc_program *prog, const struct sc_verb *verb, int argc, char **argv)
{
	int c;

	memset(&seen, 0, sizeof(seen));
	optind = 0;
	while ((c = sc_verb_next_option(prog, verb, argc, argv)) >= 0) {
		switch (c) {
		case O_EXPECT:
			if (seen.n_expect < 4)
				seen.expect[seen.n_expect++] = optarg;
			break;
		case O_LIBVIRT:
			/* --libvirt URI as two words: the verb takes the next word itself. */
			if (!optarg && optind < argc && strncmp(argv[optind], "qemu:", 5) == 0)
				optarg = argv[optind++];
			seen.libvirt = 1;
			seen.libvirt_uri = optarg;
			break;
		case O_TIMEOUT:
			if (sc_verb_parse_number(prog, verb, c, optarg, 1, 86400, &seen.timeout) < 0)
				return SC_EXIT_USAGE;
			break;
		case O_KEEP:
			seen.keep = 1;
			break;
		default:
			fail();
		}
	}
	if (c != SC_OPTIONS_END)
		return sc_options_exit(c);
	if (optind < argc)
		seen.operand = argv[optind];
	return 42;
}

static const struct sc_verb_option run_options[] = {
	{ O_EXPECT, "a composefs digest the VM may run; repeatable" },
	{ O_LIBVIRT, "define the VM as a libvirt domain on URI" },
	{ O_TIMEOUT, "how long to wait" },
	{ O_KEEP, "leave the VM running" },
	{},
};
static const struct sc_verb verb_run = {
	.name = "run",
	.run = run_run,
	.args = "IMAGE_DIR",
	.summary = "boot and attest",
	.description = "Boot IMAGE_DIR.",
	.exit_status = "0 sealed.",
	.options = run_options,
};

static const struct sc_verb_option predict_options[] = { {} };
static const struct sc_verb verb_predict = {
	.name = "predict-pcr11",
	.run = run_run,
	.args = "UKI",
	.summary = "predict PCR 11",
	.description = "Predict.",
	.exit_status = "0 done.",
	.options = predict_options,
};

static const struct sc_verb *const verbs[] = { &verb_run, &verb_predict, NULL };

static void usage(const struct sc_program *prog, FILE *f)
{
	fputs("top\n", f);
	sc_program_list_verbs(prog, f, 13);
}

static const struct sc_program prog = {
	.name = "probe",
	.version = "1",
	.catalogue = catalogue,
	.verbs = verbs,
	.usage = usage,
};

static int call(const char *const *args)
{
	char *argv[16];
	int n = 0;

	while (args[n]) {
		argv[n] = (char *)args[n];
		n++;
	}
	argv[n] = NULL;
	return sc_program_main(&prog, n, argv);
}

static void test_repeated_and_optional(void **state)
{
	(void)state;
	assert_int_equal(call((const char *[]){ "probe", "--expect-digest", "aa", "run", "--expect-digest=bb",
						"--libvirt", "qemu:///session", "-k", "--timeout", "30", "img",
						NULL }),
			 42);
	assert_int_equal(seen.n_expect, 2);
	assert_string_equal(seen.expect[0], "aa");
	assert_string_equal(seen.expect[1], "bb");
	assert_true(seen.libvirt);
	assert_string_equal(seen.libvirt_uri, "qemu:///session");
	assert_true(seen.keep);
	assert_int_equal(seen.timeout, 30);
	assert_string_equal(seen.operand, "img");

	/* --libvirt alone, and --libvirt=URI */
	assert_int_equal(call((const char *[]){ "probe", "run", "--libvirt", "img", NULL }), 42);
	assert_true(seen.libvirt);
	assert_null(seen.libvirt_uri);
	assert_string_equal(seen.operand, "img");
	assert_int_equal(call((const char *[]){ "probe", "run", "--libvirt=qemu:///system", "img", NULL }), 42);
	assert_string_equal(seen.libvirt_uri, "qemu:///system");
}

static void test_usage_errors(void **state)
{
	(void)state;
	/* an option of the catalogue the verb does not take, an unknown one, a bad number, a missing argument */
	assert_int_equal(call((const char *[]){ "probe", "predict-pcr11", "--keep", "u", NULL }), SC_EXIT_USAGE);
	assert_int_equal(call((const char *[]){ "probe", "predict-pcr11", "-k", "u", NULL }), SC_EXIT_USAGE);
	assert_int_equal(call((const char *[]){ "probe", "run", "--nope", NULL }), SC_EXIT_USAGE);
	assert_int_equal(call((const char *[]){ "probe", "run", "-z", NULL }), SC_EXIT_USAGE);
	assert_int_equal(call((const char *[]){ "probe", "run", "--timeout", "0", NULL }), SC_EXIT_USAGE);
	assert_int_equal(call((const char *[]){ "probe", "run", "--timeout", NULL }), SC_EXIT_USAGE);
	assert_int_equal(call((const char *[]){ "probe", "run", "--version", NULL }), SC_EXIT_USAGE);
	/* no default verb: no verb is a usage error; an unknown verb too */
	assert_int_equal(call((const char *[]){ "probe", NULL }), SC_EXIT_USAGE);
	assert_int_equal(call((const char *[]){ "probe", "walk", NULL }), SC_EXIT_USAGE);
}

/* What @args prints on stdout (TAP's stream: kept out of it), and its exit status. */
static int call_stdout(const char *const *args, char *out, size_t size)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDOUT_FILENO), r;
	size_t n;

	assert_non_null(tmp);
	assert_true(saved >= 0);
	fflush(stdout);
	assert_int_equal(dup2(fileno(tmp), STDOUT_FILENO), STDOUT_FILENO);
	r = call(args);
	fflush(stdout);
	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, size - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return r;
}

static void test_help(void **state)
{
	char out[2048];

	(void)state;
	/* -h and --help are every verb's, and the program's */
	assert_int_equal(call_stdout((const char *[]){ "probe", "predict-pcr11", "-h", NULL }, out, sizeof(out)), 0);
	assert_string_equal(out, "Usage: probe predict-pcr11 UKI\n\nPredict.\n\nOptions:\n"
				 "  -h, --help          this help\n\nExit status: 0 done.\n");
	assert_int_equal(call_stdout((const char *[]){ "probe", "--help", NULL }, out, sizeof(out)), 0);
	assert_string_equal(out, "top\n  run           boot and attest\n  predict-pcr11 predict PCR 11\n");
	assert_int_equal(call_stdout((const char *[]){ "probe", "--version", NULL }, out, sizeof(out)), 0);
	assert_string_equal(out, "probe 1\n");
}

static void test_usage_text(void **state)
{
	char buf[2048] = "";
	FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");

	(void)state;
	assert_non_null(f);
	sc_verb_usage(&prog, &verb_run, f);
	fclose(f);
	assert_string_equal(buf, "Usage: probe run [OPTIONS] IMAGE_DIR\n"
				 "\n"
				 "Boot IMAGE_DIR.\n"
				 "\n"
				 "Options:\n"
				 "  --expect-digest HEX a composefs digest the VM may run; repeatable\n"
				 "  --libvirt[=URI]     define the VM as a libvirt domain on URI\n"
				 "  --timeout S         how long to wait\n"
				 "  -k, --keep          leave the VM running\n"
				 "  -h, --help          this help\n"
				 "\n"
				 "Exit status: 0 sealed.\n");
	assert_string_equal(sc_opt_name(&prog, O_LIBVIRT), "libvirt");
	assert_string_equal(sc_opt_name(&prog, 0x7777), "?");
	assert_non_null(sc_opt_find(&prog, STR_AND_LEN("timeout")));
	assert_null(sc_opt_find(&prog, STR_AND_LEN("time")));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repeated_and_optional),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_usage_text),
		cmocka_unit_test(test_help),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
