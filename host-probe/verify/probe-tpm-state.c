/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "probe-tpm-state.h"
#include "sc-fileio.h"
#include "sc-macro.h"
#include "sc-why.h"

int probe_tpm_state_path(const char *dir, const char *file, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", dir, file);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int probe_tpm_state_read_ak(const char *path, uint8_t *ret, size_t ret_size, size_t *ret_len)
{
	_cleanup_free_ char *name = NULL;
	size_t len;
	int r = sc_read_file_capped(path, PROBE_TPM_STATE_NAME_MAX, &name, &len);

	if (r == -EFBIG)
		return -EBADMSG;
	if (r < 0)
		return r;
	if (len < PROBE_TPM_STATE_NAME_MIN || len > ret_size)
		return -EBADMSG;
	memcpy(ret, name, len);
	*ret_len = len;
	return 0;
}

int probe_tpm_state_pin_ak(const char *path, const uint8_t *name, size_t name_len, char *why, size_t why_size)
{
	_cleanup_free_ char *tmp = NULL, *have = NULL;
	_cleanup_close_ int fd = -1;
	size_t have_len;
	int r;

	/* A name of our own (two pinners never write one file), made whole before it appears as @path. */
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return sc_why(-errno, why, why_size, "%s: %s", tmp, strerror(errno));
	errno = 0;
	if (write(fd, name, name_len) != (ssize_t)name_len || fsync(fd) < 0) {
		r = errno ? -errno : -EIO;
		(void)unlink(tmp);
		return sc_why(r, why, why_size, "%s: %s", tmp, strerror(-r));
	}
	/* link(), not rename(): a pin once made is never replaced, by us or by a concurrent pinner. */
	r = link(tmp, path) < 0 ? -errno : 0;
	if (r == -EPERM || r == -EOPNOTSUPP || r == -ENOTSUP || r == -EMLINK) {
		/* No hard links here (vfat, some FUSE): the same promise from renameat2(RENAME_NOREPLACE). */
		r = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0 ? -errno : 0;
	}
	(void)unlink(tmp);
	if (r == 0)
		return 0;
	if (r != -EEXIST)
		return sc_why(r, why, why_size, "%s: %s", path, strerror(-r));
	/* Pinned meanwhile: the same Name is our pin; another is refused (the VM's AK stays the first). */
	r = sc_read_file_capped(path, 4096, &have, &have_len);
	if (r == 0 && have_len == name_len && CRYPTO_memcmp(have, name, name_len) == 0)
		return 0;
	return sc_why(-EEXIST, why, why_size, "%s already pins another AK (pinned meanwhile); it is kept", path);
}

int probe_tpm_state_check_counters(const char *state_file, const struct probe_tpm_attest *q, char *why,
				   size_t why_size)
{
	_cleanup_free_ char *buf = NULL, *tmp = NULL;
	unsigned long long clock = 0;
	unsigned reset = 0, restart = 0;
	bool first = false;
	_cleanup_close_ int fd = -1;
	char line[80];
	size_t len;
	int n, r = sc_read_file_capped(state_file, 256, &buf, &len);

	if (r == -ENOENT)
		first = true;
	else if (r < 0)
		return sc_why(r, why, why_size, "%s: %s", state_file, strerror(-r));
	else if (sscanf(buf, "%llu %u %u", &clock, &reset, &restart) != 3)
		return sc_why(-EBADMSG, why, why_size, "%s: not \"clock reset restart\"", state_file);
	if (!first) {
		if (q->reset_count < reset)
			return sc_why(-EPERM, why, why_size, "resetCount went back from %u to %u", reset, q->reset_count);
		if (q->reset_count == reset && q->restart_count < restart)
			return sc_why(-EPERM, why, why_size, "restartCount went back from %u to %u", restart,
				      q->restart_count);
		if (q->reset_count == reset && q->restart_count == restart && q->clock <= clock)
			return sc_why(-EPERM, why, why_size, "the TPM clock did not advance (%llu after %llu)",
				      (unsigned long long)q->clock, clock);
	}
	/* A name of our own, written whole, then renamed over the last values: a reader sees one or the other. */
	if (asprintf(&tmp, "%s.XXXXXX", state_file) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return sc_why(-errno, why, why_size, "%s: %s", tmp, strerror(errno));
	n = snprintf(line, sizeof(line), "%llu %u %u\n", (unsigned long long)q->clock, q->reset_count, q->restart_count);
	errno = 0;
	if (n < 0 || (size_t)n >= sizeof(line) || write(fd, line, (size_t)n) != n || fsync(fd) < 0 ||
	    rename(tmp, state_file) < 0) {
		r = errno ? -errno : -EIO;
		(void)unlink(tmp);
		return sc_why(r, why, why_size, "%s: %s", state_file, strerror(-r));
	}
	return first ? 1 : 0;
}
