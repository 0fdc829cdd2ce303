/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sc-efivars.h"
#include "sc-macro.h"

char *sc_guid_format(const void *guid16, char buf[static 37])
{
	const uint8_t *g = guid16;

	/* EFI_GUID: the first three fields are little-endian. */
	snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", g[3], g[2], g[1],
		 g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
	return buf;
}

int sc_efivar_read(const struct sc_paths *paths, const efi_guid_t *guid, const char *name, uint32_t *ret_attr,
		   uint8_t **ret_data, size_t *ret_size)
{
	_cleanup_free_ char *rel = NULL, *path = NULL, *buf = NULL;
	char g[37];
	size_t len;
	uint8_t *data;
	int r;

	if (asprintf(&rel, SC_EFIVARS_DIR "/%s-%s", name, sc_guid_format(guid, g)) < 0)
		return -ENOMEM;
	r = sc_path_join(paths, rel, &path);
	if (r < 0)
		return r;
	r = sc_read_file_capped(path, SC_EFIVAR_MAX + 4, &buf, &len);
	if (r < 0)
		return r;
	if (len == 0)
		return -ENOENT; /* uncommitted: the kernel shows a variable being written as empty */
	if (len < 4)
		return -EBADMSG;
	data = malloc(len - 4 + 1);
	if (!data)
		return -ENOMEM;
	memcpy(data, buf + 4, len - 4);
	if (ret_attr)
		memcpy(ret_attr, buf, 4); /* native endian, as efivarfs presents it */
	*ret_data = data;
	*ret_size = len - 4;
	return 0;
}

int sc_efivar_read_bool(const struct sc_paths *paths, const efi_guid_t *guid, const char *name, int *ret)
{
	_cleanup_free_ uint8_t *d = NULL;
	size_t n;
	int r;

	r = sc_efivar_read(paths, guid, name, NULL, &d, &n);
	if (r < 0)
		return r;
	if (n != 1 || d[0] > 1)
		return -EBADMSG;
	*ret = d[0];
	return 0;
}
