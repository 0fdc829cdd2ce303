/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "sc-json.h"
#include "sc-report.h"

const char *sc_status_name(enum sc_status s)
{
	static const char *const names[] = {
		[SC_STATUS_PASS] = "pass",
		[SC_STATUS_FAIL] = "fail",
		[SC_STATUS_ERROR] = "error",
		[SC_STATUS_SKIP] = "skip",
	};
	return (unsigned)s < ELEMENTSOF(names) ? names[s] : "error";
}

const char *sc_verdict_name(enum sc_verdict v)
{
	static const char *const names[] = {
		[SC_VERDICT_SEALED] = "sealed",
		[SC_VERDICT_UNSEALED] = "unsealed",
		[SC_VERDICT_ERROR] = "error",
	};
	return (unsigned)v < ELEMENTSOF(names) ? names[v] : "error";
}

static const struct {
	const char *key, *title;
} check_names[_SC_CHECK_MAX] = {
	[SC_CHECK_CMDLINE] = { "cmdline", "Kernel command line" },
	[SC_CHECK_ROOT_MOUNT] = { "root_mount", "Root mount" },
	[SC_CHECK_SECURE_BOOT] = { "secure_boot", "Secure Boot" },
	[SC_CHECK_COMPOSEFS_IMAGE] = { "composefs_image", "composefs image" },
	[SC_CHECK_LOCKDOWN] = { "lockdown", "Kernel lockdown" },
	[SC_CHECK_OBJECTS] = { "objects", "Every object" },
};

const char *sc_check_key(enum sc_check_id id)
{
	return (unsigned)id < _SC_CHECK_MAX ? check_names[id].key : "unknown";
}

const char *sc_check_title(enum sc_check_id id)
{
	return (unsigned)id < _SC_CHECK_MAX ? check_names[id].title : "unknown";
}

int sc_check_init(struct sc_check *c)
{
	c->status = SC_STATUS_ERROR;
	c->reason = NULL;
	c->facts = json_object();
	return c->facts ? 0 : -ENOMEM;
}

void sc_check_done(struct sc_check *c)
{
	free(c->reason);
	c->reason = NULL;
	if (c->facts)
		json_decref(c->facts);
	c->facts = NULL;
}

int sc_check_set(struct sc_check *c, enum sc_status s, const char *fmt, ...)
{
	va_list ap;
	char *r;
	int n;

	c->status = s;
	va_start(ap, fmt);
	n = vasprintf(&r, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	free(c->reason);
	c->reason = r;
	return 0;
}

unsigned sc_required_checks(bool dm_verity, bool objects_present)
{
	unsigned required = 1u << SC_CHECK_CMDLINE | 1u << SC_CHECK_ROOT_MOUNT | 1u << SC_CHECK_SECURE_BOOT;

	if (!dm_verity)
		required |= 1u << SC_CHECK_COMPOSEFS_IMAGE;
	if (objects_present)
		required |= 1u << SC_CHECK_OBJECTS;
	return required;
}

enum sc_verdict sc_verdict_of(const struct sc_check checks[_SC_CHECK_MAX], unsigned required)
{
	bool failed = false, errored = false;

	for (unsigned i = 0; i < _SC_CHECK_MAX; i++) {
		if (!(required & (1u << i)))
			continue;
		if (checks[i].status == SC_STATUS_FAIL)
			failed = true;
		else if (checks[i].status != SC_STATUS_PASS)
			errored = true; /* error, or a required check that was skipped */
	}
	return failed ? SC_VERDICT_UNSEALED : errored ? SC_VERDICT_ERROR : SC_VERDICT_SEALED;
}

json_t *sc_check_to_json(const struct sc_check *c)
{
	_cleanup_json_ json_t *o = json_object();
	const char *k;
	json_t *v;

	if (!o)
		return NULL;
	if (sc_json_set(o, "status", json_string(sc_status_name(c->status))) < 0 ||
	    sc_json_set(o, "reason", sc_json_str(c->reason ? c->reason : "not run")) < 0)
		return NULL;
	if (c->facts)
		json_object_foreach(c->facts, k, v)
			if (json_object_set(o, k, v) < 0)
				return NULL;
	return TAKE_PTR(o);
}
