/* SPDX-License-Identifier: LGPL-2.1-or-later */
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
#include "sc-verify.h"
#include "sc-why.h"

#define QUEUE_LEN 1024
/*
 * Enough opens in flight to overlap cold I/O: each waits for an inode and a
 * verity descriptor. Measured cold in the benchmark guest (10,000 objects):
 * 16 threads 7.3 s, 64 threads 4.3 s, one thread (the floor) 6.9 s.
 */
#define DEFAULT_THREADS 64
#define WORKER_STACK (256u * 1024u) /* check_object() and problem() need a few KiB */
/*
 * A warm check costs a few system calls; handing it to a thread costs more
 * (a wake-up and a context switch each). So objects are checked inline while
 * checks are fast, and the pool starts once they show they wait for the disk:
 * SLOW_AFTER of the last 64 inline checks took longer than SLOW_US.
 */
#define SLOW_US 500
#define SLOW_AFTER 8
#define READ_CHUNK (128u * 1024u) /* per worker: 64 of them stay within 8 MiB */

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

struct job {
	char *path; /* in the image, for the report */
	char object[SC_REDIRECT_MAX];
	struct sc_digest want;
	uint64_t size;
};

struct walk {
	const struct sc_verify_options *o;
	bool pooled;          /* jobs go to the workers */
	unsigned window, slow; /* inline checks seen in this window of 64, and how many were slow */
	uint8_t *inline_buf;
	struct sc_verify_result *r;
	int objects_fd;
	long long deadline_ms;
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	struct job *queue[QUEUE_LEN];
	size_t head, count;
	bool done, stop;
	pthread_t threads[64];
	unsigned n_threads, started;
};

static void *worker(void *arg);

/* Start the workers; with none started, the walk goes on inline. */
static void start_pool(struct walk *w)
{
	pthread_attr_t attr;
	bool have_attr = pthread_attr_init(&attr) == 0;
	bool sized = have_attr && pthread_attr_setstacksize(&attr, WORKER_STACK) == 0;

	for (; w->started < w->n_threads; w->started++)
		if (pthread_create(&w->threads[w->started], sized ? &attr : NULL, worker, w) != 0)
			break;
	if (have_attr)
		pthread_attr_destroy(&attr);
	w->pooled = w->started > 0;
}

/* Count a problem and list the first few; takes the lock. */
static void problem(struct walk *w, enum sc_obj_problem p, const char *path, const char *object, const char *detail)
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

