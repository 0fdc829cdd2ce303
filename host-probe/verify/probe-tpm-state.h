/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VM's TPM state as the host keeps it: one folder per VM holding the AK
 * Name the host pinned (ak.name: the TPM2B_NAME's bytes, nameAlg then digest,
 * TPM 2.0 Library Part 1 "Names") and the last verified quote's clock and
 * counters (quote-counters: "clock reset restart", Keylime's
 * check_quote_timing in keylime/tpm/tpm_main.py). Every verb that reads or
 * writes them goes through here, so the names are spelled once.
 *
 * The probe runs as root, so nothing here follows a symlink or trusts an
 * entry someone else could have made: the state dir and the VM folder are
 * opened O_DIRECTORY|O_NOFOLLOW and must be directories owned by the probe's
 * euid and not writable by group or others; the files inside are opened
 * relative to the folder's descriptor with O_NOFOLLOW and must be regular
 * files under the same rule; new contents go to a temporary name of our own
 * (".FILE.XXXXXXXX", O_CREAT|O_EXCL, 0600), written whole and fsync'd, then
 * linked or renamed over FILE inside the same folder. A refusal is a negative
 * errno with a reason naming the path: -ELOOP (a symlink), -ENOTDIR, -EISDIR
 * or -EBADFD (the wrong type), -EPERM (another owner, or group/other
 * writable).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe-tpm.h"

#define PROBE_TPM_STATE_AK_NAME "ak.name"
#define PROBE_TPM_STATE_COUNTERS "quote-counters"
/* A Name: a 2-byte nameAlg and a SHA-256 (34 bytes) up to SHA-512 (66 bytes). */
#define PROBE_TPM_STATE_NAME_MIN 34
#define PROBE_TPM_STATE_NAME_MAX 66

/* The counters' lock (flock(2) on the VM folder): tried this many times, this far apart, then -EBUSY. */
#define PROBE_TPM_STATE_LOCK_TRIES 20
#define PROBE_TPM_STATE_LOCK_NAP_MS 5

/*
 * probe_tpm_state_open() - the VM folder as a descriptor (O_CLOEXEC): @dir
 * opened without following its last component and checked (see above),
 * then, when @vm is not NULL, @vm inside it by openat(2) likewise, made
 * first with mkdirat(2) mode 0700 when @create. @vm NULL: @dir is the VM
 * folder itself (attest and run --tpm-state DIR). Returns the descriptor, or
 * a negative errno with @why (-ENOENT: no such folder, -EINVAL: @vm is not a
 * single name).
 */
int probe_tpm_state_open(const char *dir, const char *vm, bool create, char *why, size_t why_size);

/*
 * probe_tpm_state_read_ak_at() - probe_tpm_state_read_ak() of the ak.name in
 * the VM folder @vmfd (from probe_tpm_state_open(); @vmpath names it in
 * @why). Its errors also with @why.
 */
int probe_tpm_state_read_ak_at(int vmfd, const char *vmpath, uint8_t *ret, size_t ret_size, size_t *ret_len, char *why,
			       size_t why_size);

/*
 * probe_tpm_state_path() - @dir/@file (one of the names above) into @buf of
 * @size bytes. 0, or -ENAMETOOLONG when it does not fit.
 */
int probe_tpm_state_path(const char *dir, const char *file, char *buf, size_t size);

/*
 * probe_tpm_state_read_ak() - the AK Name pinned at @path (a file made by
 * probe_tpm_state_pin_ak()): 0 with its bytes in @ret (@ret_size at least
 * PROBE_TPM_STATE_NAME_MAX) and its length in @ret_len; -ENOENT when none is
 * pinned; -EBADMSG when the file is shorter than a Name or longer than the
 * longest; or the negative errno of reading it (-ELOOP, -EPERM, ... for a
 * folder or file refused, see above).
 */
int probe_tpm_state_read_ak(const char *path, uint8_t *ret, size_t ret_size, size_t *ret_len);

