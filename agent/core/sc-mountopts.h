/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Superblock options of a mountinfo line, split on the RAW text.
 *
 * The kernel octal-escapes space, tab, newline, backslash and comma inside
 * option values (seq_show_option). libmount unescapes the whole field before
 * splitting it, so a lowerdir directory named "x,verity=require" reads as a
 * real option there. We split on raw commas first and unescape each value
 * afterwards.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * sc_mountopt_next() - the next option of a raw (escaped) option string.
 * Returns 1 with name/value spans (value NULL when there is no '='), or 0 at
 * the end.
 */
int sc_mountopt_next(const char **pos, const char *end, const char **name, size_t *name_len, const char **value,
		     size_t *value_len);

/*
 * sc_mount_unescape() - decode the kernel's \ooo escapes of @len bytes into a
 * malloc'd NUL-terminated string. A backslash not followed by three octal
 * digits is kept as it is. Returns 0, or -ENOMEM.
 */
int sc_mount_unescape(const char *s, size_t len, char **ret);

#define SC_OVERLAY_MAX_LAYERS 64

/* What the seal needs from an overlay's options. */
struct sc_overlay_opts {
	char *verity;      /* unescaped value of verity=, NULL when absent ("off") */
	char *metacopy;    /* NULL when not printed (kernel default) */
	char *redirect_dir;
	char *lowerdir;    /* legacy lowerdir=a:b::data */
	char *upperdir;    /* NULL when absent: a read-only overlay */
	char *workdir;
	size_t n_lowerdir; /* how many lowerdir= options (the kernel prints one) */
	size_t n_lower_plus, n_data_plus; /* lowerdir+= / datadir+= layers (6.7+) */
	char *layers[SC_OVERLAY_MAX_LAYERS]; /* the lowerdir+=/datadir+= values in order */
	bool layer_is_data[SC_OVERLAY_MAX_LAYERS];
	size_t n_options;
	bool duplicate_verity; /* verity= given more than once: the last one is in effect */
};

/* Returns 0, -ENOMEM, or -E2BIG for more than SC_OVERLAY_MAX_LAYERS layers. */
int sc_overlay_opts_parse(const char *raw, size_t len, struct sc_overlay_opts *ret);
void sc_overlay_opts_done(struct sc_overlay_opts *o);
#define _cleanup_overlay_opts_ __attribute__((cleanup(sc_overlay_opts_done)))

/* The layers of an overlay as the kernel splits them, top first. */
struct sc_overlay_layers {
	size_t n, n_data;
	char *path[SC_OVERLAY_MAX_LAYERS]; /* unescaped paths, as the mounter named them */
	bool data[SC_OVERLAY_MAX_LAYERS];  /* a data-only layer (after "::", or datadir+=) */
};

/*
 * sc_overlay_split_lowerdir() - split an (already octal-unescaped) lowerdir=
 * value as Linux fs/overlayfs/params.c does: ':' separates layers, '\' makes
 * the next character literal, "::" starts the data-only layers
 * (Documentation/filesystems/overlayfs.rst, "lowerdir=/l1:/l2:/l3::/do1::/do2").
 * Shapes the kernel refuses are -EINVAL: a leading ':', ":::" or more,
 * trailing colons, a regular layer after a data-only one. Returns 0, -EINVAL,
 * -E2BIG (more than SC_OVERLAY_MAX_LAYERS layers) or -ENOMEM; on success
 * free @ret with sc_overlay_layers_done().
 */
int sc_overlay_split_lowerdir(const char *s, struct sc_overlay_layers *ret);

/*
 * sc_overlay_opts_layers() - the layers in effect: the split lowerdir= when
 * it is given, else the lowerdir+=/datadir+= layers (Linux 6.8+ prints one
 * form or the other, never both). -EINVAL for both forms, several lowerdir=,
 * or a lowerdir= the kernel would refuse; otherwise as
 * sc_overlay_split_lowerdir().
 */
int sc_overlay_opts_layers(const struct sc_overlay_opts *o, struct sc_overlay_layers *ret);
void sc_overlay_layers_done(struct sc_overlay_layers *l);
#define _cleanup_overlay_layers_ __attribute__((cleanup(sc_overlay_layers_done)))
