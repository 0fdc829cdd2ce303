/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "config.h"
#include "sc-dmverity.h"
#include "sc-macro.h"

#if HAVE_LIBCRYPTSETUP
#include <libcryptsetup.h>

#include "sc-dlopen.h"

/* libcryptsetup's soname since 2.0 (as systemd's dlopen_cryptsetup() names it). */
#define CRYPTSETUP_SONAME "libcryptsetup.so.12"

static void *cryptsetup_dl;
static __typeof__(crypt_init_by_name) *sym_crypt_init_by_name;
static __typeof__(crypt_get_type) *sym_crypt_get_type;
static __typeof__(crypt_volume_key_get) *sym_crypt_volume_key_get;
static __typeof__(crypt_free) *sym_crypt_free;

int sc_dmverity_load(char *why, size_t why_size)
{
	return sc_dlopen_many(&cryptsetup_dl, CRYPTSETUP_SONAME, why, why_size, SC_DLSYM_ARG(crypt_init_by_name),
			      SC_DLSYM_ARG(crypt_get_type), SC_DLSYM_ARG(crypt_volume_key_get), SC_DLSYM_ARG(crypt_free),
			      NULL);
}
#else
int sc_dmverity_load(char *why, size_t why_size)
{
	snprintf(why, why_size, "built without libcryptsetup");
	return -EOPNOTSUPP;
}
#endif

static int read_attr(const struct sc_paths *paths, dev_t dev, const char *attr, char *buf, size_t size)
{
	_cleanup_free_ char *rel = NULL, *path = NULL, *data = NULL;
	size_t len;
	int r;

	if (asprintf(&rel, "/sys/dev/block/%u:%u/dm/%s", major(dev), minor(dev), attr) < 0)
		return -ENOMEM;
	if (sc_path_join(paths, rel, &path) < 0)
		return -ENOMEM;
	r = sc_read_file_capped(path, SC_SMALL_FILE_MAX, &data, &len);
	if (r < 0)
		return r;
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == ' '))
		len--;
	if (len >= size || memchr(data, '\0', len))
		return -EBADMSG;
	memcpy(buf, data, len);
	buf[len] = '\0';
	return 0;
}

int sc_dmverity_query(const struct sc_paths *paths, dev_t dev, struct sc_dmverity_info *ret)
{
	char uuid[256];
	int r;

	memset(ret, 0, sizeof(*ret));
	r = read_attr(paths, dev, "name", ret->name, sizeof(ret->name));
	if (r == -ENOENT)
		return -ENOTBLK;
	if (r < 0)
		return r;
	r = read_attr(paths, dev, "uuid", uuid, sizeof(uuid));
	if (r < 0 && r != -ENOENT)
		return r;
	/* libcryptsetup and systemd-veritysetup name their verity devices' UUIDs so. */
	if (r == -ENOENT || strncmp(uuid, "CRYPT-VERITY-", 13) != 0)
		return -ENODEV;
	if (paths->root && paths->root[0] && strcmp(paths->root, "/") != 0) {
		snprintf(ret->why, sizeof(ret->why), "device-mapper tables are live kernel state, not read under --root");
		return -EOPNOTSUPP;
	}
#if HAVE_LIBCRYPTSETUP
	{
		struct crypt_device *cd = NULL;
		char key[64];
		size_t key_size = sizeof(key);

		r = sc_dmverity_load(ret->why, sizeof(ret->why));
		if (r < 0)
			return r;
		r = sym_crypt_init_by_name(&cd, ret->name);
		if (r < 0) {
			snprintf(ret->why, sizeof(ret->why), "crypt_init_by_name: %s", strerror(-r));
			return r;
		}
		if (!sym_crypt_get_type(cd) || strcmp(sym_crypt_get_type(cd), CRYPT_VERITY) != 0) {
			sym_crypt_free(cd);
			return -ENODEV;
		}
		/* For a verity device the "volume key" is the root hash. */
		r = sym_crypt_volume_key_get(cd, CRYPT_ANY_SLOT, key, &key_size, NULL, 0);
		sym_crypt_free(cd);
		if (r < 0) {
			snprintf(ret->why, sizeof(ret->why), "reading the root hash: %s", strerror(-r));
			return r;
		}
		memcpy(ret->root_hash, key, key_size);
		ret->root_hash_len = key_size;
		return 0;
	}
#else
	snprintf(ret->why, sizeof(ret->why), "built without libcryptsetup");
	return -EOPNOTSUPP;
#endif
}