/*
 * probe_tpm_state_pin_ak() - pins @name in @path (VMDIR/ak.name): written
 * whole to a temporary file of its own in VMDIR, then linked as @path, so a
 * reader sees the whole Name or none, and a pin once made is never replaced
 * (an entry already there, a symlink too, is never followed). @path already
 * holding exactly @name is success; holding another Name is -EEXIST (a
 * concurrent pinner won; its pin stays). 0 or a negative errno with @why.
 */
int probe_tpm_state_pin_ak(const char *path, const uint8_t *name, size_t name_len, char *why, size_t why_size);

/*
 * probe_tpm_state_check_counters() - Keylime's check_quote_timing across the
 * quotes of one VM: resetCount and restartCount never decrease, and while
 * both stay the same the clock only goes forward. The last quote's values
 * are kept in @state_file ("clock reset restart", VMDIR/quote-counters),
 * replaced atomically (a temporary file of its own, renamed over it) when
 * this quote passes. The read of the old values and the write of the new
 * ones hold an exclusive flock(2) on VMDIR, so two writers never interleave;
 * one that cannot have it within PROBE_TPM_STATE_LOCK_TRIES naps of
 * PROBE_TPM_STATE_LOCK_NAP_MS returns -EBUSY with @why (never a long wait).
 * Returns 1 (first quote of this TPM state), 0 (newer than the last), -EPERM
 * with @why (went back), or another negative errno with @why.
 */
int probe_tpm_state_check_counters(const char *state_file, const struct probe_tpm_attest *q, char *why,
				   size_t why_size);

/*
 * A VM's last verified quote as a long-running verifier (watch) keeps it between writes of its
 * counters file: each round is compared with it in memory; the file is written (through
 * probe_tpm_state_check_counters(), read and compared too) at the VM's first round, whenever
 * resetCount or restartCount change, once PROBE_TPM_STATE_COUNTERS_WRITE_MS have passed since the
 * last write, and whenever the file is no longer the one written last (another writer such as
 * `attest --tpm-state` moved it on, or the operator removed it: an lstat(2) each round), so a TPM
 * round costs no fsync(2) at each of thousands of VMs' rounds. A verifier started again compares
 * with the file: at most that long behind the last quote it verified.
 */
struct probe_tpm_counters_mem {
	bool valid;
	uint64_t clock;
	uint32_t reset, restart;
	long long written_ms; /* CLOCK_MONOTONIC ms of the last write */
	/* What the file holds since that write, and the file as written (dev, inode, mtime). */
	uint64_t written_clock;
	uint32_t written_reset, written_restart;
	uint64_t file_dev, file_ino;
	int64_t file_mtime_sec;
	long file_mtime_nsec;
};
#define PROBE_TPM_STATE_COUNTERS_WRITE_MS 60000

/*
 * probe_tpm_state_check_counters_mem() - probe_tpm_state_check_counters() with @mem (zeroed for a VM
 * new to the verifier, or after anything it knew of the VM's TPM was read again), @now_ms CLOCK_MONOTONIC.
 * The same rules, results and reasons.
 */
int probe_tpm_state_check_counters_mem(const char *state_file, const struct probe_tpm_attest *q,
				       struct probe_tpm_counters_mem *mem, long long now_ms, char *why, size_t why_size);

/*
 * The VM's TPM state read again (SIGHUP, the VM offered anew): @mem forgotten when the file is no
 * longer the one written last (the operator removed it for a TPM made anew, or another writer moved
 * it on), so the next quote is compared with the file; kept otherwise (a refresh that changed nothing
 * must not open the window a stale file would).
 */
void probe_tpm_state_counters_mem_refresh(const char *state_file, struct probe_tpm_counters_mem *mem);

/*
 * Write @mem's last quote to @state_file when the file is behind it and still exactly the one written
 * last (a verifier stopping, a VM leaving): never a file another writer changed, never one the operator
 * removed (re-created, it would refuse the next TPM's lower counters). Not fsync'd. 0 or a negative errno.
 */
int probe_tpm_state_flush_counters(const char *state_file, struct probe_tpm_counters_mem *mem, char *why,
				   size_t why_size);
