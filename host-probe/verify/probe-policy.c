/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "probe-policy.h"
#include "sc-fileio.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-report.h"
#include "sc-why.h"

void probe_policy_init(struct probe_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->require_secure_boot = true;
}

int probe_policy_allow(struct probe_policy *p, const char *text)
{
	const char *colon = strchr(text, ':'), *hex = colon ? colon + 1 : text;
	enum sc_hash_alg alg = SC_HASH_NONE;
	struct sc_digest d;
	int r;

	if (colon) {
		alg = sc_hash_alg_from_name(text, (size_t)(colon - text));
		if (alg == SC_HASH_NONE)
			return -EINVAL;
	}
	r = sc_digest_from_hex(hex, strlen(hex), alg, &d);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < p->n_allowed; i++)
		if (sc_digest_equal(&p->allowed[i], &d))
			return 0;
	if (p->n_allowed >= PROBE_POLICY_MAX_DIGESTS)
		return -E2BIG;
	p->allowed[p->n_allowed++] = d;
	return 0;
}

static int parse_entry(json_t *e, const char *key, struct probe_policy *p, char *why, size_t why_size)
{
	const char *k;
	json_t *v, *d;
	size_t i;

	if (!json_is_object(e))
		return sc_why(-EINVAL, why, why_size, "vms.%.80s: not an object", key);
	json_object_foreach(e, k, v) {
		if (strcmp(k, "digests") == 0) {
			if (!json_is_array(v) || json_array_size(v) == 0 ||
			    json_array_size(v) > PROBE_POLICY_MAX_DIGESTS)
				return sc_why(-EINVAL, why, why_size, "vms.%.80s.digests: not an array of 1 to %u digests",
				              key, PROBE_POLICY_MAX_DIGESTS);
			json_array_foreach(v, i, d)
				if (!json_is_string(d) || probe_policy_allow(p, json_string_value(d)) < 0)
					return sc_why(-EINVAL, why, why_size, "vms.%.80s.digests[%zu]: not \"<hex>\", \"sha256:<hex>\" or "
							"\"sha512:<hex>\" (lowercase)",
					              key, i);
		} else if (strcmp(k, "secure_boot") == 0) {
			if (!json_is_boolean(v))
				return sc_why(-EINVAL, why, why_size, "vms.%.80s.secure_boot: not true or false", key);
			p->require_secure_boot = json_is_true(v);
		} else
			return sc_why(-EINVAL, why, why_size, "vms.%.80s: unknown key \"%.40s\"", key, k);
	}
	if (p->n_allowed == 0)
		return sc_why(-EINVAL, why, why_size, "vms.%.80s: no \"digests\"", key);
	return 0;
}

bool probe_policy_key_is_uuid(const char *k)
{
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? k[i] != '-' : !isxdigit((unsigned char)k[i]))
			return false;
	}
	return k[36] == '\0';
}

int probe_policy_key_match(const char *key, const char *vm_name, const char *vm_uuid)
{
	if (probe_policy_key_is_uuid(key))
		return vm_uuid && strcmp(key, vm_uuid) == 0 ? 2 : 0;
	return vm_name && strcmp(key, vm_name) == 0 ? 1 : 0;
}

int probe_policy_parse(const char *buf, size_t len, const char *vm_name, const char *vm_uuid,
		       struct probe_policy *ret, char *why, size_t why_size)
{
	_cleanup_json_ json_t *doc = NULL;
	json_error_t err;
	json_t *vms, *v, *mine = NULL;
	const char *k, *mine_key = NULL;
	int r, best = 0;

