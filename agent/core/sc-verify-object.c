/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One object of the store checked: opened beneath it as a regular file only, measured, read (sc-verify-internal.h). */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <libmount.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "sc-erofs.h"
#include "sc-fsverity.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-metacopy.h"
#include "sc-verify-internal.h"
#include "sc-verify.h"
#include "sc-why.h"

const char *sc_obj_problem_name(enum sc_obj_problem p)
{
	static const char *const names[] = {
		[SC_OBJ_MISSING] = "missing",	  [SC_OBJ_NO_VERITY] = "without_verity",
		[SC_OBJ_MISMATCH] = "mismatched", [SC_OBJ_UNREADABLE] = "unreadable",
		[SC_OBJ_VANISHED] = "vanished",	  [SC_OBJ_BAD_XATTR] = "bad_xattr",
		[SC_OBJ_ERROR] = "errors",
	};
	return (unsigned)p < ELEMENTSOF(names) ? names[p] : "errors";
}

/* Count a problem and list the first few; takes the lock. */
void sc_verify_problem(struct walk *w, enum sc_obj_problem p, const char *path, const char *object, const char *detail)
{
	pthread_mutex_lock(&w->lock);
	w->r->problems[p]++;
	if (json_array_size(w->r->listed) < (w->o->max_problems ? w->o->max_problems : 20))
		json_array_append_new(w->r->listed, json_pack("{s:o, s:o, s:s, s:o}", "path", sc_json_str(path), "object",
							      sc_json_str(object), "problem", sc_obj_problem_name(p),
							      "detail", sc_json_str(detail)));
	pthread_mutex_unlock(&w->lock);
}

/* openat2() beneath the store, no links on the way; openat() where the kernel has no openat2 (< 5.6). */
static int open_beneath(int dirfd, const char *rel, int flags)
{
	/* openat2() refuses flags that mean nothing with O_PATH (O_NOCTTY among them). */
	int all = flags | O_CLOEXEC | O_NOFOLLOW | (flags & O_PATH ? 0 : O_NOCTTY);
	struct open_how how = {
		.flags = (uint64_t)all,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS)
		fd = openat(dirfd, rel, all);
	return fd < 0 ? -errno : (int)fd;
}

/*
 * Open object @rel for reading only once it is known to be a regular file:
 * an O_PATH descriptor first (no open of the file itself: a FIFO or device
 * node in the store is never opened, so none of its side effects happen),
 * its type from fstat, then the same name opened for reading and required to
 * be the same inode (no /proc needed). Returns the fd, or -ENOENT, -ELOOP,
 * -EXDEV or -ENOTDIR (a link on the way), -ENOEXEC (not a regular file),
 * -ESTALE (the name changed between the two opens), another negative errno.
 */
static int open_object(int dirfd, const char *rel)
{
	_cleanup_close_ int pfd = -1, fd = -1;
	struct stat ps, st;

	pfd = open_beneath(dirfd, rel, O_PATH);
	if (pfd < 0)
		return pfd;
	if (fstat(pfd, &ps) < 0)
		return -errno;
	if (!S_ISREG(ps.st_mode))
		return -ENOEXEC;
	fd = open_beneath(dirfd, rel, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return fd == -ENOENT ? -ESTALE : fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_dev != ps.st_dev || st.st_ino != ps.st_ino || !S_ISREG(st.st_mode))
		return -ESTALE;
	return TAKE_FD(fd);
}

void sc_verify_check_object(struct walk *w, struct job *j, uint8_t *buf)
{
	_cleanup_close_ int fd = -1;
	struct sc_digest got;
	char detail[160];
	int r;

	fd = open_object(w->objects_fd, j->object);
	if (fd == -ENOENT)
		return sc_verify_problem(w, SC_OBJ_MISSING, j->path, j->object, "no such object");
	if (fd == -ELOOP || fd == -EXDEV || fd == -ENOTDIR)
		return sc_verify_problem(w, SC_OBJ_VANISHED, j->path, j->object, "not a regular file (a link on the way)");
	if (fd == -ENOEXEC)
		return sc_verify_problem(w, SC_OBJ_VANISHED, j->path, j->object, "not a regular file (never opened)");
	if (fd == -ESTALE)
		return sc_verify_problem(w, SC_OBJ_VANISHED, j->path, j->object, "not a regular file (replaced while checked)");
	if (fd < 0)
		return sc_verify_problem(w, SC_OBJ_ERROR, j->path, j->object, strerror(-fd));
	/* A regular file: FS_IOC_MEASURE_VERITY succeeds only with fs-verity, and the digest covers the size. */
	r = sc_fsverity_measure_fd(fd, &got);
	if (r == -ENODATA)
		return sc_verify_problem(w, SC_OBJ_NO_VERITY, j->path, j->object, "no fs-verity on this object");
	if (r < 0)
		return sc_verify_problem(w, SC_OBJ_ERROR, j->path, j->object, sc_fsverity_strerror(r) ?: strerror(-r));
	if (!sc_digest_equal(&got, &j->want)) {
		char h[SC_DIGEST_HEX_MAX + 8];

		snprintf(detail, sizeof(detail), "fs-verity content mismatch: object measures %.80s",
			 sc_digest_to_string(&got, h));
		return sc_verify_problem(w, SC_OBJ_MISMATCH, j->path, j->object, detail);
	}
	if (w->o->deep) {
		uint64_t total = 0;

		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		for (;;) {
			ssize_t n = read(fd, buf, READ_CHUNK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return sc_verify_problem(w, errno == EIO ? SC_OBJ_UNREADABLE : SC_OBJ_ERROR, j->path, j->object,
					       errno == EIO ? "verity violation: EIO while reading" : strerror(errno));
			if (n == 0)
				break;
			total += (uint64_t)n;
		}
		pthread_mutex_lock(&w->lock);
		w->r->bytes_read += total;
		pthread_mutex_unlock(&w->lock);
	}
}
