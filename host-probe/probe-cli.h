/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the probe's verbs share: option values, the policy options, the result. */
#pragma once

#include <stdbool.h>

#include "probe-attest.h"
#include "probe-policy.h"
#include "probe-verdict.h"

#define EXIT_USAGE 2

struct probe_verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/* The policy options both run and attest take. */
struct cli_policy {
	const char *expect[PROBE_POLICY_MAX_DIGESTS];
	unsigned n_expect;
	const char *policy_file;
	const char *vm_name;
	bool allow_setup_mode; /* --no-require-secure-boot */
};

/* Parses "--timeout S". 0, or prints the problem and returns -EINVAL. */
int cli_parse_seconds(const char *verb, const char *opt, const char *arg, unsigned long max, unsigned long *ret);
/* Adds an --expect-digest; prints the problem and returns -EINVAL when it is not a digest. */
int cli_add_expect(const char *verb, struct cli_policy *c, const char *arg);
/* The policy the options give; prints the problem and returns -EINVAL when there is none. */
int cli_make_policy(const char *verb, const struct cli_policy *c, const char *fallback_source,
		    const struct sc_digest *fallback, struct probe_policy *ret);

/* Print the verdict (human or JSON) and return the exit status. */
int cli_finish(const struct probe_attest *a, const struct probe_policy *p, bool json, const struct probe_vm *vm);

int verb_run(int argc, char **argv);
int verb_attest(int argc, char **argv);
