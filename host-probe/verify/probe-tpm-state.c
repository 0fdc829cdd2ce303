/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "probe-tpm-state.h"
#include "sc-fileio.h"
#include "sc-macro.h"
#include "sc-why.h"

/* What a state file may hold: a Name is at most 66 bytes, "clock reset restart" one short line. */
#define STATE_FILE_MAX 256

int probe_tpm_state_path(const char *dir, const char *file, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", dir, file);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * The probe runs as root and the state is its own: a folder or file that is not ours, or that
 * someone else may write to, could have been swapped (a symlink to /etc, a file another user
 * controls). The same rule as systemd's CHASE_SAFE (src/basic/chase.c): an entry owned by
 * another user is refused; stricter here, group or other write permission is refused too.
 */
static int check_entry(int fd, bool dir, const char *path, const char *name, char *why, size_t why_size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return sc_why_errno(why, why_size, "%s%s%s: %m", path, name ? "/" : "", name ?: "");
	if (dir && !S_ISDIR(st.st_mode))
		return sc_why(-ENOTDIR, why, why_size, "%s%s%s: not a directory (refused)", path, name ? "/" : "",
			      name ?: "");
	/* systemd's stat_verify_regular() (src/basic/stat-util.c): -EISDIR for a directory, -EBADFD otherwise. */
	if (!dir && !S_ISREG(st.st_mode))
		return sc_why(S_ISDIR(st.st_mode) ? -EISDIR : -EBADFD, why, why_size,
			      "%s%s%s: not a regular file (refused)", path, name ? "/" : "", name ?: "");
	if (st.st_uid != geteuid())
		return sc_why(-EPERM, why, why_size, "%s%s%s: owned by uid %u, not by the probe's uid %u (refused)", path,
			      name ? "/" : "", name ?: "", (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return sc_why(-EPERM, why, why_size, "%s%s%s: writable by group or others (mode %04o; refused)", path,
			      name ? "/" : "", name ?: "", (unsigned)(st.st_mode & 07777));
	return 0;
}

/* open(2) errors of an O_NOFOLLOW open said plainly: ELOOP is "the last component is a symlink". */
static int open_failed(int r, const char *path, const char *name, char *why, size_t why_size)
{
	if (r == -ELOOP)
		return sc_why(r, why, why_size, "%s%s%s: a symbolic link (refused: the TPM state is never followed elsewhere)",
			      path, name ? "/" : "", name ?: "");
	return sc_why(r, why, why_size, "%s%s%s: %s", path, name ? "/" : "", name ?: "", strerror(-r));
}

/*
 * openat(2) of a directory, its last component not followed. With O_DIRECTORY a symlink there is
 * ENOTDIR, not ELOOP (open(2)): told apart here, so that a symlink is refused as one.
 */
static int open_dir_nofollow(int at, const char *name)
{
	struct stat st;
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOTDIR && fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		return -ELOOP;
	return -errno;
}

/* @path without its trailing slashes (a trailing slash makes open(2) follow a symlink despite O_NOFOLLOW). */
static char *strip_slashes(const char *path)
{
	char *p = strdup(path);
	size_t n;

	if (!p)
		return NULL;
	n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	return p;
}

int probe_tpm_state_open(const char *dir, const char *vm, bool create, char *why, size_t why_size)
{
	_cleanup_free_ char *d = strip_slashes(dir);
	_cleanup_close_ int dfd = -1, vfd = -1;
	int r;

	if (!d)
		return -ENOMEM;
	/* The last component not followed (open(2), O_NOFOLLOW); the ones before it are the path as given. */
	dfd = open_dir_nofollow(AT_FDCWD, d);
	if (dfd < 0)
		return open_failed(dfd, d, NULL, why, why_size);
	r = check_entry(dfd, true, d, NULL, why, why_size);
	if (r < 0)
		return r;
	if (!vm)
		return TAKE_FD(dfd);
	if (!*vm || strchr(vm, '/') || strcmp(vm, ".") == 0 || strcmp(vm, "..") == 0)
		return sc_why(-EINVAL, why, why_size, "%s: \"%.100s\" is not a VM folder's name", d, vm);
	/* mkdirat(2) never follows a symlink at its last component: one planted there is EEXIST, refused below. */
	if (create && mkdirat(dfd, vm, 0700) < 0 && errno != EEXIST)
		return sc_why_errno(why, why_size, "%s/%s: %m", d, vm);
	vfd = open_dir_nofollow(dfd, vm);
	if (vfd < 0)
		return open_failed(vfd, d, vm, why, why_size);
	r = check_entry(vfd, true, d, vm, why, why_size);
	if (r < 0)
		return r;
	return TAKE_FD(vfd);
}

/* The VM folder of @path (VMDIR/FILE) opened and checked, and FILE in *ret_name (pointing into @path). */
static int open_parent(const char *path, const char **ret_name, char *why, size_t why_size)
{
	_cleanup_free_ char *d = NULL;
	const char *slash = strrchr(path, '/');

	if (!slash) {
		*ret_name = path;
		return probe_tpm_state_open(".", NULL, false, why, why_size);
	}
	if (!slash[1])
		return sc_why(-EISDIR, why, why_size, "%s: not a file's path", path);
	*ret_name = slash + 1;
	d = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
	if (!d)
		return -ENOMEM;
	return probe_tpm_state_open(d, NULL, false, why, why_size);
}

/* The VM folder's part of @path, for messages ("." or "/" when it has no other). */
static char *vm_path(const char *path, const char *file)
{
	if (file == path)
		return strdup(".");
	if (file == path + 1)
		return strdup("/");
	return strndup(path, (size_t)(file - path - 1));
}

/* @name in the VM folder @vmfd: not followed, a regular file of ours; its bytes (at most @cap) NUL-terminated. */
static int read_at(int vmfd, const char *vmpath, const char *name, size_t cap, char **ret, size_t *ret_len, char *why,
		   size_t why_size)
{
	_cleanup_close_ int fd = -1;
	int r;

	/* O_NONBLOCK: a FIFO planted under the name opens at once (fifo(7)), and is refused below, not waited on. */
	fd = openat(vmfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return open_failed(-errno, vmpath, name, why, why_size);
	r = check_entry(fd, false, vmpath, name, why, why_size);
	if (r < 0)
		return r;
	r = sc_read_fd_capped(fd, cap, ret, ret_len);
	if (r < 0)
		return sc_why(r, why, why_size, "%s/%s: %s", vmpath, name, r == -EFBIG ? "too large" : strerror(-r));
	return 0;
}

/*
 * A new file in @vmfd holding @data, under a name of our own: ".FINAL.XXXXXX" made with
 * O_CREAT|O_EXCL (which never follows a symlink, open(2)), mode 0600, written whole and
 * fsync'd. The name in @tmp (at least NAME_MAX + 1 bytes); the caller links or renames it and
 * unlinks it on failure.
 */
static int write_temp(int vmfd, const char *vmpath, const char *final, const void *data, size_t len, char *tmp,
		      size_t tmp_size, bool durable, char *why, size_t why_size)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	_cleanup_close_ int fd = -1;
	const uint8_t *p = data;

	for (int attempt = 0; fd < 0; attempt++) {
		uint8_t rnd[8];
		size_t n;

		if (attempt == 16)
			return sc_why(-EEXIST, why, why_size, "%s: no free temporary name for %s", vmpath, final);
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return sc_why_errno(why, why_size, "getrandom: %m");
		if (probe_tpm_state_path("", final, tmp, tmp_size) < 0) /* "/FINAL": its slash becomes the dot */
			return -ENAMETOOLONG;
		tmp[0] = '.';
		n = strlen(tmp);
		if (n + 1 + sizeof(rnd) >= tmp_size)
			return -ENAMETOOLONG;
		tmp[n++] = '.';
		for (size_t i = 0; i < sizeof(rnd); i++)
			tmp[n++] = chars[rnd[i] % (sizeof(chars) - 1)];
		tmp[n] = '\0';
		fd = openat(vmfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			return sc_why_errno(why, why_size, "%s/%s: %m", vmpath, tmp);
	}
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int r = w < 0 ? -errno : -EIO;

			(void)unlinkat(vmfd, tmp, 0);
			return sc_why(r, why, why_size, "%s/%s: %s", vmpath, tmp, strerror(-r));
		}
		p += w;
		len -= (size_t)w;
	}
	if (durable && fsync(fd) < 0) {
		int r = -errno;

		(void)unlinkat(vmfd, tmp, 0);
		return sc_why(r, why, why_size, "%s/%s: %s", vmpath, tmp, strerror(-r));
	}
	return 0;
}

int probe_tpm_state_read_ak_at(int vmfd, const char *vmpath, uint8_t *ret, size_t ret_size, size_t *ret_len, char *why,
			       size_t why_size)
{
	_cleanup_free_ char *name = NULL;
	size_t len;
	int r = read_at(vmfd, vmpath, PROBE_TPM_STATE_AK_NAME, PROBE_TPM_STATE_NAME_MAX, &name, &len, why, why_size);

	if (r == -EFBIG)
		r = -EBADMSG;
	if (r < 0)
		return r;
	if (len < PROBE_TPM_STATE_NAME_MIN || len > ret_size)
		return sc_why(-EBADMSG, why, why_size, "%s/" PROBE_TPM_STATE_AK_NAME ": %zu bytes, not a Name", vmpath, len);
	memcpy(ret, name, len);
	*ret_len = len;
	return 0;
}

int probe_tpm_state_read_ak(const char *path, uint8_t *ret, size_t ret_size, size_t *ret_len)
{
	_cleanup_free_ char *name = NULL, *vmpath = NULL;
	_cleanup_close_ int vmfd = -1;
	const char *file;
	size_t len;
	int r;

	vmfd = open_parent(path, &file, NULL, 0);
	if (vmfd < 0)
		return vmfd;
	vmpath = vm_path(path, file);
	if (!vmpath)
		return -ENOMEM;
	r = read_at(vmfd, vmpath, file, PROBE_TPM_STATE_NAME_MAX, &name, &len, NULL, 0);
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
	_cleanup_free_ char *have = NULL, *vmpath = NULL;
	_cleanup_close_ int vmfd = -1;
	char tmp[NAME_MAX + 1];
	const char *file;
	size_t have_len;
	int r;

	vmfd = open_parent(path, &file, why, why_size);
	if (vmfd < 0)
		return vmfd;
	vmpath = vm_path(path, file);
	if (!vmpath)
		return -ENOMEM;
	/* A name of our own (two pinners never write one file), made whole before it appears as @path. */
	r = write_temp(vmfd, vmpath, file, name, name_len, tmp, sizeof(tmp), true, why, why_size);
	if (r < 0)
		return r;
	/* linkat(2), not renameat(2): a pin once made is never replaced, by us or by a concurrent pinner;
	 * an existing entry under the name, a symlink too, is EEXIST and never followed. */
	r = linkat(vmfd, tmp, vmfd, file, 0) < 0 ? -errno : 0;
	if (r == -EPERM || r == -EOPNOTSUPP || r == -ENOTSUP || r == -EMLINK) {
		/* No hard links here (vfat, some FUSE): the same promise from renameat2(RENAME_NOREPLACE). */
		r = renameat2(vmfd, tmp, vmfd, file, RENAME_NOREPLACE) < 0 ? -errno : 0;
	}
	(void)unlinkat(vmfd, tmp, 0);
	if (r == 0) {
		(void)fsync(vmfd); /* the new entry itself durable (fsync(2): the directory too) */
		return 0;
	}
	if (r != -EEXIST)
		return sc_why(r, why, why_size, "%s: %s", path, strerror(-r));
	/* Pinned meanwhile: the same Name is our pin; another is refused (the VM's AK stays the first). */
	r = read_at(vmfd, vmpath, file, STATE_FILE_MAX, &have, &have_len, why, why_size);
	if (r < 0)
		return r;
	if (have_len == name_len && CRYPTO_memcmp(have, name, name_len) == 0)
		return 0;
	return sc_why(-EEXIST, why, why_size, "%s already pins another AK (pinned meanwhile); it is kept", path);
}

/*
 * flock(2) on the VM folder itself, exclusive, for the read-check-write of the counters: two
 * writers (watch and attest, two attests) never both pass one old value. Never a long wait:
 * watch's one loop waits at most PROBE_TPM_STATE_LOCK_TRIES short naps, then the caller fails.
 */
static int lock_vm(int vmfd, const char *vmpath, char *why, size_t why_size)
{
	for (int i = 0;; i++) {
		struct timespec nap = { 0, PROBE_TPM_STATE_LOCK_NAP_MS * 1000000L };

		if (flock(vmfd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return sc_why_errno(why, why_size, "%s: locking it: %m", vmpath);
		if (i + 1 >= PROBE_TPM_STATE_LOCK_TRIES)
			return sc_why(-EBUSY, why, why_size,
				      "%s: another writer holds its lock (watch or attest on this VM); not waited on", vmpath);
		(void)nanosleep(&nap, NULL);
	}
}

static int counters_forward(unsigned long long clock, unsigned reset, unsigned restart, const struct probe_tpm_attest *q,
			    char *why, size_t why_size);

/*
 * The counters file's update under the VM folder's lock: @q compared with what the file holds (none:
 * the first quote), then written. With @only_if (a flush), the file must hold exactly only_if's last
 * written values, else nothing is written (1 returned: another writer's file, or none). @ret_st (may
 * be NULL) gets the file as written. @durable: fsync the file and the folder.
 */
static int counters_update(const char *state_file, const struct probe_tpm_attest *q,
			   const struct probe_tpm_counters_mem *only_if, bool durable, struct stat *ret_st, char *why,
			   size_t why_size)
{
	_cleanup_free_ char *buf = NULL, *vmpath = NULL;
	_cleanup_close_ int vmfd = -1;
	unsigned long long clock = 0;
	unsigned reset = 0, restart = 0;
	bool first = false;
	char line[80], tmp[NAME_MAX + 1];
	const char *file;
	size_t len;
	int n, r;

	vmfd = open_parent(state_file, &file, why, why_size);
	if (vmfd < 0)
		return vmfd;
	vmpath = vm_path(state_file, file);
	if (!vmpath)
		return -ENOMEM;
	/* Held until vmfd is closed on return: the old values read and the new ones written are one step. */
	r = lock_vm(vmfd, vmpath, why, why_size);
	if (r < 0)
		return r;
	r = read_at(vmfd, vmpath, file, STATE_FILE_MAX, &buf, &len, why, why_size);
	if (r == -ENOENT)
		first = true;
	else if (r < 0)
		return r;
	else if (sscanf(buf, "%llu %u %u", &clock, &reset, &restart) != 3)
		return sc_why(-EBADMSG, why, why_size, "%s: not \"clock reset restart\"", state_file);
	if (only_if && (first || clock != only_if->written_clock || reset != only_if->written_reset ||
			restart != only_if->written_restart))
		return 1;
	if (!first) {
		r = counters_forward(clock, reset, restart, q, why, why_size);
		if (r < 0)
			return r;
	}
	n = snprintf(line, sizeof(line), "%llu %u %u\n", (unsigned long long)q->clock, q->reset_count, q->restart_count);
	if (n < 0 || (size_t)n >= sizeof(line))
		return sc_why(-EINVAL, why, why_size, "the counters do not fit a line");
	/* A name of our own, written whole, then renamed over the last values: a reader sees one or the other.
	 * renameat(2) replaces the entry under the name (a planted symlink itself), never a symlink's target. */
	r = write_temp(vmfd, vmpath, file, line, (size_t)n, tmp, sizeof(tmp), durable, why, why_size);
	if (r < 0)
		return r;
	if (renameat(vmfd, tmp, vmfd, file) < 0) {
		r = -errno;
		(void)unlinkat(vmfd, tmp, 0);
		return sc_why(r, why, why_size, "%s: %s", state_file, strerror(-r));
	}
	if (durable)
		(void)fsync(vmfd); /* the rename itself durable (fsync(2): the directory too) */
	if (ret_st && fstatat(vmfd, file, ret_st, AT_SYMLINK_NOFOLLOW) < 0)
		memset(ret_st, 0, sizeof(*ret_st)); /* unknown: the next round reads the file */
	return first ? 1 : 0;
}

int probe_tpm_state_check_counters(const char *state_file, const struct probe_tpm_attest *q, char *why,
				   size_t why_size)
{
	return counters_update(state_file, q, NULL, true, NULL, why, why_size);
}

/* The rules of probe_tpm_state_check_counters() between two quotes of one TPM. */
static int counters_forward(unsigned long long clock, unsigned reset, unsigned restart, const struct probe_tpm_attest *q,
			    char *why, size_t why_size)
{
	if (q->reset_count < reset)
		return sc_why(-EPERM, why, why_size, "resetCount went back from %u to %u", reset, q->reset_count);
	if (q->reset_count == reset && q->restart_count < restart)
		return sc_why(-EPERM, why, why_size, "restartCount went back from %u to %u", restart, q->restart_count);
	if (q->reset_count == reset && q->restart_count == restart && q->clock <= clock)
		return sc_why(-EPERM, why, why_size, "the TPM clock did not advance (%llu after %llu)",
			      (unsigned long long)q->clock, clock);
	return 0;
}

/* The file is still the one this verifier wrote last (same inode, same mtime): nobody else wrote or removed it. */
static bool file_ours(const char *state_file, const struct probe_tpm_counters_mem *mem)
{
	struct stat st;

	return mem->file_ino && lstat(state_file, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_dev == mem->file_dev &&
	       (uint64_t)st.st_ino == mem->file_ino && (int64_t)st.st_mtim.tv_sec == mem->file_mtime_sec &&
	       (long)st.st_mtim.tv_nsec == mem->file_mtime_nsec;
}

static void remember(struct probe_tpm_counters_mem *mem, const struct probe_tpm_attest *q, const struct stat *st,
		     long long now_ms)
{
	*mem = (struct probe_tpm_counters_mem){ .valid = true, .clock = q->clock, .reset = q->reset_count,
						.restart = q->restart_count, .written_ms = now_ms,
						.written_clock = q->clock, .written_reset = q->reset_count,
						.written_restart = q->restart_count, .file_dev = (uint64_t)st->st_dev,
						.file_ino = (uint64_t)st->st_ino, .file_mtime_sec = (int64_t)st->st_mtim.tv_sec,
						.file_mtime_nsec = (long)st->st_mtim.tv_nsec };
}

int probe_tpm_state_check_counters_mem(const char *state_file, const struct probe_tpm_attest *q,
				       struct probe_tpm_counters_mem *mem, long long now_ms, char *why, size_t why_size)
{
	struct stat st = { 0 };
	int r;

	if (mem->valid) {
		r = counters_forward(mem->clock, mem->reset, mem->restart, q, why, why_size);
		if (r < 0)
			return r;
		/* Compared in memory only while the file is the one written last: a file another writer
		 * (attest --tpm-state) moved on, or the operator removed, is read again. */
		if (q->reset_count == mem->reset && q->restart_count == mem->restart &&
		    now_ms - mem->written_ms < PROBE_TPM_STATE_COUNTERS_WRITE_MS && file_ours(state_file, mem)) {
			mem->clock = q->clock;
			return 0;
		}
	}
	r = counters_update(state_file, q, NULL, true, &st, why, why_size);
	if (r < 0)
		return r;
	remember(mem, q, &st, now_ms);
	return r;
}

void probe_tpm_state_counters_mem_refresh(const char *state_file, struct probe_tpm_counters_mem *mem)
{
	if (mem->valid && !file_ours(state_file, mem))
		*mem = (struct probe_tpm_counters_mem){ 0 };
}

int probe_tpm_state_flush_counters(const char *state_file, struct probe_tpm_counters_mem *mem, char *why,
				   size_t why_size)
{
	struct probe_tpm_attest q = { 0 };
	struct stat st = { 0 };
	int r;

	if (!mem->valid || mem->clock == mem->written_clock || !file_ours(state_file, mem))
		return 0;
	q.clock = mem->clock;
	q.reset_count = mem->reset;
	q.restart_count = mem->restart;
	/* Not fsync'd: a stopping watch may write thousands; the rename is still all or nothing. */
	r = counters_update(state_file, &q, mem, false, &st, why, why_size);
	if (r == 0)
		remember(mem, &q, &st, mem->written_ms);
	return r < 0 ? r : 0;
}
