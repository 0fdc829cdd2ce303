/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VM's TPM state as the host keeps it: one folder per VM holding the AK
 * Name the host pinned (ak.name: the TPM2B_NAME's bytes, nameAlg then digest,
 * TPM 2.0 Library Part 1 "Names") and the last verified quote's clock and
 * counters (quote-counters: "clock reset restart", Keylime's
 * check_quote_timing in keylime/tpm/tpm_main.py). Every verb that reads or
 * writes them goes through here, so the names are spelled once.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "probe-tpm.h"

#define PROBE_TPM_STATE_AK_NAME "ak.name"
#define PROBE_TPM_STATE_COUNTERS "quote-counters"
/* A Name: a 2-byte nameAlg and a SHA-256 (34 bytes) up to SHA-512 (66 bytes). */
#define PROBE_TPM_STATE_NAME_MIN 34
#define PROBE_TPM_STATE_NAME_MAX 66

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
 * longest; or the negative errno of reading it.
 */
int probe_tpm_state_read_ak(const char *path, uint8_t *ret, size_t ret_size, size_t *ret_len);

/*
 * probe_tpm_state_pin_ak() - pins @name in @path: written whole to a
 * temporary file of its own, then linked as @path, so a reader sees the
 * whole Name or none, and a pin once made is never replaced. @path already
 * holding exactly @name is success; holding another Name is -EEXIST (a
 * concurrent pinner won; its pin stays). 0 or a negative errno with @why.
 */
int probe_tpm_state_pin_ak(const char *path, const uint8_t *name, size_t name_len, char *why, size_t why_size);

/*
 * probe_tpm_state_check_counters() - Keylime's check_quote_timing across the
 * quotes of one VM: resetCount and restartCount never decrease, and while
 * both stay the same the clock only goes forward. The last quote's values
 * are kept in @state_file ("clock reset restart"), replaced atomically (a
 * temporary file of its own, renamed over it) when this quote passes.
 * Returns 1 (first quote of this TPM state), 0 (newer than the last), -EPERM
 * with @why (went back), or another negative errno with @why.
 */
int probe_tpm_state_check_counters(const char *state_file, const struct probe_tpm_attest *q, char *why,
				   size_t why_size);