static void check_object(struct walk *w, struct job *j, uint8_t *buf)
{
	_cleanup_close_ int fd = -1;
	struct sc_digest got;
	char detail[160];
	int r;

	fd = open_object(w->objects_fd, j->object);
	if (fd == -ENOENT)
		return problem(w, SC_OBJ_MISSING, j->path, j->object, "no such object");
	if (fd == -ELOOP || fd == -EXDEV || fd == -ENOTDIR)
		return problem(w, SC_OBJ_VANISHED, j->path, j->object, "not a regular file (a link on the way)");
	if (fd == -ENOEXEC)
		return problem(w, SC_OBJ_VANISHED, j->path, j->object, "not a regular file (never opened)");
	if (fd == -ESTALE)
		return problem(w, SC_OBJ_VANISHED, j->path, j->object, "not a regular file (replaced while checked)");
	if (fd < 0)
		return problem(w, SC_OBJ_ERROR, j->path, j->object, strerror(-fd));
	/* A regular file: FS_IOC_MEASURE_VERITY succeeds only with fs-verity, and the digest covers the size. */
	r = sc_fsverity_measure_fd(fd, &got);
	if (r == -ENODATA)
		return problem(w, SC_OBJ_NO_VERITY, j->path, j->object, "no fs-verity on this object");
	if (r < 0)
		return problem(w, SC_OBJ_ERROR, j->path, j->object, sc_fsverity_strerror(r) ?: strerror(-r));
	if (!sc_digest_equal(&got, &j->want)) {
		char h[SC_DIGEST_HEX_MAX + 8];

		snprintf(detail, sizeof(detail), "fs-verity content mismatch: object measures %.80s",
			 sc_digest_to_string(&got, h));
		return problem(w, SC_OBJ_MISMATCH, j->path, j->object, detail);
	}
	if (w->o->deep) {
		uint64_t total = 0;

		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		for (;;) {
			ssize_t n = read(fd, buf, READ_CHUNK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return problem(w, errno == EIO ? SC_OBJ_UNREADABLE : SC_OBJ_ERROR, j->path, j->object,
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

static void *worker(void *arg)
{
	struct walk *w = arg;
	uint8_t *buf = w->o->deep ? malloc(READ_CHUNK) : NULL;

	for (;;) {
		struct job *j;
		bool stop;

		pthread_mutex_lock(&w->lock);
		while (w->count == 0 && !w->done)
			pthread_cond_wait(&w->not_empty, &w->lock);
		if (w->count == 0) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		j = w->queue[w->head];
		w->head = (w->head + 1) % QUEUE_LEN;
		w->count--;
		stop = w->stop; /* read under the lock: the walker sets it */
		pthread_cond_signal(&w->not_full);
		pthread_mutex_unlock(&w->lock);
		if (w->o->deep && !buf)
			problem(w, SC_OBJ_ERROR, j->path, j->object, "out of memory");
		else if (!stop)
			check_object(w, j, buf);
		free(j->path);
		free(j);
	}
	free(buf);
	return NULL;
}

static void enqueue(struct walk *w, struct job *j)
{
	pthread_mutex_lock(&w->lock);
	while (w->count == QUEUE_LEN)
		pthread_cond_wait(&w->not_full, &w->lock); /* back-pressure: the walk waits for the workers */
	w->queue[(w->head + w->count) % QUEUE_LEN] = j;
	w->count++;
	pthread_cond_signal(&w->not_empty);
	pthread_mutex_unlock(&w->lock);
}

static const char *erofs_strerror(int r)
{
	return r == -EUCLEAN	 ? "corrupt EROFS metadata"
	       : r == -EOPNOTSUPP ? "an EROFS layout this reader does not support (try --walk mount)"
				  : strerror(-r);
}

/*
 * One regular file of the image: what its metacopy and redirect xattrs said
 * (a length, or a negative errno; the redirect is not asked for without a
 * metacopy). Inline, a problem, or a check of the object it names.
 */
static void visit_file(struct walk *w, const char *rel, uint64_t size, const uint8_t *mc, ssize_t n, const char *rd,
		       ssize_t m)
{
	struct job local, *j = &local; /* on the heap only when it goes to a worker */
	int r;

	if (n == -ENODATA) {
		w->r->inline_files++; /* covered by the image's own digest */
		return;
	}
	if (n == -EIO || m == -EIO)
		return problem(w, SC_OBJ_UNREADABLE, rel, NULL, "verity violation: EIO reading the image's xattrs");
	if (n < 0)
		return problem(w, n == -ERANGE ? SC_OBJ_BAD_XATTR : SC_OBJ_ERROR, rel, NULL,
			       n == -ERANGE ? "metacopy larger than any digest" : erofs_strerror((int)n));
	r = sc_metacopy_parse(mc, (size_t)n, &j->want);
	if (r == -ENODATA)
		return problem(w, SC_OBJ_BAD_XATTR, rel, NULL, "empty metacopy: no digest (fails under verity=require)");
	if (r < 0)
		return problem(w, SC_OBJ_BAD_XATTR, rel, NULL, "malformed metacopy");
	if (m < 0)
		return problem(w, m == -ERANGE || m == -ENODATA ? SC_OBJ_BAD_XATTR : SC_OBJ_ERROR, rel, NULL,
			       m == -ENODATA ? "metacopy without a redirect"
			       : m == -ERANGE ? "redirect longer than any object path"
					      : erofs_strerror((int)m));
	if (sc_redirect_parse(rd, (size_t)m, j->object, sizeof(j->object)) < 0)
		return problem(w, SC_OBJ_BAD_XATTR, rel, NULL, "malformed redirect");
	j->size = size;
	w->r->objects++;
	w->r->bytes += j->size;
	if (!w->pooled) {
		long long t0 = sc_now_us();

		j->path = (char *)rel;
		check_object(w, j, w->inline_buf);
		if (sc_now_us() - t0 > SLOW_US)
			w->slow++;
		if (++w->window == 64)
			w->window = 0, w->slow = 0;
		if (w->slow >= SLOW_AFTER)
			start_pool(w); /* the disk is the bottleneck now: overlap it */
		return;
	}
	j = malloc(sizeof(*j));
	if (j) {
		*j = local;
		j->path = strdup(rel);
	}
	if (!j || !j->path) {
		free(j);
		return problem(w, SC_OBJ_ERROR, rel, local.object, "out of memory");
	}
	enqueue(w, j);
}

/*
 * Regular file @name in directory @dfd of a mounted image (its type known from
 * fstatat: only a regular file is opened, without blocking, and must still be
 * the inode that was stat'ed): its xattrs from the kernel.
 */
static void visit_mounted_file(struct walk *w, int dfd, const char *name, const struct stat *st, const char *rel)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	uint8_t mc[SC_METACOPY_MAX + 1];
	char rd[SC_REDIRECT_MAX + 1];
	ssize_t n, m = -ENODATA;
	struct stat fst;

	if (fd < 0)
		return problem(w, SC_OBJ_ERROR, rel, NULL, strerror(errno));
	if (fstat(fd, &fst) < 0 || fst.st_dev != st->st_dev || fst.st_ino != st->st_ino || !S_ISREG(fst.st_mode))
		return problem(w, SC_OBJ_ERROR, rel, NULL, "the image's file changed while walked");
	n = fgetxattr(fd, SC_XATTR_METACOPY, mc, sizeof(mc));
	if (n < 0)
		n = -errno;
	if (n != -ENODATA) {
		m = fgetxattr(fd, SC_XATTR_REDIRECT, rd, sizeof(rd) - 1);
		if (m < 0)
			m = -errno;
	}
	visit_file(w, rel, (uint64_t)st->st_size, mc, n, rd, m);
}

/* The new mount API (Linux 5.2+), by number: glibc < 2.36 has no wrappers (RHEL 9). */
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#endif
#ifndef FSCONFIG_SET_STRING
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#endif
#ifndef FSMOUNT_CLOEXEC
#define FSMOUNT_CLOEXEC 0x00000001
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#endif

/*
 * A detached read-only EROFS mount of the image file: a file descriptor, in
 * no mount namespace, gone when closed (as bootc's initramfs mounts images).
 * Needs file-backed EROFS (Linux 6.12+). Returns the fd or a negative errno.
 */
static int mount_detached(const char *image)
{
	_cleanup_close_ int fs = -1;
	long m;

	fs = (int)syscall(SYS_fsopen, "erofs", FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", image, 0) < 0 ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	m = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC,
		    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	return m < 0 ? -errno : (int)m;
}

/* Mount @image read-only at @target in the calling thread's mount namespace. */
static int mount_image(const char *image, const char *target, char *why, size_t why_size)
{
	struct libmnt_context *cxt;
	int r;

	/*
	 * Linux 6.12+ mounts EROFS straight from a file (EROFS_FS_BACKED_BY_FILE):
	 * no loop device to set up, which costs more than the walk of a small
	 * image. Older kernels want a block device (ENOTBLK): libmount's loop setup.
	 */
	if (mount(image, target, "erofs", MS_RDONLY | MS_NODEV | MS_NOSUID | MS_NOEXEC, NULL) == 0)
		return 0;
	if (errno != ENOTBLK && errno != EINVAL)
		return sc_why_errno(why, why_size, "mounting %s read-only: %m", image);
	cxt = mnt_new_context();
	if (!cxt)
		return -ENOMEM;
	mnt_context_set_fstype(cxt, "erofs");
	mnt_context_set_source(cxt, image);
	mnt_context_set_target(cxt, target);
	mnt_context_set_options(cxt, "ro,loop,nodev,nosuid,noexec");
	r = mnt_context_mount(cxt);
	if (r != 0 || mnt_context_get_status(cxt) != 1) {
		char buf[160] = "";

		mnt_context_get_excode(cxt, r, buf, sizeof(buf));
		snprintf(why, why_size, "mounting %s read-only: %s", image, buf[0] ? buf : "failed");
		mnt_free_context(cxt);
		return -EIO;
	}
	mnt_free_context(cxt);
	return 0;
}

struct private_mount {
	const char *image, *target;
	char *why;
	size_t why_size;
	int fd; /* out: the mounted root, or a negative errno */
};

/*
 * A thread of its own unshares the mount namespace (which unshares only its
 * own filesystem context: the process's namespace and working directory stay
 * the caller's), mounts the image there, opens its root and detaches the
 * mount: the descriptor keeps it alive, nothing else sees it, and it is gone
 * when the descriptor is closed.
 */
static void *private_mount_thread(void *arg)
{
	struct private_mount *pm = arg;
	int r;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		pm->fd = -errno;
		snprintf(pm->why, pm->why_size, "a private mount namespace: %s (run as root)", strerror(errno));
		return NULL;
	}
	r = mount_image(pm->image, pm->target, pm->why, pm->why_size);
	if (r < 0) {
		pm->fd = r;
		return NULL;
	}
	pm->fd = open(pm->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pm->fd < 0) {
		pm->fd = -errno;
		snprintf(pm->why, pm->why_size, "opening the mounted image: %s", strerror(errno));
	}
	(void)umount2(pm->target, MNT_DETACH);
	return NULL;
}

/* Returns a directory fd on the root of a private read-only mount of @image, or a negative errno (@why says). */
static int mount_private(const char *image, char *why, size_t why_size)
{
	char mnt[] = "/tmp/sealcheck-verify.XXXXXX";
	struct private_mount pm = { .image = image, .target = mnt, .why = why, .why_size = why_size, .fd = -EIO };
	pthread_t t;
	int r;

	if (!mkdtemp(mnt))
		return sc_why_errno(why, why_size, "mkdtemp: %m");
	r = pthread_create(&t, NULL, private_mount_thread, &pm);
	if (r == 0)
		pthread_join(t, NULL);
	else
		pm.fd = -r;
	rmdir(mnt);
	return pm.fd;
}

#define MAX_DEPTH 256

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static const char STOP_SECONDS[] = "--max-seconds reached";

static bool stopping(struct walk *w, struct sc_verify_result *res)
{
	if (w->deadline_ms && sc_now_ms() > w->deadline_ms) {
		res->stopped_early = true, res->stop_reason = STOP_SECONDS;
		return true;
	}
	return res->stopped_early;
}

/* Append "/@name" to the walk's path at @plen; false (a problem listed) when it would not fit. */
static bool path_push(struct walk *w, char *path, size_t plen, size_t psize, const char *name, size_t nl)
{
	if (plen + 1 + nl + 1 > psize) {
		problem(w, SC_OBJ_ERROR, path, NULL, "path too long");
		return false;
	}
	path[plen] = '/';
	memcpy(path + plen + 1, name, nl + 1);
	return true;
}

/* Count a regular file; false once --max-files is reached, and the walk stops. */
static bool take_file(struct walk *w, struct sc_verify_result *res)
{
	if (w->o->max_files && res->files >= w->o->max_files) {
		res->stopped_early = true, res->stop_reason = "--max-files reached";
		return false;
	}
	res->files++;
	return true;
}

/*
 * Depth-first over the image with getdents64, every lookup relative to the
 * directory's descriptor (the process's working directory is never touched):
 * no allocation per entry. Memory: one 32 KiB buffer and a path per level,
 * MAX_DEPTH levels at most. Returns 0, or -ENOMEM.
 */
static int walk_dir(struct walk *w, int dfd, char *path, size_t plen, size_t psize, unsigned depth,
		    struct sc_verify_result *res)
{
	_cleanup_free_ char *buf = malloc(32768);
	long n;

	if (!buf)
		return -ENOMEM;
	res->dirs++;
	while ((n = syscall(SYS_getdents64, dfd, buf, 32768)) > 0) {
		for (long off = 0; off < n;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
			const char *name = d->d_name;
			size_t nl = strlen(name);
			unsigned char type = d->d_type;
			struct stat st;

			off += d->d_reclen;
			if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
				continue;
			if (stopping(w, res))
				return 0;
			if (!path_push(w, path, plen, psize, name, nl))
				continue;
			if (type == DT_UNKNOWN || type == DT_REG) {
				if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
					problem(w, SC_OBJ_ERROR, path, NULL, strerror(errno));
					continue;
				}
				type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_LNK;
			}
			if (type == DT_REG) {
				if (!take_file(w, res)) {
					path[plen] = '\0';
					return 0;
				}
				visit_mounted_file(w, dfd, name, &st, path);
			} else if (type == DT_DIR) {
				_cleanup_close_ int sub = -1;
				int r;

				if (depth >= MAX_DEPTH) {
					problem(w, SC_OBJ_ERROR, path, NULL, "directories nested too deep");
					continue;
				}
				sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (sub < 0) {
					problem(w, SC_OBJ_ERROR, path, NULL, strerror(errno));
					continue;
				}
				r = walk_dir(w, sub, path, plen + 1 + nl, psize, depth + 1, res);
				if (r < 0)
					return r;
			} else
				res->other++; /* symlinks, devices, FIFOs are metadata: covered by the image digest */
		}
	}
	path[plen] = '\0';
	if (n < 0)
		problem(w, SC_OBJ_ERROR, plen ? path : "/", NULL, strerror(errno));
	return 0;
}

/* The mounted image from its root directory @rootfd (any descriptor of it, O_PATH too). */
static int walk_tree(struct walk *w, int rootfd, struct sc_verify_result *res)
{
	_cleanup_close_ int dfd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char path[PATH_MAX] = "";

	if (dfd < 0) {
		problem(w, SC_OBJ_ERROR, "/", NULL, strerror(errno));
		return 0;
	}
	if (w->pooled) /* --deep: the pool from the start */
		start_pool(w);
	return walk_dir(w, dfd, path, 0, sizeof(path), 0, res);
}

/*
 * The directories a parsed walk has entered, by nid: an EROFS directory
 * reachable twice (a loop, or a directory hard link) is corrupt metadata and
 * is walked once. Open addressing, nid + 1 stored (0: empty), at most half full.
 */
#define NIDSET_MAX (1u << 22) /* slots: 32 MiB; a real image has tens of thousands of directories */

struct nidset {
	uint64_t *slot;
	size_t cap, n;
};

static int nidset_add(struct nidset *s, uint64_t nid)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint64_t *slot;

		if (cap > NIDSET_MAX)
			return -E2BIG;
		slot = calloc(cap, sizeof(*slot));
		if (!slot)
			return -ENOMEM;
		for (size_t k = 0; k < s->cap; k++)
			if (s->slot[k]) {
				for (i = (size_t)(s->slot[k] * 0x9E3779B97F4A7C15ull) & (cap - 1); slot[i]; i = (i + 1) & (cap - 1))
					;
				slot[i] = s->slot[k];
			}
		free(s->slot);
		s->slot = slot, s->cap = cap;
	}
	for (i = (size_t)((nid + 1) * 0x9E3779B97F4A7C15ull) & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1))
		if (s->slot[i] == nid + 1)
			return 0;
	s->slot[i] = nid + 1;
	s->n++;
	return 1;
}

