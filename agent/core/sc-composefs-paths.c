/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The composefs repository's paths (sc-composefs-paths.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "sc-composefs-paths.h"
#include "sc-macro.h"

int sc_composefs_paths(const struct sc_paths *paths, const struct sc_digest *d, char **ret_image, char **ret_objects)
{
	_cleanup_free_ char *repo_rel = NULL, *repo = NULL, *image = NULL, *objects = NULL;
	char hex[SC_DIGEST_HEX_MAX + 1];

	if (asprintf(&repo_rel, "%s/composefs", paths->sysroot) < 0 || sc_path_join(paths, repo_rel, &repo) < 0 ||
	    asprintf(&image, "%s/images/%s", repo, sc_digest_to_hex(d, hex)) < 0 ||
	    asprintf(&objects, "%s/objects", repo) < 0)
		return -ENOMEM;
	*ret_image = TAKE_PTR(image);
	*ret_objects = TAKE_PTR(objects);
	return 0;
}