	if (len > PROBE_POLICY_FILE_MAX)
		return sc_why(-EINVAL, why, why_size, "larger than %u bytes", PROBE_POLICY_FILE_MAX);
	if (!sc_utf8_valid(buf, len))
		return sc_why(-EINVAL, why, why_size, "not valid UTF-8 (or holds a NUL byte)");
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (!doc)
		return sc_why(-EINVAL, why, why_size, "line %d: %s", err.line, err.text);
	if (!json_is_object(doc))
		return sc_why(-EINVAL, why, why_size, "not a JSON object");
	json_object_foreach(doc, k, v)
		if (strcmp(k, "schema") && strcmp(k, "vms"))
			return sc_why(-EINVAL, why, why_size, "unknown key \"%.40s\"", k);
	if (!json_is_string(json_object_get(doc, "schema")) ||
	    strcmp(json_string_value(json_object_get(doc, "schema")), PROBE_POLICY_SCHEMA) != 0)
		return sc_why(-EINVAL, why, why_size, "\"schema\" is not \"%s\"", PROBE_POLICY_SCHEMA);
	vms = json_object_get(doc, "vms");
	if (!json_is_object(vms) || json_object_size(vms) > PROBE_POLICY_MAX_VMS)
		return sc_why(-EINVAL, why, why_size, "\"vms\" is not an object of at most %u VMs",
		              PROBE_POLICY_MAX_VMS);
	/* Every entry is checked, so a broken file fails now rather than on the day its VM shows up. */
	json_object_foreach(vms, k, v) {
		struct probe_policy tmp;

		probe_policy_init(&tmp);
		if (k[0] == '\0')
			return sc_why(-EINVAL, why, why_size, "vms: an empty VM name");
		if (probe_policy_key_is_uuid(k))
			for (const char *c = k; *c; c++)
				if (isupper((unsigned char)*c))
					return sc_why(-EINVAL, why, why_size,
						      "vms.%.80s: a UUID in uppercase (write it lowercase, as libvirt does)", k);
		r = parse_entry(v, k, &tmp, why, why_size);
		if (r < 0)
			return r;
		r = probe_policy_key_match(k, vm_name, vm_uuid);
		if (r > best) {
			best = r;
			mine = v;
			mine_key = k;
		}
	}
	if (!mine)
		return sc_why(-ENOENT, why, why_size, "no entry for VM \"%.80s\"%s%.40s%s", vm_name ?: "?",
		              vm_uuid ? " (UUID " : "", vm_uuid ?: "", vm_uuid ? ")" : "");
	probe_policy_init(ret);
	r = parse_entry(mine, mine_key, ret, why, why_size);
	if (r < 0)
		return r;
	snprintf(ret->source, sizeof(ret->source), "policy entry \"%.100s\"", mine_key);
	return 0;
}

int probe_policy_load(const char *path, const char *vm_name, const char *vm_uuid, struct probe_policy *ret,
		      char *why, size_t why_size)
{
	_cleanup_free_ char *buf = NULL;
	char inner[256];
	size_t len;
	int r = sc_read_file_capped(path, PROBE_POLICY_FILE_MAX, &buf, &len);

	if (r < 0)
		return sc_why(r == -ENOENT ? -EINVAL : r, why, why_size, "%s: %s", path,
		              r == -EFBIG ? "larger than 4 MiB" : strerror(-r));
	r = probe_policy_parse(buf, len, vm_name, vm_uuid, ret, inner, sizeof(inner));
	if (r < 0)
		snprintf(why, why_size, "%s: %s", path, inner);
	return r;
}

static int fail(json_t *links, const char *link, const char *reason)
{
	return json_array_append_new(links, json_pack("{s:s, s:o}", "link", link, "reason", sc_json_str(reason ? reason : "?")));
}

static bool allowed(const struct probe_policy *p, const char *alg, const char *hex)
{
	struct sc_digest d;
	enum sc_hash_alg a = alg ? sc_hash_alg_from_name(alg, strlen(alg)) : SC_HASH_NONE;

	if (!hex || sc_digest_from_hex(hex, strlen(hex), a, &d) < 0)
		return false;
	for (unsigned i = 0; i < p->n_allowed; i++)
		if (sc_digest_equal(&p->allowed[i], &d))
			return true;
	return false;
}

