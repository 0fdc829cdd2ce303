/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What an object check found, as a status, a reason and JSON (sc-verify.h). */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <libmount.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "sc-erofs.h"
#include "sc-fsverity.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-metacopy.h"
#include "sc-verify-internal.h"
#include "sc-verify.h"
#include "sc-why.h"

void sc_verify_result_done(struct sc_verify_result *r)
{
	if (r->listed)
		json_decref(r->listed);
	r->listed = NULL;
}

static uint64_t failures(const struct sc_verify_result *r)
{
	return r->problems[SC_OBJ_MISSING] + r->problems[SC_OBJ_NO_VERITY] + r->problems[SC_OBJ_MISMATCH] +
	       r->problems[SC_OBJ_UNREADABLE] + r->problems[SC_OBJ_VANISHED] + r->problems[SC_OBJ_BAD_XATTR];
}

/* docs/threat-model.md T9: no fs-verity on the image fails; fs-verity not available here is an error. */
static bool image_bad(const struct sc_verify_result *r)
{
	return r->image_check == SC_IMAGE_MISMATCH || (r->image_check == SC_IMAGE_UNPROVEN && r->image_errno == ENODATA);
}

enum sc_verify_status sc_verify_status(const struct sc_verify_result *r)
{
	if (failures(r) || image_bad(r))
		return SC_VERIFY_FAIL; /* a broken seal found stays found, however the walk ended */
	if (r->image_check == SC_IMAGE_UNPROVEN || r->problems[SC_OBJ_ERROR] || r->walk_errno)
		return SC_VERIFY_ERROR;
	if (r->stopped_early)
		return SC_VERIFY_INCOMPLETE; /* not every object was checked: never a pass */
	return SC_VERIFY_PASS;
}

const char *sc_verify_status_name(enum sc_verify_status s)
{
	return s == SC_VERIFY_PASS ? "pass" : s == SC_VERIFY_FAIL ? "fail" : "error";
}

void sc_verify_reason(const struct sc_verify_options *o, const struct sc_verify_result *r, char *buf, size_t size)
{
	char measured[SC_DIGEST_HEX_MAX + 8];

	if (r->image_check == SC_IMAGE_MISMATCH)
		snprintf(buf, size, "the image measures %.140s, not the digest the cmdline names",
			 sc_digest_to_string(&r->image_measured, measured));
	else if (r->image_check == SC_IMAGE_UNPROVEN)
		snprintf(buf, size, "the image's fs-verity digest could not be measured (%s): its metadata is not proven",
			 sc_fsverity_strerror(-r->image_errno) ?: strerror(r->image_errno));
	else if (failures(r))
		snprintf(buf, size, "%llu of %llu objects fail the seal%s", (unsigned long long)failures(r),
			 (unsigned long long)r->objects, r->stopped_early || r->walk_errno ? " (the walk did not finish)" : "");
	else if (r->walk_errno)
		snprintf(buf, size, "incomplete: the walk was cut short by an error (%s) after %llu files",
			 strerror(r->walk_errno), (unsigned long long)r->files);
	else if (r->problems[SC_OBJ_ERROR])
		snprintf(buf, size, "%llu objects could not be checked", (unsigned long long)r->problems[SC_OBJ_ERROR]);
	else if (r->stopped_early)
		snprintf(buf, size, "incomplete: stopped early (%s) after %llu files; not every object was checked",
			 r->stop_reason ? r->stop_reason : "?", (unsigned long long)r->files);
	else
		snprintf(buf, size, "all %llu objects verified%s; %llu inline files covered by the image",
			 (unsigned long long)r->objects, o->deep ? " and read" : "", (unsigned long long)r->inline_files);
}

json_t *sc_verify_to_json(const struct sc_verify_options *o, const struct sc_verify_result *r)
{
	char measured[SC_DIGEST_HEX_MAX + 8];
	json_t *j = json_object(), *counts = json_object();
	char reason[256];

	if (!j || !counts) {
		json_decref(j);
		json_decref(counts);
		return NULL;
	}
	sc_verify_reason(o, r, reason, sizeof(reason));
	for (int i = 0; i < _SC_OBJ_PROBLEM_MAX; i++)
		json_object_set_new(counts, sc_obj_problem_name(i), json_integer((json_int_t)r->problems[i]));
	json_object_set_new(j, "status", json_string(sc_verify_status_name(sc_verify_status(r))));
	json_object_set_new(j, "reason", json_string(reason));
	json_object_set_new(j, "deep", json_boolean(o->deep));
	json_object_set_new(j, "files", json_integer((json_int_t)r->files));
	json_object_set_new(j, "objects", json_integer((json_int_t)r->objects));
	json_object_set_new(j, "inline", json_integer((json_int_t)r->inline_files));
	json_object_set_new(j, "other", json_integer((json_int_t)r->other));
	json_object_set_new(j, "bytes", json_integer((json_int_t)r->bytes));
	json_object_set_new(j, "bytes_read", json_integer((json_int_t)r->bytes_read));
	json_object_set_new(j, "problems", counts);
	json_object_set_new(j, "listed", json_incref(r->listed));
	json_object_set_new(j, "stopped_early", json_boolean(r->stopped_early));
	json_object_set_new(j, "stop_reason", r->stop_reason ? json_string(r->stop_reason) : json_null());
	json_object_set_new(j, "seconds", json_real(r->seconds));
	json_object_set_new(j, "walker", json_string(r->walker ? r->walker : "mounted"));
	json_object_set_new(j, "image_digest", r->image_check == SC_IMAGE_MATCH || r->image_check == SC_IMAGE_MISMATCH
						       ? json_string(sc_digest_to_string(&r->image_measured, measured))
						       : json_null());
	return j;
}
