/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The attestation report: checks, verdict, and their JSON form
 * ("sealcheck.report.v1", documented in docs/report.md and
 * docs/report.schema.json). The agent fills it; the probe reads it.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "sc-macro.h"

#define SC_REPORT_SCHEMA "sealcheck.report.v1"

enum sc_status {
	SC_STATUS_PASS = 0,
	SC_STATUS_FAIL,  /* the seal is broken or policy says no */
	SC_STATUS_ERROR, /* could not decide */
	SC_STATUS_SKIP,  /* does not apply to this kind of seal */
};

enum sc_verdict {
	SC_VERDICT_SEALED = 0,
	SC_VERDICT_UNSEALED,
	SC_VERDICT_ERROR,
};

enum sc_check_id {
	SC_CHECK_CMDLINE = 0,
	SC_CHECK_ROOT_MOUNT,
	SC_CHECK_SECURE_BOOT,
	SC_CHECK_COMPOSEFS_IMAGE,
	SC_CHECK_LOCKDOWN,
	SC_CHECK_OBJECTS, /* deep: every object of the image; only when asked for */
	_SC_CHECK_MAX,
};

/* The checks every report has; SC_CHECK_OBJECTS is optional. */
#define SC_CHECK_ALWAYS SC_CHECK_OBJECTS

struct sc_check {
	enum sc_status status;
	char *reason;  /* one line, never NULL after sc_check_set() */
	json_t *facts; /* object: what the status rests on */
};

const char *sc_status_name(enum sc_status s);
const char *sc_verdict_name(enum sc_verdict v);
/* JSON key of a check: "cmdline", "root_mount", ... */
const char *sc_check_key(enum sc_check_id id);
/* Human title of a check: "Kernel command line", ... */
const char *sc_check_title(enum sc_check_id id);

/* Returns 0 or -ENOMEM. */
int sc_check_init(struct sc_check *c);
void sc_check_done(struct sc_check *c);
/* Set status and reason; returns 0 or -ENOMEM (the status is set either way). */
_printf_(3, 4) int sc_check_set(struct sc_check *c, enum sc_status s, const char *fmt, ...);

/*
 * sc_required_checks() - the checks a verdict rests on, as a bit mask of
 * (1 << enum sc_check_id). The one rule, used by the agent's own verdict and
 * the probe's policy alike: cmdline, root_mount and secure_boot always;
 * composefs_image unless the seal is a dm-verity root; objects whenever the
 * report carries it (a deep check that was asked for binds like the others).
 */
unsigned sc_required_checks(bool dm_verity, bool objects_present);

/*
 * The verdict over the checks a seal kind requires: any FAIL -> unsealed,
 * else any ERROR (or a required check that never ran) -> error, else sealed.
 * @required: bit mask of (1 << enum sc_check_id).
 */
enum sc_verdict sc_verdict_of(const struct sc_check checks[_SC_CHECK_MAX], unsigned required);

/* {"status":..., "reason":..., <facts>...}; NULL on ENOMEM. */
json_t *sc_check_to_json(const struct sc_check *c);
