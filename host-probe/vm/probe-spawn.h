/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Child processes of the probe (QEMU, virt-fw-vars, mcopy, swtpm). Each
 * gets a parent-death signal, so a probe killed with SIGKILL leaves nothing
 * running, the default signal mask and handlers, /dev/null as its input and
 * @out_fd as its output; helper tools are bounded by a timeout.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/*
 * Start argv[0] (PATH searched). 0 with *ret_pid and *ret_pidfd (-1 where
 * pidfds are missing), or -errno. @die_with_parent: SIGKILL it when the probe
 * dies (false only for a VM the operator asked to keep running).
 */
int probe_spawn(const char *const argv[], int out_fd, bool die_with_parent, pid_t *ret_pid, int *ret_pidfd);

/*
 * probe_spawn_wait() - run a helper tool to its end, output appended to @log.
 * Returns 0 (exit status 0), -EIO (it failed), -ETIMEDOUT (killed after
 * @timeout_ms), -ENOENT (not installed) or another negative errno.
 */
int probe_spawn_wait(const char *const argv[], const char *log, unsigned timeout_ms);

/* Wait up to @timeout_ms for @pid to end (reaping it). 0 ended, -ETIMEDOUT, or -errno. */
int probe_child_wait(pid_t pid, int pidfd, unsigned timeout_ms, int *ret_status);
