/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sealed image's manifest.json (host-probe/builder/build-sealed-image.py):
 * the composefs digest and the image's files. Its file names become host
 * paths and QEMU option values, so each must be a plain file name ([A-Za-z0-9._-],
 * not starting with '.' or '-') naming a regular file inside the image
 * directory, never a path, a link or a device (docs/threat-model.md).
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "sc-digest.h"

#define PROBE_MANIFEST_MAX (16u << 20) /* it maps every guest file to its object: ~200 bytes each */

struct probe_manifest {
	json_t *doc;
	struct sc_digest digest; /* the image's composefs digest */
	const char *root;        /* plain names, into @doc */
	const char *vars;
	const char *esp;         /* the sealed ESP */
};

/* Returns 0, or a negative errno with @why naming the file and the problem. */
int probe_manifest_load(const char *dir, struct probe_manifest *ret, char *why, size_t why_size);
void probe_manifest_done(struct probe_manifest *m);

/* The ESP of variant @name ("sealed", "insecure", ...): the manifest's, or esp-NAME.img. NULL if not plain. */
const char *probe_manifest_esp(const struct probe_manifest *m, const char *variant, char *buf, size_t buf_size);

/* True when @s is a plain file name as above. */
bool probe_plain_name(const char *s);

/*
 * probe_image_file() - "DIR/NAME" for a plain @name that is a regular file
 * (not a link) in @dir, malloc'd in *ret. 0, or a negative errno with @why.
 */
int probe_image_file(const char *dir, const char *name, char **ret, char *why, size_t why_size);

/* @s as a QEMU option value: every ',' doubled (QEMU's escape). malloc'd, NULL on ENOMEM. */
char *probe_qemu_escape(const char *s);