/*
 * The image could not be read at @path: EIO from a verity-protected image is
 * the kernel refusing damaged metadata (the seal is broken: unreadable);
 * anything else leaves the answer open.
 */
static void image_problem(struct walk *w, const char *path, int r)
{
	if (r == -EIO)
		problem(w, SC_OBJ_UNREADABLE, path, NULL, "verity violation: EIO reading the image's own metadata");
	else
		problem(w, SC_OBJ_ERROR, path, NULL, erofs_strerror(r));
}

struct parsed_walk {
	struct sc_erofs *e;
	struct nidset dirs;
	uint32_t block_size;
};

/*
 * Depth-first over the parsed image: the same accounting as walk_dir(), with
 * names, modes, sizes and xattrs read from the image bytes (sc-erofs.h), so
 * no system call per file but the object's open, measure and close.
 * Memory: one directory block per level, MAX_DEPTH levels at most.
 */
static int walk_parsed_dir(struct walk *w, struct parsed_walk *pw, const struct sc_erofs_inode *dir, char *path,
			   size_t plen, size_t psize, unsigned depth, struct sc_verify_result *res)
{
	_cleanup_free_ uint8_t *blk = malloc(pw->block_size);
	uint64_t nblocks = sc_erofs_dir_blocks(pw->e, dir);
	int r;

	if (!blk)
		return -ENOMEM;
	res->dirs++;
	for (uint64_t b = 0; b < nblocks; b++) {
		size_t len;

		r = sc_erofs_dir_block(pw->e, dir, b, blk, &len);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			image_problem(w, plen ? path : "/", r);
			break;
		}
		for (unsigned i = 0;; i++) {
			uint8_t mc[SC_METACOPY_MAX + 1];
			char rd[SC_REDIRECT_MAX + 1];
			struct sc_erofs_dirent de;
			struct sc_erofs_inode ino;
			ssize_t n, m = -ENODATA;

			r = sc_erofs_dirent(blk, len, i, &de);
			if (r == 0)
				break;
			if (r < 0) {
				problem(w, SC_OBJ_ERROR, plen ? path : "/", NULL, "corrupt EROFS directory entry");
				break;
			}
			if (strcmp(de.name, ".") == 0 || strcmp(de.name, "..") == 0)
				continue;
			if (stopping(w, res))
				return 0;
			if (!path_push(w, path, plen, psize, de.name, de.name_len))
				continue;
			r = sc_erofs_inode(pw->e, de.nid, &ino);
			if (r < 0) {
				image_problem(w, path, r);
				continue;
			}
			if (S_ISREG(ino.mode)) {
				if (!take_file(w, res)) {
					path[plen] = '\0';
					return 0;
				}
				n = sc_erofs_getxattr(pw->e, &ino, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.metacopy", mc,
						      sizeof(mc));
				if (n != -ENODATA)
					m = sc_erofs_getxattr(pw->e, &ino, SC_EROFS_XATTR_INDEX_TRUSTED, "overlay.redirect",
							      rd, sizeof(rd) - 1);
				visit_file(w, path, ino.size, mc, n, rd, m);
			} else if (S_ISDIR(ino.mode)) {
				if (depth >= MAX_DEPTH) {
					problem(w, SC_OBJ_ERROR, path, NULL, "directories nested too deep");
					continue;
				}
				r = nidset_add(&pw->dirs, de.nid);
				if (r == -ENOMEM)
					return r;
				if (r <= 0) {
					problem(w, SC_OBJ_ERROR, path, NULL,
						r == 0 ? "corrupt EROFS metadata: a directory reachable twice (a loop)"
						       : "more directories than this walk keeps track of");
					continue;
				}
				r = walk_parsed_dir(w, pw, &ino, path, plen + 1 + de.name_len, psize, depth + 1, res);
				if (r < 0)
					return r;
			} else
				res->other++;
		}
	}
	path[plen] = '\0';
	return 0;
}

