/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
/*
 * The probe's work directories (`run`, `run --libvirt`) and what a probe
 * killed outright leaves behind.
 *
 * A probe that gets SIGKILL (or the OOM killer) cannot clean up: its QEMU and
 * swtpm die with it (parent-death signal), or libvirt's autodestroy stops its
 * domain, but its work directory (a copy of the variable store, the UKI, a
 * TPM state: tens of MB on the runtime tmpfs) and its libvirt domain
 * definition stay. So each one records its owner: the boot, the pid and the
 * pid's start time (/proc/PID/stat field 22), which no later process shares.
 * The next probe removes what names an owner that is gone. What names no
 * owner (a `--keep` run, which leaves its VM on purpose) is never touched.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PROBE_WORKDIR_PREFIX "sealcheck-probe."
#define PROBE_OWNER_FILE "owner"
#define PROBE_OWNER_MAX 256 /* bytes of an owner record read, at most */

struct probe_owner {
	char boot_id[37]; /* /proc/sys/kernel/random/boot_id, 36 characters */
	unsigned long long pid_ns; /* the inode of its PID namespace (/proc/self/ns/pid): pids mean nothing in another */
	pid_t pid;
	unsigned long long start; /* clock ticks after boot */
};

/* The calling process as an owner. 0 or -errno. */
int probe_owner_self(struct probe_owner *ret);

/* "sealcheck-probe owner v1 boot_id=UUID pidns=N pid=N start=N\n" into @buf. 0, or -ENOBUFS. */
int probe_owner_format(const struct probe_owner *o, char *buf, size_t size);

/* The record above, strictly (lowercase UUID, decimal numbers, one LF). 0 or -EBADMSG. */
int probe_owner_parse(const char *s, size_t len, struct probe_owner *ret);

/*
 * True when @o is no live process: another boot, or in our PID namespace no
 * such pid or a pid started at another time. Whatever cannot be told (another
 * PID namespace, /proc unreadable) is false: kept.
 */
bool probe_owner_gone(const struct probe_owner *o);

/*
 * probe_workdir_create() - BASE/sealcheck-probe.XXXXXX (mkdtemp, 0700), BASE
 * being @base, or (NULL) $XDG_RUNTIME_DIR when it is an absolute path of at
 * most @base_max bytes, else /tmp. First removes the work directories of probes that are
 * gone (probe_workdir_reap). With @owned it writes the owner record, so a later
 * probe can remove this one if this probe is killed; without (`--keep`) it is
 * never removed by anyone else. 0, or -errno with @why said.
 */
int probe_workdir_create(char *buf, size_t size, const char *base, size_t base_max, bool owned, char *why,
			 size_t why_size);

/*
 * probe_workdir_shared_base() - PROBE_WORKDIR_SHARED_BASE, made (0711) when
 * missing: where root's work directories go when a process of another user
 * (libvirt's QEMU) must reach a socket in them. Refused unless it is a
 * directory of root's that no one else can write. 0, or -errno with @why.
 */
#define PROBE_WORKDIR_SHARED_BASE "/run/sealcheck-probe"
int probe_workdir_shared_base(char *why, size_t why_size);

/* The directory and everything under it, never following a symlink (four levels deep at most). */
void probe_workdir_remove(const char *dir);

/*
 * probe_workdir_reap() - in @base, remove each PROBE_WORKDIR_PREFIX directory
 * (not a symlink, owned by this user) whose owner record names an owner that
 * is gone. Returns how many were removed, or -errno when @base cannot be read.
 */
int probe_workdir_reap(const char *base);
