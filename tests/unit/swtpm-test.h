/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A real swtpm for the unit tests (loopback TCP, as tpm2-tss's swtpm TCTI speaks). */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/*
 * test_swtpm_start() - swtpm on a free loopback port pair (server P, control
 * P+1) with its state in @state_dir; *@pid and @tcti ("swtpm:host=...,port=P")
 * are set. A pair taken by a parallel test between the probe and swtpm's bind
 * makes swtpm exit: another pair is tried. 0, or -1.
 */
int test_swtpm_start(const char *state_dir, pid_t *pid, char *tcti, size_t tcti_size);
/* SIGTERM and reap it (*@pid 0 afterwards; nothing when already 0). */
void test_swtpm_stop(pid_t *pid);