static int walk_parsed(struct walk *w, struct sc_erofs *e, struct sc_verify_result *res)
{
	struct parsed_walk pw = { .e = e, .block_size = sc_erofs_block_size(e) };
	struct sc_erofs_inode root;
	char path[PATH_MAX] = "";
	int r;

	r = sc_erofs_inode(e, sc_erofs_root_nid(e), &root);
	if (r >= 0)
		r = nidset_add(&pw.dirs, root.nid);
	if (r < 0) {
		image_problem(w, "/", r);
		free(pw.dirs.slot);
		return r == -ENOMEM ? r : 0;
	}
	if (w->pooled)
		start_pool(w);
	r = walk_parsed_dir(w, &pw, &root, path, 0, sizeof(path), 0, res);
	free(pw.dirs.slot);
	return r;
}

/*
 * The walk is over: tell the workers (with @stop, to drop what is still
 * queued instead of checking it) and join every one started. Safe to call
 * again; every path out of sc_verify() passes here, since the workers point
 * at its stack.
 */
static void finish_pool(struct walk *w, bool stop)
{
	pthread_mutex_lock(&w->lock);
	w->done = true;
	w->stop = w->stop || stop;
	pthread_cond_broadcast(&w->not_empty);
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < w->started; i++)
		pthread_join(w->threads[i], NULL);
	w->started = 0;
}

