/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image walked as the kernel mounts it: EROFS mounted privately, getdents64 over it (sc-verify-internal.h). */
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
		return sc_verify_problem(w, SC_OBJ_ERROR, rel, NULL, strerror(errno));
	if (fstat(fd, &fst) < 0 || fst.st_dev != st->st_dev || fst.st_ino != st->st_ino || !S_ISREG(fst.st_mode))
		return sc_verify_problem(w, SC_OBJ_ERROR, rel, NULL, "the image's file changed while walked");
	n = fgetxattr(fd, SC_XATTR_METACOPY, mc, sizeof(mc));
	if (n < 0)
		n = -errno;
	if (n != -ENODATA) {
		m = fgetxattr(fd, SC_XATTR_REDIRECT, rd, sizeof(rd) - 1);
		if (m < 0)
			m = -errno;
	}
	sc_verify_visit_file(w, rel, (uint64_t)st->st_size, mc, n, rd, m);
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
int sc_verify_mount_detached(const char *image)
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
int sc_verify_mount_private(const char *image, char *why, size_t why_size)
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


struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};


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
			if (sc_verify_stopping(w, res))
				return 0;
			if (!sc_verify_path_push(w, path, plen, psize, name, nl))
				continue;
			if (type == DT_UNKNOWN || type == DT_REG) {
				if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
					sc_verify_problem(w, SC_OBJ_ERROR, path, NULL, strerror(errno));
					continue;
				}
				type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_LNK;
			}
			if (type == DT_REG) {
				if (!sc_verify_take_file(w, res)) {
					path[plen] = '\0';
					return 0;
				}
				visit_mounted_file(w, dfd, name, &st, path);
			} else if (type == DT_DIR) {
				_cleanup_close_ int sub = -1;
				int r;

				if (depth >= MAX_DEPTH) {
					sc_verify_problem(w, SC_OBJ_ERROR, path, NULL, "directories nested too deep");
					continue;
				}
				sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (sub < 0) {
					sc_verify_problem(w, SC_OBJ_ERROR, path, NULL, strerror(errno));
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
		sc_verify_problem(w, SC_OBJ_ERROR, plen ? path : "/", NULL, strerror(errno));
	return 0;
}

/* The mounted image from its root directory @rootfd (any descriptor of it, O_PATH too). */
int sc_verify_walk_mounted(struct walk *w, int rootfd, struct sc_verify_result *res)
{
	_cleanup_close_ int dfd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char path[PATH_MAX] = "";

	if (dfd < 0) {
		sc_verify_problem(w, SC_OBJ_ERROR, "/", NULL, strerror(errno));
		return 0;
	}
	if (w->pooled) /* --deep: the pool from the start */
		sc_verify_pool_start(w);
	return walk_dir(w, dfd, path, 0, sizeof(path), 0, res);
}
