/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probe-manifest.h"
#include "sc-fileio.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-why.h"

bool probe_plain_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

int probe_image_file(const char *dir, const char *name, char **ret, char *why, size_t why_size)
{
	_cleanup_close_ int dfd = -1, fd = -1;
	struct stat st;

	if (!probe_plain_name(name))
		return sc_why(-EINVAL, why, why_size, "%s/manifest.json: file name \"%.60s\" is not a plain file name",
		              dir, name ? name : "(none)");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return sc_why(-errno, why, why_size, "%s: %s", dir, strerror(errno));
	fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return sc_why(-errno, why, why_size, "%s/%s: %s", dir, name, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return sc_why(-EINVAL, why, why_size, "%s/%s: not a regular file", dir, name);
	if (asprintf(ret, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	return 0;
}

int probe_manifest_load(const char *dir, struct probe_manifest *ret, char *why, size_t why_size)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	_cleanup_json_ json_t *m = NULL;
	static const char *const keys[] = { "root", "vars", "esp" };
	json_error_t err;
	json_t *esps, *sealed;
	const char *d, *names[3];
	size_t len;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (asprintf(&path, "%s/manifest.json", dir) < 0)
		return -ENOMEM;
	r = sc_read_file_capped(path, PROBE_MANIFEST_MAX, &buf, &len);
	if (r < 0)
		return sc_why(r, why, why_size, "%s: %s (is %s an image made by the builder?)", path,
		              r == -EFBIG ? "larger than 16 MiB" : strerror(-r), dir);
	m = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (!m)
		return sc_why(-EINVAL, why, why_size, "%s: line %d: %s", path, err.line, err.text);
	/* A parse that succeeded leaves no position in err (jansson's json_error_t: line -1). */
	if (!json_is_object(m))
		return sc_why(-EINVAL, why, why_size, "%s: not a JSON object", path);
	d = sc_json_get_str(m, "digest");
	if (!d || sc_digest_from_hex(d, strlen(d), SC_HASH_NONE, &ret->digest) < 0)
		return sc_why(-EINVAL, why, why_size, "%s: \"digest\" is not a 64 or 128 character lowercase hex digest",
		              path);
	/* A name of another type is no name: refused, never replaced by the default below. */
	esps = json_object_get(m, "esps");
	sealed = json_object_get(esps, "sealed");
	if (esps && !json_is_object(esps))
		return sc_why(-EINVAL, why, why_size, "%s: \"esps\" is not an object", path);
	if (sealed && !json_is_object(sealed))
		return sc_why(-EINVAL, why, why_size, "%s: \"esps.sealed\" is not an object", path);
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		json_t *v = json_object_get(i < 2 ? m : sealed, keys[i]);

		if (v && !json_is_string(v))
			return sc_why(-EINVAL, why, why_size, "%s: \"%s%s\" is not a string", path,
			              i < 2 ? "" : "esps.sealed.", keys[i]);
	}
	names[0] = ret->root = sc_json_get_str(m, "root") ?: "root.img";
	names[1] = ret->vars = sc_json_get_str(m, "vars") ?: "vars.fd";
	names[2] = ret->esp = sc_json_get_str(sealed, "esp") ?: "esp.img";
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (!probe_plain_name(names[i]))
			return sc_why(-EINVAL, why, why_size, "%s: file name \"%.60s\" is not a plain file name", path,
			              names[i]);
	ret->doc = TAKE_PTR(m);
	return 0;
}

void probe_manifest_done(struct probe_manifest *m)
{
	if (m->doc)
		json_decref(m->doc);
	memset(m, 0, sizeof(*m));
}

const char *probe_manifest_esp(const struct probe_manifest *m, const char *variant, char *buf, size_t buf_size)
{
	const char *name = sc_json_get_str(json_object_get(json_object_get(m->doc, "esps"), variant), "esp");

	if (!name) {
		if (!probe_plain_name(variant))
			return NULL;
		snprintf(buf, buf_size, "esp-%s.img", variant);
		name = buf;
	}
	return probe_plain_name(name) ? name : NULL;
}

char *probe_qemu_escape(const char *s)
{
	size_t n = strlen(s), commas = 0;
	char *out, *o;

	for (size_t i = 0; i < n; i++)
		commas += s[i] == ',';
	out = malloc(n + commas + 1);
	if (!out)
		return NULL;
	o = out;
	for (size_t i = 0; i < n; i++) {
		*o++ = s[i];
		if (s[i] == ',')
			*o++ = ',';
	}
	*o = '\0';
	return out;
}
