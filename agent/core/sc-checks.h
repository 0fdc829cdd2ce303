/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The checking core of the agent. Each check fills one struct sc_check;
 * none prints or exits. Front ends (the CLI, the service) decide how to say
 * the result.
 */
#pragma once

#include "sc-cmdline.h"
#include "sc-fileio.h"
#include "sc-report.h"

/* Secure Boot mode, decoded as systemd does (UEFI 2.9). */
enum sc_sb_mode {
	SC_SB_UNSUPPORTED = 0, /* no SecureBoot variable (or no EFI at all) */
	SC_SB_DISABLED,
	SC_SB_SETUP,
	SC_SB_AUDIT,
	SC_SB_USER,
	SC_SB_DEPLOYED,
	SC_SB_UNKNOWN,
};
const char *sc_sb_mode_name(enum sc_sb_mode m);
enum sc_sb_mode sc_sb_mode_decode(int secure_boot, int setup, int audit, int deployed);

/*
 * Each returns 0 with the check filled in (status, reason, facts), or
 * -ENOMEM. Problems with the system are statuses, not return values.
 */
int sc_check_cmdline(const struct sc_paths *paths, struct sc_seal_cmdline *ret_cmdline, struct sc_check *c);
/* @chosen: set to the index into cmdline->digests[] that the root is mounted from, or -1. */
int sc_check_root_mount(const struct sc_paths *paths, const struct sc_seal_cmdline *cmdline, int *chosen,
			struct sc_check *c);
int sc_check_secure_boot(const struct sc_paths *paths, struct sc_check *c);
int sc_check_composefs_image(const struct sc_paths *paths, const struct sc_seal_cmdline *cmdline, int chosen,
			     struct sc_check *c);
int sc_check_lockdown(const struct sc_paths *paths, struct sc_check *c);

struct sc_report {
	bool objects_checked; /* checks[SC_CHECK_OBJECTS] was asked for */
	enum sc_seal_kind kind;
	enum sc_verdict verdict;
	struct sc_check checks[_SC_CHECK_MAX];
};

/* What to collect beyond the standard checks. */
struct sc_collect_options {
	bool verify_objects; /* checks.objects: every object of the image (sc_verify) */
	bool deep;           /* ... and read each one */
	unsigned max_seconds; /* stop the walk after this long (0: no limit); stopped early is an error */
	uint64_t max_files;   /* stop after this many files (0: no limit) */
};

/* Run every check. Returns 0 (the verdict is in @ret), or -ENOMEM. @o may be NULL. */
int sc_report_collect(const struct sc_paths *paths, const struct sc_collect_options *o, struct sc_report *ret);
void sc_report_done(struct sc_report *r);

/*
 * sc_report_to_json() - the "sealcheck.report.v1" document.
 * @nonce: the host's nonce, or NULL (JSON null).
 * System identity is read under the root: with a fixture root from its files
 * (etc/machine-id, proc/sys/kernel/...), on the running system through
 * libsystemd where available. Returns 0, or -ENOMEM.
 */
int sc_report_to_json(const struct sc_paths *paths, const struct sc_report *rep, const char *nonce, json_t **ret);

/*
 * sc_report_deployment() - the booted bootc deployment (sc-bootc.h) for @rep: the root overlay's
 * digest from root_mount, the command line's from cmdline (one of several composefs.digest= equal
 * to the mounted one is no soft reboot). 0 or -ENOMEM; ret->present false on a system that is not
 * a bootc composefs one. The report's system.deployment.
 */
struct sc_bootc_deployment;
int sc_report_deployment(const struct sc_paths *paths, const struct sc_report *rep, struct sc_bootc_deployment *ret);
