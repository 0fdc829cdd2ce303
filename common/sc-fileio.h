/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bounded file reading and root redirection.
 *
 * Every system path sealcheck reads (/proc, /sys, efivarfs, /sysroot) goes
 * through struct sc_paths, so the whole program can run against a fixture
 * tree (--root) without root privileges or a VM.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct sc_paths {
	const char *root;    /* "" or "/" for the running system, else a fixture tree */
	const char *sysroot; /* physical root of the composefs repository, absolute in the system */
};

#define SC_PATHS_SYSTEM ((struct sc_paths){ .root = "", .sysroot = "/sysroot" })

/*
 * sc_path_join() - the path of @abs (an absolute system path) under the root.
 * Returns 0 and a malloc'd string in *ret, or -ENOMEM / -EINVAL.
 */
int sc_path_join(const struct sc_paths *paths, const char *abs, char **ret);

/*
 * sc_read_file_capped() - read a whole file of at most @cap bytes.
 *
 * Reads through EINTR a bounded number of times (efivarfs rate-limits reads).
 * The buffer is NUL-terminated (not counted in *ret_len) so text parsers may
 * use it as a string; binary users take *ret_len.
 * Returns 0, or -EFBIG when the file is larger than @cap, -EINTR after too
 * many interruptions, or the negative errno of open/read.
 */
int sc_read_file_capped(const char *path, size_t cap, char **ret, size_t *ret_len);

/* Like sc_read_file_capped() on an open descriptor (not closed). */
int sc_read_fd_capped(int fd, size_t cap, char **ret, size_t *ret_len);

/* Size caps for the inputs sealcheck reads. */
#define SC_CMDLINE_MAX (64u * 1024u)            /* COMMAND_LINE_SIZE is 2-4 KiB; be generous */
#define SC_MOUNTINFO_MAX (64u * 1024u * 1024u)  /* 10,000+ mounts with long lines */
#define SC_EFIVAR_MAX (4u * 1024u * 1024u)      /* the cap systemd uses */
#define SC_SMALL_FILE_MAX (4096u)               /* lockdown, machine-id, sysfs attributes */
#define SC_READ_EINTR_RETRIES 25
