/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include <stdio.h>
#include <stdlib.h>

#include "sc-checks.h"
#include "sc-composefs-paths.h"
#include "sc-verify.h"

/* checks.objects: the image and store the cmdline names, walked by sc_verify(). */
static int check_objects(const struct sc_paths *paths, const struct sc_seal_cmdline *cmdline, int chosen,
			 const struct sc_collect_options *co, struct sc_check *c)
{
	_cleanup_free_ char *image = NULL, *objects = NULL;
	struct sc_verify_options o = { .deep = co->deep, .max_seconds = co->max_seconds, .max_files = co->max_files };
	struct sc_verify_result res;
	enum sc_verify_status st;
	char why[256] = "", reason[256];
	json_t *j, *v;
	const char *k;
	int r;

	if (cmdline->n_digests == 0)
		return sc_check_set(c, SC_STATUS_ERROR, "no composefs digest on the cmdline to find the image by");
	if (sc_composefs_paths(paths, &cmdline->digests[chosen >= 0 ? chosen : 0].digest, &image, &objects) < 0)
		return -ENOMEM;
	o.image = image;
	o.objects = objects;
	o.image_digest = &cmdline->digests[chosen >= 0 ? chosen : 0].digest;
	r = sc_verify(&o, &res, why, sizeof(why));
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return sc_check_set(c, SC_STATUS_ERROR, "%s", why[0] ? why : "the walk could not start");
	st = sc_verify_status(&res);
	sc_verify_reason(&o, &res, reason, sizeof(reason));
	j = sc_verify_to_json(&o, &res);
	sc_verify_result_done(&res);
	if (!j)
		return -ENOMEM;
	json_object_foreach(j, k, v)
		if (strcmp(k, "status") != 0 && strcmp(k, "reason") != 0)
			json_object_set(c->facts, k, v);
	json_decref(j);
	/* Incomplete is an error: a walk that did not see every object proves nothing about the rest. */
	return sc_check_set(c, st == SC_VERIFY_PASS ? SC_STATUS_PASS : st == SC_VERIFY_FAIL ? SC_STATUS_FAIL : SC_STATUS_ERROR,
			    "%s", reason);
}

int sc_report_collect(const struct sc_paths *paths, const struct sc_collect_options *o, struct sc_report *ret)
{
	struct sc_report rep = { 0 };
	struct sc_seal_cmdline cmdline;
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
	if (r >= 0 && o && o->verify_objects) {
		rep.objects_checked = true;
		r = check_objects(paths, &cmdline, chosen, o, &rep.checks[SC_CHECK_OBJECTS]);
	}
	sc_seal_cmdline_done(&cmdline);
	if (r < 0)
		goto fail;

	rep.verdict = sc_verdict_of(rep.checks, sc_required_checks(rep.kind == SC_SEAL_DMVERITY, rep.objects_checked));
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