int sc_verify(const struct sc_verify_options *o, struct sc_verify_result *ret, char *why, size_t why_size)
{
	struct sc_verify_result res = { .listed = json_array() };
	struct walk w = {
		.o = o,
		.r = &res,
		.objects_fd = -1,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.not_empty = PTHREAD_COND_INITIALIZER,
		.not_full = PTHREAD_COND_INITIALIZER,
	};
	_cleanup_erofs_ struct sc_erofs *erofs = NULL;
	_cleanup_close_ int image_fd = -1, root_fd = -1;
	bool image_eio = false;
	unsigned n_threads = o->threads ? (o->threads > 64 ? 64 : o->threads) : DEFAULT_THREADS;
	long long t0 = sc_now_ms();
	int r = 0;

	if (!res.listed)
		return -ENOMEM;
	w.objects_fd = open(o->objects, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w.objects_fd < 0) {
		r = -errno;
		snprintf(why, why_size, "object store %s: %s", o->objects, strerror(errno));
		goto out;
	}
	if (o->mountpoint) {
		root_fd = open(o->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (root_fd < 0) {
			r = -errno;
			snprintf(why, why_size, "mounted image %s: %s", o->mountpoint, strerror(errno));
			goto out;
		}
	} else {
		image_fd = open(o->image, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (image_fd < 0) {
			r = -errno;
			snprintf(why, why_size, "image %s: %s", o->image, strerror(errno));
			goto out;
		}
	}
	/*
	 * The metadata walked is the sealed one only if the image measures to the
	 * digest the kernel command line names: fs-verity then proves every page
	 * read from it. Measured on the descriptor that is parsed.
	 */
	if (image_fd >= 0 && o->image_digest) {
		int m = sc_fsverity_measure_fd(image_fd, &res.image_measured);

		res.image_check = m < 0 ? SC_IMAGE_UNPROVEN
				  : sc_digest_equal(&res.image_measured, o->image_digest) ? SC_IMAGE_MATCH
											   : SC_IMAGE_MISMATCH;
		res.image_errno = m < 0 ? -m : 0; /* kept: it decides the status (sc_verify_status) */
	}
	/* The image's own bytes, parsed: no mount, no root needed for the walk (sc-erofs.h). */
	if (image_fd >= 0 && o->walk != SC_VERIFY_WALK_MOUNT) {
		r = sc_erofs_open_fd(image_fd, &erofs);
		if (r == -EOPNOTSUPP && o->walk == SC_VERIFY_WALK_AUTO)
			r = 0; /* a layout the reader does not know: the kernel's mount below */
		else if (r == -EIO) {
			image_eio = true; /* the kernel refused the image's own bytes: a finding, not a failure to start */
			r = 0;
		} else if (r < 0) {
			snprintf(why, why_size, "image %s: %s", o->image,
				 r == -EUCLEAN ? "not an EROFS image, or its superblock or root is corrupt" : erofs_strerror(r));
			goto out;
		}
	}
	if (image_fd >= 0 && !erofs && !image_eio) {
		root_fd = mount_detached(o->image);
		if (root_fd < 0)
			root_fd = mount_private(o->image, why, why_size);
		if (root_fd < 0) {
			r = root_fd;
			goto out;
		}
	}
	w.deadline_ms = o->max_seconds ? t0 + (long long)o->max_seconds * 1000 : 0;
	w.inline_buf = o->deep ? malloc(READ_CHUNK) : NULL;
	if (o->deep && !w.inline_buf) {
		r = -ENOMEM;
		goto out;
	}
	/* Reading every byte is I/O from the start: --deep uses the pool at once. */
	w.pooled = o->deep || o->threads > 1;
	w.n_threads = n_threads;

	res.walker = erofs || image_eio ? "parsed" : "mounted";
	if (image_eio)
		image_problem(&w, "/", -EIO);
	else
		r = erofs ? walk_parsed(&w, erofs, &res) : walk_tree(&w, root_fd, &res);
	/* Past --max-seconds what is queued is dropped: the walk is incomplete anyway. */
	finish_pool(&w, r < 0 || res.stop_reason == STOP_SECONDS);
	if (r == -ENOMEM)
		goto out;
	if (r < 0)
		res.walk_errno = -r; /* the walk was cut short: never a pass (sc_verify_status) */
	r = 0;
out:
	finish_pool(&w, true);
	free(w.inline_buf);
	if (w.objects_fd >= 0)
		close(w.objects_fd);
	res.seconds = (double)(sc_now_ms() - t0) / 1000.0;
	if (r < 0) {
		json_decref(res.listed);
		return r;
	}
	*ret = res;
	return 0;
}

void sc_verify_result_done(struct sc_verify_result *r)
{
	if (r->listed)
		json_decref(r->listed);
	r->listed = NULL;
}

static uint64_t failures(const struct sc_verify_result *r)
{
	return r->problems[SC_OBJ_MISSING] + r->problems[SC_OBJ_NO_VERITY] + r->problems[SC_OBJ_MISMATCH] +
	       r->problems[SC_OBJ_UNREADABLE] + r->problems[SC_OBJ_VANISHED] + r->problems[SC_OBJ_BAD_XATTR];
}

/* docs/threat-model.md T9: no fs-verity on the image fails; fs-verity not available here is an error. */
static bool image_bad(const struct sc_verify_result *r)
{
	return r->image_check == SC_IMAGE_MISMATCH || (r->image_check == SC_IMAGE_UNPROVEN && r->image_errno == ENODATA);
}

enum sc_verify_status sc_verify_status(const struct sc_verify_result *r)
{
	if (failures(r) || image_bad(r))
		return SC_VERIFY_FAIL; /* a broken seal found stays found, however the walk ended */
	if (r->image_check == SC_IMAGE_UNPROVEN || r->problems[SC_OBJ_ERROR] || r->walk_errno)
		return SC_VERIFY_ERROR;
	if (r->stopped_early)
		return SC_VERIFY_INCOMPLETE; /* not every object was checked: never a pass */
	return SC_VERIFY_PASS;
}

const char *sc_verify_status_name(enum sc_verify_status s)
{
	return s == SC_VERIFY_PASS ? "pass" : s == SC_VERIFY_FAIL ? "fail" : "error";
}

void sc_verify_reason(const struct sc_verify_options *o, const struct sc_verify_result *r, char *buf, size_t size)
{
	char measured[SC_DIGEST_HEX_MAX + 8];

	if (r->image_check == SC_IMAGE_MISMATCH)
		snprintf(buf, size, "the image measures %.140s, not the digest the cmdline names",
			 sc_digest_to_string(&r->image_measured, measured));
	else if (r->image_check == SC_IMAGE_UNPROVEN)
		snprintf(buf, size, "the image's fs-verity digest could not be measured (%s): its metadata is not proven",
			 sc_fsverity_strerror(-r->image_errno) ?: strerror(r->image_errno));
	else if (failures(r))
		snprintf(buf, size, "%llu of %llu objects fail the seal%s", (unsigned long long)failures(r),
			 (unsigned long long)r->objects, r->stopped_early || r->walk_errno ? " (the walk did not finish)" : "");
	else if (r->walk_errno)
		snprintf(buf, size, "incomplete: the walk was cut short by an error (%s) after %llu files",
			 strerror(r->walk_errno), (unsigned long long)r->files);
	else if (r->problems[SC_OBJ_ERROR])
		snprintf(buf, size, "%llu objects could not be checked", (unsigned long long)r->problems[SC_OBJ_ERROR]);
	else if (r->stopped_early)
		snprintf(buf, size, "incomplete: stopped early (%s) after %llu files; not every object was checked",
			 r->stop_reason ? r->stop_reason : "?", (unsigned long long)r->files);
	else
		snprintf(buf, size, "all %llu objects verified%s; %llu inline files covered by the image",
			 (unsigned long long)r->objects, o->deep ? " and read" : "", (unsigned long long)r->inline_files);
}

json_t *sc_verify_to_json(const struct sc_verify_options *o, const struct sc_verify_result *r)
{
	char measured[SC_DIGEST_HEX_MAX + 8];
	json_t *j = json_object(), *counts = json_object();
	char reason[256];

	if (!j || !counts) {
		json_decref(j);
		json_decref(counts);
		return NULL;
	}
	sc_verify_reason(o, r, reason, sizeof(reason));
	for (int i = 0; i < _SC_OBJ_PROBLEM_MAX; i++)
		json_object_set_new(counts, sc_obj_problem_name(i), json_integer((json_int_t)r->problems[i]));
	json_object_set_new(j, "status", json_string(sc_verify_status_name(sc_verify_status(r))));
	json_object_set_new(j, "reason", json_string(reason));
	json_object_set_new(j, "deep", json_boolean(o->deep));
	json_object_set_new(j, "files", json_integer((json_int_t)r->files));
	json_object_set_new(j, "objects", json_integer((json_int_t)r->objects));
	json_object_set_new(j, "inline", json_integer((json_int_t)r->inline_files));
	json_object_set_new(j, "other", json_integer((json_int_t)r->other));
	json_object_set_new(j, "bytes", json_integer((json_int_t)r->bytes));
	json_object_set_new(j, "bytes_read", json_integer((json_int_t)r->bytes_read));
	json_object_set_new(j, "problems", counts);
	json_object_set_new(j, "listed", json_incref(r->listed));
	json_object_set_new(j, "stopped_early", json_boolean(r->stopped_early));
	json_object_set_new(j, "stop_reason", r->stop_reason ? json_string(r->stop_reason) : json_null());
	json_object_set_new(j, "seconds", json_real(r->seconds));
	json_object_set_new(j, "walker", json_string(r->walker ? r->walker : "mounted"));
	json_object_set_new(j, "image_digest", r->image_check == SC_IMAGE_MATCH || r->image_check == SC_IMAGE_MISMATCH
						       ? json_string(sc_digest_to_string(&r->image_measured, measured))
						       : json_null());
	return j;
}