/* "sha512:<hex>" as the report's composefs_image.measured has it. */
static bool allowed_string(const struct probe_policy *p, const char *s)
{
	const char *colon = s ? strchr(s, ':') : NULL;
	char alg[16];

	if (!colon || (size_t)(colon - s) >= sizeof(alg))
		return false;
	memcpy(alg, s, (size_t)(colon - s));
	alg[colon - s] = '\0';
	return allowed(p, alg, colon + 1);
}

json_t *probe_policy_check(const struct probe_policy *p, json_t *report)
{
	_cleanup_json_ json_t *links = json_array();
	json_t *checks = json_object_get(report, "checks");
	const char *kind = sc_json_get_str(report, "seal_kind");
	unsigned required = sc_required_checks(kind && strcmp(kind, "dm-verity") == 0,
					       json_object_get(checks, "objects") != NULL);

	if (!links)
		return NULL;
	for (unsigned id = 0; id < _SC_CHECK_MAX; id++) {
		json_t *c = json_object_get(checks, sc_check_key(id));
		const char *status = sc_json_get_str(c, "status");
		char buf[512];

		if (!(required & (1u << id)) || (status && strcmp(status, "pass") == 0))
			continue;
		snprintf(buf, sizeof(buf), "%s: %s", status ? status : "missing", sc_json_get_str(c, "reason") ?: "");
		if (fail(links, sc_check_key(id), buf) < 0)
			return NULL;
	}
	if (p->require_secure_boot) {
		const char *mode = sc_json_get_str(json_object_get(checks, "secure_boot"), "mode");

		if (!mode || (strcmp(mode, "user") != 0 && strcmp(mode, "deployed") != 0))
			if (fail(links, "policy:secure_boot", "Secure Boot is not in user or deployed mode") < 0)
				return NULL;
	}
	if (p->n_allowed == 0) {
		if (fail(links, "policy:digest", "no digest policy: the host allows no composefs digest") < 0)
			return NULL;
	} else if (kind && strcmp(kind, "dm-verity") == 0) {
		/* The policy names composefs digests; a dm-verity root hash is not one: fail closed. */
		if (fail(links, "policy:digest", "a dm-verity root: the policy's composefs digests do not cover it") < 0)
			return NULL;
	} else {
		json_t *digests = json_object_get(json_object_get(checks, "cmdline"), "digests"), *d;
		json_t *root = json_object_get(checks, "root_mount");
		const char *measured = sc_json_get_str(json_object_get(checks, "composefs_image"), "measured");
		bool named = false, foreign = false;
		size_t i;

		/* Every digest the cmdline names must be allowed, and the root mounted from one. */
		json_array_foreach(digests, i, d) {
			if (allowed(p, sc_json_get_str(d, "algorithm"), sc_json_get_str(d, "digest")))
				named = true;
			else
				foreign = true;
		}
		/* The report's words: the cmdline the guest reports (what the UKI holds is tpm:cmdline's). */
		if (!named || foreign)
			if (fail(links, "policy:digest",
				 !named ? "the reported kernel cmdline names no digest the policy allows"
					: "the reported kernel cmdline names a digest the policy does not allow") < 0)
				return NULL;
		if (!sc_json_get_str(root, "digest")) {
			if (fail(links, "policy:digest",
				 "the report names no composefs image mounted as the root (see root_mount), so none the policy allows") < 0)
				return NULL;
		} else if (!allowed(p, NULL, sc_json_get_str(root, "digest")))
			if (fail(links, "policy:digest", "the root is mounted from a composefs image the policy does not allow") < 0)
				return NULL;
		if (!measured) {
			if (fail(links, "policy:digest", "the report has no measured image digest (see composefs_image)") < 0)
				return NULL;
		} else if (!allowed_string(p, measured))
			if (fail(links, "policy:digest", "the image measures to a digest the policy does not allow") < 0)
				return NULL;
	}
	return TAKE_PTR(links);
}
