/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "sc-checks.h"

int sc_report_collect(const struct sc_paths *paths, struct sc_report *ret)
{
	struct sc_report rep = { 0 };
	struct sc_seal_cmdline cmdline;
	unsigned required;
	int chosen = -1, r = 0;

	for (int i = 0; i < _SC_CHECK_MAX && r >= 0; i++)
		r = sc_check_init(&rep.checks[i]);
	if (r < 0)
		goto fail;

	r = sc_check_cmdline(paths, &cmdline, &rep.checks[SC_CHECK_CMDLINE]);
	if (r < 0)
		goto fail;
	rep.kind = cmdline.kind;
	r = sc_check_root_mount(paths, &cmdline, &chosen, &rep.checks[SC_CHECK_ROOT_MOUNT]);
	if (r >= 0)
		r = sc_check_secure_boot(paths, &rep.checks[SC_CHECK_SECURE_BOOT]);
	if (r >= 0 && cmdline.kind == SC_SEAL_DMVERITY)
		r = sc_check_set(&rep.checks[SC_CHECK_COMPOSEFS_IMAGE], SC_STATUS_SKIP,
				 "not a composefs seal (dm-verity root)");
	else if (r >= 0)
		r = sc_check_composefs_image(paths, &cmdline, chosen, &rep.checks[SC_CHECK_COMPOSEFS_IMAGE]);
	if (r >= 0)
		r = sc_check_lockdown(paths, &rep.checks[SC_CHECK_LOCKDOWN]);
	sc_seal_cmdline_done(&cmdline);
	if (r < 0)
		goto fail;

	required = 1u << SC_CHECK_CMDLINE | 1u << SC_CHECK_ROOT_MOUNT | 1u << SC_CHECK_SECURE_BOOT;
	if (rep.kind != SC_SEAL_DMVERITY)
		required |= 1u << SC_CHECK_COMPOSEFS_IMAGE;
	rep.verdict = sc_verdict_of(rep.checks, required);
	*ret = rep;
	return 0;
fail:
	sc_report_done(&rep);
	return r;
}

void sc_report_done(struct sc_report *r)
{
	for (int i = 0; i < _SC_CHECK_MAX; i++)
		sc_check_done(&r->checks[i]);
}
