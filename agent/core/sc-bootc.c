/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The booted bootc deployment (sc-bootc.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "sc-bootc.h"
#include "sc-efivars.h"
#include "sc-macro.h"
#include "sc-json.h"
#include "sc-why.h"

#define BAD(...) sc_why(-EBADMSG, why, why_size, __VA_ARGS__)

/* systemd's loader vendor GUID 4a67b082-0a4c-41cf-b6c7-440b29bb8c4f (systemd src/fundamental/efivars-fundamental.h
 * LOADER_GUID); efi_guid_t's fourth field holds bytes 8-9 as stored (libefivar's EFI_GUID() swaps them). */
static const efi_guid_t loader_guid = { 0x4a67b082, 0x0a4c, 0x41cf, 0xc7b6, { 0x44, 0x0b, 0x29, 0xbb, 0x8c, 0x4f } };

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* A composefs digest as bootc names deployments: lowercase hex of SHA-256 or SHA-512. */
static bool is_verity_hex(const char *s)
{
	size_t n = strlen(s);

	return (n == 64 || n == 128) && is_lower_hex(s, n);
}

static int copy_value(char *dst, size_t cap, const char *src, size_t n, const char *what, char *why, size_t why_size)
{
	if (n >= cap)
		return BAD("%s: %zu bytes, over %zu", what, n, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

/*
 * containers-image-proxy's transports (src/transport.rs): the name before the first ':'.
 * "docker" is the registry, its name then starting with "//".
 */
static int imgref_transport(const char *s, struct sc_bootc_imgref *ret, char *why, size_t why_size)
{
	static const char *const names[] = { "registry", "oci", "oci-archive", "docker-archive", "containers-storage",
					     "dir", "docker-daemon" };
	const char *colon = strchr(s, ':'), *name;
	size_t tlen;

	if (!colon)
		return BAD("image reference \"%.80s\": no ':' after the transport", s);
	tlen = (size_t)(colon - s);
	name = colon + 1;
	if (tlen == strlen("docker") && strncmp(s, "docker", tlen) == 0) {
		if (strncmp(name, "//", 2) != 0)
			return BAD("image reference \"%.80s\": docker: without //", s);
		name += 2;
		snprintf(ret->transport, sizeof(ret->transport), "registry");
	} else {
		bool known = false;

		for (size_t i = 0; i < ELEMENTSOF(names) && !known; i++)
			known = tlen == strlen(names[i]) && strncmp(s, names[i], tlen) == 0;
		if (!known)
			return BAD("image reference \"%.80s\": unknown transport \"%.*s\"", s, (int)(tlen > 32 ? 32 : tlen), s);
		memcpy(ret->transport, s, tlen);
		ret->transport[tlen] = '\0';
	}
	if (!*name)
		return BAD("image reference \"%.80s\": an empty image name", s);
	return copy_value(ret->image, sizeof(ret->image), name, strlen(name), "image name", why, why_size);
}

int sc_bootc_imgref_parse(const char *s, struct sc_bootc_imgref *ret, char *why, size_t why_size)
{
	static const char registry[] = "registry:";
	char rest[SC_BOOTC_VALUE_MAX + sizeof(registry)];
	const char *colon = strchr(s, ':'), *second;
	size_t slen;

	memset(ret, 0, sizeof(*ret));
	if (strlen(s) >= SC_BOOTC_VALUE_MAX)
		return BAD("image reference of %zu bytes, over %u", strlen(s), SC_BOOTC_VALUE_MAX - 1);
	if (!colon)
		return BAD("image reference \"%.80s\": no signature scheme", s);
	slen = (size_t)(colon - s);
	second = colon + 1;
#define SCHEME(x) (slen == strlen(x) && strncmp(s, x, slen) == 0)
	if (SCHEME("ostree-image-signed") || SCHEME("ostree-unverified-image")) {
		snprintf(ret->signature, sizeof(ret->signature), "%s",
			 SCHEME("ostree-image-signed") ? "container-policy" : "insecure");
		snprintf(rest, sizeof(rest), "%s", second);
	} else if (SCHEME("ostree-unverified-registry")) {
		/* Shorthand for ostree-unverified-image:registry: */
		snprintf(ret->signature, sizeof(ret->signature), "insecure");
		snprintf(rest, sizeof(rest), "%s%s", registry, second);
	} else if (SCHEME("ostree-remote-image") || SCHEME("ostree-remote-registry")) {
		const char *c2 = strchr(second, ':');

		if (!c2 || c2 == second)
			return BAD("image reference \"%.80s\": no remote name", s);
		snprintf(ret->signature, sizeof(ret->signature), "ostree-remote:%.*s", (int)(c2 - second), second);
		snprintf(rest, sizeof(rest), "%s%s", SCHEME("ostree-remote-registry") ? registry : "", c2 + 1);
	} else
		return BAD("image reference \"%.80s\": unknown signature scheme \"%.*s\"", s, (int)(slen > 40 ? 40 : slen), s);
#undef SCHEME
	return imgref_transport(rest, ret, why, why_size);
}

static const char *trim(char *s, char **end)
{
	while (*s == ' ' || *s == '\t')
		s++;
	*end = s + strlen(s);
	while (*end > s && ((*end)[-1] == ' ' || (*end)[-1] == '\t' || (*end)[-1] == '\r'))
		*--*end = '\0';
	return s;
}

enum origin_key { K_IMAGE_REF, K_BOOT_TYPE, K_BOOT_DIGEST, K_MANIFEST, _K_MAX };

static int origin_value(struct sc_bootc_origin *o, enum origin_key k, const char *v, unsigned line, char *why,
			size_t why_size)
{
	size_t n = strlen(v);
	int r;

	switch (k) {
	case K_IMAGE_REF:
		r = copy_value(o->image_ref, sizeof(o->image_ref), v, n, "container-image-reference", why, why_size);
		if (r < 0)
			return r;
		r = sc_bootc_imgref_parse(v, &o->imgref, why, why_size);
		if (r < 0)
			return r;
		o->has_image = true;
		return 0;
	case K_BOOT_TYPE:
		/* bootc BootType's TryFrom<&str> (bootc_composefs/boot.rs): exactly these two. */
		if (strcmp(v, "uki") != 0 && strcmp(v, "bls") != 0)
			return BAD("line %u: boot_type \"%.40s\" is neither uki nor bls", line, v);
		snprintf(o->boot_type, sizeof(o->boot_type), "%s", v);
		return 0;
	case K_BOOT_DIGEST:
		if (!is_verity_hex(v))
			return BAD("line %u: [boot] digest is not 64 or 128 lowercase hex digits", line);
		snprintf(o->boot_digest, sizeof(o->boot_digest), "%s", v);
		return 0;
	case K_MANIFEST:
		/* An OCI digest: "sha256:" and 64 lowercase hex digits (OCI image-spec descriptor.md). */
		if (n != 7 + 64 || strncmp(v, "sha256:", 7) != 0 || !is_lower_hex(v + 7, 64))
			return BAD("line %u: manifest_digest is not sha256: and 64 lowercase hex digits", line);
		snprintf(o->manifest_digest, sizeof(o->manifest_digest), "%s", v);
		return 0;
	default:
		return -EINVAL;
	}
}

int sc_bootc_origin_parse(const char *text, size_t len, struct sc_bootc_origin *ret, char *why, size_t why_size)
{
	static const struct {
		const char *section, *key;
	} keys[_K_MAX] = {
		[K_IMAGE_REF] = { "origin", "container-image-reference" },
		[K_BOOT_TYPE] = { "boot", "boot_type" },
		[K_BOOT_DIGEST] = { "boot", "digest" },
		[K_MANIFEST] = { "image", "manifest_digest" },
	};
	_cleanup_free_ char *copy = NULL;
	struct sc_bootc_origin o = { 0 };
	bool seen[_K_MAX] = { false };
	char section[64] = "";
	bool in_section = false;
	unsigned line = 0;
	char *p, *next;
	int r;

	if (len > SC_BOOTC_ORIGIN_MAX)
		return BAD("%zu bytes, over %u", len, SC_BOOTC_ORIGIN_MAX);
	if (memchr(text, '\0', len))
		return BAD("a NUL byte");
	if (!sc_utf8_valid(text, len))
		return BAD("not UTF-8");
	copy = strndup(text, len);
	if (!copy)
		return -ENOMEM;
	for (p = copy; p; p = next) {
		char *end, *eq;
		const char *s;

		next = strchr(p, '\n');
		if (next)
			*next++ = '\0';
		line++;
		s = trim(p, &end);
		if (!*s || *s == ';' || *s == '#')
			continue;
		if (*s == '[') {
			size_t n = (size_t)(end - s);

			if (n < 3 || end[-1] != ']' || memchr(s + 1, ']', n - 2) || n - 2 >= sizeof(section))
				return BAD("line %u: not a [section] line", line);
			memcpy(section, s + 1, n - 2);
			section[n - 2] = '\0';
			in_section = true;
			continue;
		}
		eq = strchr(s, '=');
		if (!eq)
			return BAD("line %u: neither a [section] nor a key = value line", line);
		if (!in_section)
			return BAD("line %u: a key before any [section]", line);
		*eq = '\0';
		{
			char *kend, *vend;
			const char *key = trim((char *)s, &kend), *val = trim(eq + 1, &vend);

			if (!*key)
				return BAD("line %u: an empty key", line);
			if (strlen(val) >= SC_BOOTC_VALUE_MAX)
				return BAD("line %u: a value over %u bytes", line, SC_BOOTC_VALUE_MAX - 1);
			for (int k = 0; k < _K_MAX; k++) {
				if (strcmp(section, keys[k].section) != 0 || strcmp(key, keys[k].key) != 0)
					continue;
				if (seen[k])
					return BAD("line %u: [%s] %s given twice", line, keys[k].section, keys[k].key);
				seen[k] = true;
				r = origin_value(&o, (enum origin_key)k, val, line, why, why_size);
				if (r < 0)
					return r;
			}
		}
	}
	*ret = o;
	return 0;
}

int sc_bootc_staged_parse(const char *text, size_t len, struct sc_bootc_staged *ret, char *why, size_t why_size)
{
	_cleanup_json_ json_t *doc = NULL;
	struct sc_bootc_staged s = { 0 };
	json_error_t err;
	const char *k;
	json_t *v;

	if (len > SC_BOOTC_STAGED_MAX)
		return BAD("%zu bytes, over %u", len, SC_BOOTC_STAGED_MAX);
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!doc || !json_is_object(doc))
		return BAD("not a JSON object%s%s", doc ? "" : ": ", doc ? "" : err.text);
	json_object_foreach(doc, k, v) {
		if (strcmp(k, "depl_id") == 0) {
			if (!json_is_string(v) || !is_verity_hex(json_string_value(v)))
				return BAD("depl_id is not a digest (64 or 128 lowercase hex digits)");
			snprintf(s.verity, sizeof(s.verity), "%s", json_string_value(v));
		} else if (strcmp(k, "finalization_locked") == 0) {
			if (!json_is_boolean(v))
				return BAD("finalization_locked is not a boolean");
			s.finalization_locked = json_is_true(v);
		} else
			return BAD("unknown key \"%.40s\"", k);
	}
	if (!s.verity[0])
		return BAD("no depl_id");
	*ret = s;
	return 0;
}

/* The LoaderInfo variable as bootc's get_bootloader() reads it: systemd-boot, grub cc, another loader, or none. */
static void bootloader(const struct sc_paths *paths, char *out, size_t n)
{
	_cleanup_free_ uint8_t *data = NULL;
	char ascii[128];
	uint32_t attr;
	size_t size, o = 0;
	int r = sc_efivar_read(paths, &loader_guid, "LoaderInfo", &attr, &data, &size);

	if (r == -ENOENT) {
		snprintf(out, n, "none");
		return;
	}
	if (r < 0) {
		out[0] = '\0'; /* unreadable: not said */
		return;
	}
	/* UTF-16LE, NUL-terminated: the ASCII of it, lowercased (bootc compares lowercased). */
	for (size_t i = 0; i + 1 < size && o + 1 < sizeof(ascii); i += 2) {
		unsigned c = data[i] | (unsigned)data[i + 1] << 8;

		if (c == 0)
			break;
		ascii[o++] = c < 0x80 ? (char)(c >= 'A' && c <= 'Z' ? c + 32 : c) : '?';
	}
	ascii[o] = '\0';
	snprintf(out, n, "%s", strstr(ascii, "systemd-boot") ? "systemd" : strstr(ascii, "grub cc") ? "grub-cc" : "grub");
}

int sc_bootc_deployment(const struct sc_paths *paths, const char *mounted_hex, const char *cmdline_hex,
			struct sc_bootc_deployment *ret)
{
	_cleanup_free_ char *state_rel = NULL, *state = NULL, *origin_rel = NULL, *origin = NULL, *staged = NULL;
	_cleanup_free_ char *buf = NULL;
	struct sc_bootc_deployment d = { 0 };
	char why[256];
	struct stat st;
	size_t len;
	int r;

	if (asprintf(&state_rel, "%s/" SC_BOOTC_STATE_DIR, paths->sysroot) < 0 || sc_path_join(paths, state_rel, &state) < 0)
		return -ENOMEM;
	if (stat(state, &st) < 0 || !S_ISDIR(st.st_mode)) {
		*ret = d; /* not a bootc composefs system */
		return 0;
	}
	d.present = true;
	bootloader(paths, d.bootloader, sizeof(d.bootloader));
	if (!mounted_hex || !is_verity_hex(mounted_hex))
		snprintf(d.origin_error, sizeof(d.origin_error), "the root is not a composefs mount: no deployment is booted");
	else {
		snprintf(d.verity, sizeof(d.verity), "%s", mounted_hex);
		if (cmdline_hex && strcmp(cmdline_hex, mounted_hex) != 0) {
			d.soft_reboot = true;
			snprintf(d.cmdline_verity, sizeof(d.cmdline_verity), "%s", cmdline_hex);
		}
		if (asprintf(&origin_rel, "%s/" SC_BOOTC_STATE_DIR "/%s/%s.origin", paths->sysroot, mounted_hex,
			     mounted_hex) < 0 ||
		    sc_path_join(paths, origin_rel, &origin) < 0)
			return -ENOMEM;
		r = sc_read_file_capped(origin, SC_BOOTC_ORIGIN_MAX, &buf, &len);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			snprintf(d.origin_error, sizeof(d.origin_error), "%s: %s", origin_rel,
				 r == -EFBIG ? "larger than 16 KiB" : strerror(-r));
		else if (sc_bootc_origin_parse(buf, len, &d.origin, why, sizeof(why)) < 0)
			snprintf(d.origin_error, sizeof(d.origin_error), "%s: %s", origin_rel, why);
		else
			d.has_origin = true;
	}
	free(TAKE_PTR(buf));
	if (sc_path_join(paths, SC_BOOTC_STAGED_PATH, &staged) < 0)
		return -ENOMEM;
	r = sc_read_file_capped(staged, SC_BOOTC_STAGED_MAX, &buf, &len);
	if (r == -ENOMEM)
		return r;
	if (r >= 0) {
		if (sc_bootc_staged_parse(buf, len, &d.staged, why, sizeof(why)) < 0)
			snprintf(d.staged_error, sizeof(d.staged_error), SC_BOOTC_STAGED_PATH ": %s", why);
		else
			d.has_staged = true;
	} else if (r != -ENOENT)
		snprintf(d.staged_error, sizeof(d.staged_error), SC_BOOTC_STAGED_PATH ": %s",
			 r == -EFBIG ? "larger than 4 KiB" : strerror(-r));
	*ret = d;
	return 0;
}
