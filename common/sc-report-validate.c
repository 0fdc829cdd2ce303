/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sc-json.h"
#include "sc-report-validate.h"
#include "sc-report.h"
#include "sc-wire.h"

static int depth_of(json_t *j, int d)
{
	const char *k;
	json_t *v;
	size_t i;
	int max = d;

	if (d > SC_REPORT_MAX_DEPTH)
		return d;
	if (json_is_object(j))
		json_object_foreach(j, k, v) {
			int c = depth_of(v, d + 1);

			max = c > max ? c : max;
		}
	else if (json_is_array(j))
		json_array_foreach(j, i, v) {
			int c = depth_of(v, d + 1);

			max = c > max ? c : max;
		}
	return max;
}

static bool is_one_of(const char *s, const char *const *set)
{
	for (; s && *set; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

#define BAD(...)                                           \
	do {                                               \
		snprintf(why, why_size, __VA_ARGS__);      \
		return -EBADMSG;                           \
	} while (0)

static int string_or_null(json_t *o, const char *key, char *why, size_t why_size, const char *where)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		BAD("missing field %s.%s", where, key);
	if (!json_is_string(v) && !json_is_null(v))
		BAD("%s.%s is not a string", where, key);
	return 0;
}

static int check_checks(json_t *checks, char *why, size_t why_size)
{
	static const char *const statuses[] = { "pass", "fail", "error", "skip", NULL };
	const char *k;
	json_t *v;

	if (!json_is_object(checks))
		BAD("checks is not an object");
	for (int i = 0; i < SC_CHECK_ALWAYS; i++)
		if (!json_object_get(checks, sc_check_key(i)))
			BAD("missing check '%s'", sc_check_key(i));
	json_object_foreach(checks, k, v) {
		bool known = false;

		for (int i = 0; i < _SC_CHECK_MAX; i++)
			known |= strcmp(k, sc_check_key(i)) == 0;
		if (!known)
			BAD("unknown check '%.40s'", k);
		if (!json_is_object(v))
			BAD("check %s is not an object", k);
		if (!is_one_of(json_string_value(json_object_get(v, "status")), statuses))
			BAD("check %s: status is not pass, fail, error or skip", k);
		if (!json_is_string(json_object_get(v, "reason")))
			BAD("check %s: reason is not a string", k);
	}
	return 0;
}

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* A digest as bootc names deployments: lowercase hex of SHA-256 or SHA-512 (agent/core/sc-bootc.h). */
static bool is_verity(json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = s ? strlen(s) : 0;

	return (n == 64 || n == 128) && lower_hex(s, n);
}

/*
 * system.deployment (optional; agents before it send none): null, or the booted bootc deployment
 * (agent/core/sc-bootc.h) with exactly its keys, each of its type. What it names is the guest's claim,
 * shown escaped, never judged.
 */
static int check_deployment(json_t *d, char *why, size_t why_size)
{
	static const char *const strings[] = { "verity", "cmdline_verity", "image_digest", "boot_type", "boot_digest",
					       "bootloader", "origin_error", "staged_error", NULL };
	static const char *const keys[] = { "source", "verity", "soft_reboot", "cmdline_verity", "image",
					    "image_digest", "boot_type", "boot_digest", "bootloader", "origin_error",
					    "staged", "staged_error", NULL };
	const char *k;
	json_t *v;
	int r;

	if (!d || json_is_null(d))
		return 0;
	if (!json_is_object(d))
		BAD("system.deployment is not an object");
	json_object_foreach(d, k, v)
		if (!is_one_of(k, keys))
			BAD("system.deployment: unknown field '%.40s'", k);
	if (!json_is_string(json_object_get(d, "source")) ||
	    strcmp(json_string_value(json_object_get(d, "source")), "bootc") != 0)
		BAD("system.deployment.source is not \"bootc\"");
	if (!json_is_boolean(json_object_get(d, "soft_reboot")))
		BAD("system.deployment.soft_reboot is not a boolean");
	for (const char *const *f = strings; *f; f++) {
		r = string_or_null(d, *f, why, why_size, "system.deployment");
		if (r < 0)
			return r;
	}
	for (const char *const *f = (const char *const[]){ "verity", "cmdline_verity", NULL }; *f; f++)
		if (!json_is_null(json_object_get(d, *f)) && !is_verity(json_object_get(d, *f)))
			BAD("system.deployment.%s is not a digest", *f);
	v = json_object_get(d, "image_digest");
	if (!json_is_null(v) && (!json_string_value(v) || json_string_length(v) != 71 ||
				 strncmp(json_string_value(v), "sha256:", 7) != 0 || !lower_hex(json_string_value(v) + 7, 64)))
		BAD("system.deployment.image_digest is not sha256: and 64 lowercase hex digits");
	v = json_object_get(d, "boot_type");
	if (!json_is_null(v) && !is_one_of(json_string_value(v), (const char *const[]){ "uki", "bls", NULL }))
		BAD("system.deployment.boot_type is not uki or bls");
	v = json_object_get(d, "bootloader");
	if (!json_is_null(v) &&
	    !is_one_of(json_string_value(v), (const char *const[]){ "systemd", "grub", "grub-cc", "none", NULL }))
		BAD("system.deployment.bootloader is not systemd, grub, grub-cc or none");
	v = json_object_get(d, "image");
	if (!v)
		BAD("missing field system.deployment.image");
	if (!json_is_null(v)) {
		if (!json_is_object(v) || json_object_size(v) != 4)
			BAD("system.deployment.image is not an object of reference, image, transport and signature");
		for (const char *const *f = (const char *const[]){ "reference", "image", "transport", "signature", NULL }; *f; f++)
			if (!json_is_string(json_object_get(v, *f)))
				BAD("system.deployment.image.%s is not a string", *f);
		if (!is_one_of(json_string_value(json_object_get(v, "transport")),
			       (const char *const[]){ "registry", "oci", "oci-archive", "docker-archive", "containers-storage",
						      "dir", "docker-daemon", NULL }))
			BAD("system.deployment.image.transport is not a transport bootc knows");
	}
	v = json_object_get(d, "staged");
	if (!v)
		BAD("missing field system.deployment.staged");
	if (!json_is_null(v) && (!json_is_object(v) || json_object_size(v) != 2 ||
				 !is_verity(json_object_get(v, "verity")) ||
				 !json_is_boolean(json_object_get(v, "finalization_locked"))))
		BAD("system.deployment.staged is not an object of verity and finalization_locked");
	return 0;
}

int sc_report_validate(const char *data, size_t len, json_t **ret, char *why, size_t why_size)
{
	static const char *const top[] = { "schema", "agent", "system", "time", "nonce", "seal_kind",
					   "verdict", "checks", "notes", "evidence", NULL };
	static const char *const required[] = { "schema", "agent", "system", "time", "nonce",
						"seal_kind", "verdict", "checks", "notes", NULL };
	static const char *const kinds[] = { "composefs", "dm-verity", "none", NULL };
	static const char *const verdicts[] = { "sealed", "unsealed", "error", NULL };
	_cleanup_json_ json_t *doc = NULL;
	json_error_t err;
	json_t *v, *sys;
	const char *k, *nonce;
	size_t i;
	int r;

	if (len > SC_WIRE_MAX_PAYLOAD)
		BAD("report of %zu bytes is larger than %u", len, SC_WIRE_MAX_PAYLOAD);
	if (memchr(data, '\0', len))
		BAD("raw NUL byte in the report");
	if (!sc_utf8_valid(data, len))
		BAD("the report is not valid UTF-8");
	/* Duplicate keys are rejected; "\u0000" in strings too (no JSON_ALLOW_NUL). */
	doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
	if (!doc)
		BAD("not valid JSON: %s (line %d, column %d)", err.text, err.line, err.column);
	if (depth_of(doc, 0) > SC_REPORT_MAX_DEPTH)
		BAD("nested deeper than %d levels", SC_REPORT_MAX_DEPTH);
	if (!json_is_object(doc))
		BAD("the report is not a JSON object");
	json_object_foreach(doc, k, v)
		if (!is_one_of(k, top))
			BAD("unknown field '%.40s'", k);
	for (const char *const *f = required; *f; f++)
		if (!json_object_get(doc, *f))
			BAD("missing field '%s'", *f);
	if (!json_is_string(json_object_get(doc, "schema")) ||
	    strcmp(json_string_value(json_object_get(doc, "schema")), SC_REPORT_SCHEMA) != 0)
		BAD("schema is not \"%s\"", SC_REPORT_SCHEMA);
	if (!json_is_string(json_object_get(json_object_get(doc, "agent"), "version")))
		BAD("agent.version is not a string");
	sys = json_object_get(doc, "system");
	if (!json_is_object(sys))
		BAD("system is not an object");
	for (const char *const *f = (const char *const[]){ "machine_id", "boot_id", "kernel_release", "hostname", NULL };
	     *f; f++) {
		r = string_or_null(sys, *f, why, why_size, "system");
		if (r < 0)
			return r;
	}
	r = check_deployment(json_object_get(sys, "deployment"), why, why_size);
	if (r < 0)
		return r;
	r = string_or_null(doc, "time", why, why_size, "report");
	if (r < 0)
		return r;
	v = json_object_get(doc, "nonce");
	if (!json_is_null(v)) {
		if (!json_is_string(v))
			BAD("nonce is not a string");
		nonce = json_string_value(v);
		if (!sc_nonce_valid(nonce, json_string_length(v)))
			BAD("nonce is not 64 lowercase hex characters");
	}
	if (!is_one_of(json_string_value(json_object_get(doc, "seal_kind")), kinds))
		BAD("seal_kind is not composefs, dm-verity or none");
	if (!is_one_of(json_string_value(json_object_get(doc, "verdict")), verdicts))
		BAD("verdict is not sealed, unsealed or error");
	r = check_checks(json_object_get(doc, "checks"), why, why_size);
	if (r < 0)
		return r;
	v = json_object_get(doc, "notes");
	if (!json_is_array(v))
		BAD("notes is not an array");
	json_array_foreach(v, i, sys)
		if (!json_is_string(sys))
			BAD("notes[%zu] is not a string", i);
	/* Reserved for TPM-bound evidence (a quote and an event log); opaque to v1. */
	v = json_object_get(doc, "evidence");
	if (v && !json_is_object(v) && !json_is_null(v))
		BAD("evidence is not an object");
	*ret = TAKE_PTR(doc);
	return 0;
}
