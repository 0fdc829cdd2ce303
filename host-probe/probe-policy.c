/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's policy over a validated report: every required check passed,
 * the digest is the one expected, Secure Boot is enforcing. The guest's own
 * verdict field is not trusted; the checks are read one by one.
 */
#include <string.h>

#include "probe.h"
#include "sc-json.h"

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void fail(json_t *links, const char *link, const char *reason)
{
	json_array_append_new(links, json_pack("{s:s, s:s}", "link", link, "reason", reason ? reason : "?"));
}

json_t *probe_policy_check(const struct probe_policy *p, json_t *report)
{
	json_t *links = json_array(), *checks = json_object_get(report, "checks");
	const char *kind = str(report, "seal_kind");
	static const char *const required[] = { "cmdline", "root_mount", "secure_boot", "composefs_image" };

	if (!links)
		return NULL;
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		json_t *c = json_object_get(checks, required[i]);
		const char *status = str(c, "status");

		if (strcmp(required[i], "composefs_image") == 0 && kind && strcmp(kind, "dm-verity") == 0)
			continue;
		if (!status || strcmp(status, "pass") != 0) {
			char buf[512];

			snprintf(buf, sizeof(buf), "%s: %s", status ? status : "missing", str(c, "reason") ?: "");
			fail(links, required[i], buf);
		}
	}
	/* The deep check, when the guest was asked to run it, binds like the others. */
	if (json_object_get(checks, "objects")) {
		json_t *c = json_object_get(checks, "objects");
		const char *status = str(c, "status");

		if (!status || strcmp(status, "pass") != 0) {
			char buf[512];

			snprintf(buf, sizeof(buf), "%s: %s", status ? status : "missing", str(c, "reason") ?: "");
			fail(links, "objects", buf);
		}
	}
	if (p->require_secure_boot) {
		const char *mode = str(json_object_get(checks, "secure_boot"), "mode");

		if (!mode || (strcmp(mode, "user") != 0 && strcmp(mode, "deployed") != 0))
			fail(links, "policy:secure_boot", "Secure Boot is not in user or deployed mode");
	}
	if (p->expect.alg != SC_HASH_NONE) {
		char hex[SC_DIGEST_HEX_MAX + 1], full[SC_DIGEST_HEX_MAX + 8];
		json_t *digests = json_object_get(json_object_get(checks, "cmdline"), "digests"), *d;
		const char *mounted = str(json_object_get(checks, "root_mount"), "digest");
		const char *measured = str(json_object_get(checks, "composefs_image"), "measured");
		bool named = false;
		size_t i;

		sc_digest_to_hex(&p->expect, hex);
		sc_digest_to_string(&p->expect, full);
		json_array_foreach(digests, i, d)
			named |= str(d, "digest") && strcmp(str(d, "digest"), hex) == 0 && str(d, "algorithm") &&
				 strcmp(str(d, "algorithm"), sc_hash_alg_name(p->expect.alg)) == 0;
		if (!named)
			fail(links, "policy:digest", "the UKI's cmdline does not name the expected digest");
		if (!mounted || strcmp(mounted, hex) != 0)
			fail(links, "policy:digest", "the root is not mounted from the expected image");
		if (!measured || strcmp(measured, full) != 0)
			fail(links, "policy:digest", "the image does not measure to the expected digest");
	}
	return links;
}
