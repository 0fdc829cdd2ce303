/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probe-workdir.h"
#include "sc-fileio.h"
#include "sc-macro.h"
#include "sc-why.h"

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

/* A regular file whole, at most @cap bytes (sc_read_fd_capped); never blocks on a FIFO. 0 or -errno. */
static int read_small_at(int dfd, const char *path, size_t cap, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADF;
	return sc_read_fd_capped(fd, cap, ret, ret_len);
}

static bool uuid_ok(const char *s)
{
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static int boot_id(char ret[37])
{
	_cleanup_free_ char *buf = NULL;
	size_t n;
	int r = read_small_at(AT_FDCWD, BOOT_ID_PATH, 64, &buf, &n);

	if (r < 0)
		return r;
	if (n != 37 || buf[36] != '\n' || !uuid_ok(buf))
		return -EBADMSG;
	memcpy(ret, buf, 36);
	ret[36] = '\0';
	return 0;
}

/* The inode of the caller's PID namespace: pids mean something only within one. */
static int pid_ns(unsigned long long *ret)
{
	struct stat st;

	if (stat("/proc/self/ns/pid", &st) < 0)
		return -errno;
	*ret = (unsigned long long)st.st_ino;
	return 0;
}

/*
 * Field 22 of /proc/PID/stat (starttime), counted after the comm's last ')'.
 * -ESRCH only when there is no such process; any other failure (no /proc, out
 * of descriptors, hidepid) is its own -errno, which callers take as "cannot tell".
 */
static int start_time(pid_t pid, unsigned long long *ret)
{
	_cleanup_free_ char *buf = NULL;
	char path[64], *p, *end;
	size_t n;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	r = read_small_at(AT_FDCWD, path, SC_SMALL_FILE_MAX, &buf, &n);
	if (r == -ENOENT || r == -ESRCH)
		return -ESRCH;
	if (r < 0)
		return r;
	p = strrchr(buf, ')');
	if (!p)
		return -EBADMSG;
	p++;
	for (int field = 2; field < 21; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EBADMSG;
	}
	errno = 0;
	*ret = strtoull(p + 1, &end, 10);
	return errno || end == p + 1 ? -EBADMSG : 0;
}

int probe_owner_self(struct probe_owner *ret)
{
	int r = boot_id(ret->boot_id);

	if (r >= 0)
		r = pid_ns(&ret->pid_ns);
	if (r < 0)
		return r;
	ret->pid = getpid();
	return start_time(ret->pid, &ret->start);
}

int probe_owner_format(const struct probe_owner *o, char *buf, size_t size)
{
	int n = snprintf(buf, size, "sealcheck-probe owner v1 boot_id=%s pidns=%llu pid=%d start=%llu\n", o->boot_id,
			 o->pid_ns, (int)o->pid, o->start);

	return n < 0 || (size_t)n >= size ? -ENOBUFS : 0;
}

/* A decimal number of 1 to 20 digits, no sign, no leading zero (except "0"), ended by @stop. */
static const char *number(const char *p, const char *end, char stop, unsigned long long max, unsigned long long *ret)
{
	unsigned long long v = 0;
	const char *q = p;

	while (q < end && *q >= '0' && *q <= '9') {
		unsigned d = (unsigned)(*q - '0');

		if (v > (max - d) / 10)
			return NULL;
		v = v * 10 + d;
		q++;
	}
	if (q == p || q - p > 20 || (*p == '0' && q - p > 1) || q >= end || *q != stop)
		return NULL;
	*ret = v;
	return q + 1;
}

int probe_owner_parse(const char *s, size_t len, struct probe_owner *ret)
{
	static const char head[] = "sealcheck-probe owner v1 boot_id=";
	const char *p = s, *end = s + len;
	unsigned long long ns, pid, start;

	if (len > PROBE_OWNER_MAX || len < sizeof(head) - 1 + 36 || memcmp(p, head, sizeof(head) - 1) != 0)
		return -EBADMSG;
	p += sizeof(head) - 1;
	if (!uuid_ok(p))
		return -EBADMSG;
	memcpy(ret->boot_id, p, 36);
	ret->boot_id[36] = '\0';
	p += 36;
	if ((size_t)(end - p) < 7 || memcmp(p, " pidns=", 7) != 0)
		return -EBADMSG;
	p = number(p + 7, end, ' ', ~0ULL, &ns);
	if (!p || (size_t)(end - p) < 4 || memcmp(p, "pid=", 4) != 0)
		return -EBADMSG;
	p = number(p + 4, end, ' ', 0x7fffffff, &pid);
	if (!p || pid == 0 || (size_t)(end - p) < 6 || memcmp(p, "start=", 6) != 0)
		return -EBADMSG;
	p = number(p + 6, end, '\n', ~0ULL, &start);
	if (!p || p != end)
		return -EBADMSG;
	ret->pid_ns = ns;
	ret->pid = (pid_t)pid;
	ret->start = start;
	return 0;
}

bool probe_owner_gone(const struct probe_owner *o)
{
	char now[37];
	unsigned long long start = 0, ns = 0;
	int r;

	if (boot_id(now) < 0)
		return false; /* cannot tell: keep it */
	if (strcmp(now, o->boot_id) != 0)
		return true; /* another boot: every process of that one is gone */
	if (pid_ns(&ns) < 0 || ns != o->pid_ns)
		return false; /* its pid means nothing in our PID namespace: cannot tell */
	r = start_time(o->pid, &start);
	return r == -ESRCH || (r == 0 && start != o->start);
}

/* A stream over a copy of @dfd (which stays the caller's); NULL with errno set. */
static DIR *opendir_at(int dfd)
{
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return d;
}

/* Everything under @name in @parent, never following a symlink, four levels at most. */
static void remove_tree_at(int parent, const char *name, unsigned depth)
{
	_cleanup_close_ int dfd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	if (dfd < 0 || depth > 4)
		return;
	d = opendir_at(dfd);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR)
			remove_tree_at(dfd, de->d_name, depth + 1);
		if (unlinkat(dfd, de->d_name, de->d_type == DT_DIR ? AT_REMOVEDIR : 0) < 0 && errno == EISDIR) {
			remove_tree_at(dfd, de->d_name, depth + 1);
			(void)unlinkat(dfd, de->d_name, AT_REMOVEDIR);
		}
	}
}

void probe_workdir_remove(const char *dir)
{
	if (!dir[0])
		return;
	remove_tree_at(AT_FDCWD, dir, 0);
	(void)rmdir(dir);
}

int probe_workdir_reap(const char *base)
{
	_cleanup_close_ int bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int removed = 0;

	if (bfd < 0)
		return -errno;
	d = opendir_at(bfd);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		_cleanup_close_ int wfd = -1;
		_cleanup_free_ char *rec = NULL;
		struct probe_owner o;
		struct stat st;
		size_t n;

		if (strncmp(de->d_name, PROBE_WORKDIR_PREFIX, strlen(PROBE_WORKDIR_PREFIX)) != 0 ||
		    fstatat(bfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
		    st.st_uid != geteuid())
			continue;
		wfd = openat(bfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (wfd < 0)
			continue;
		if (read_small_at(wfd, PROBE_OWNER_FILE, PROBE_OWNER_MAX, &rec, &n) < 0 ||
		    probe_owner_parse(rec, n, &o) < 0 || !probe_owner_gone(&o))
			continue;
		remove_tree_at(bfd, de->d_name, 0);
		if (unlinkat(bfd, de->d_name, AT_REMOVEDIR) == 0)
			removed++;
	}
	return removed;
}

int probe_workdir_create(char *buf, size_t size, const char *base, size_t base_max, bool owned, char *why,
			 size_t why_size)
{
	char rec[PROBE_OWNER_MAX];
	struct probe_owner o;
	int r;

	if (!base) {
		base = getenv("XDG_RUNTIME_DIR") ?: "/tmp";
		if (base[0] != '/' || strlen(base) > base_max)
			base = "/tmp";
	}
	(void)probe_workdir_reap(base); /* best effort: a base we cannot list still takes our directory */
	if ((size_t)snprintf(buf, size, "%s/" PROBE_WORKDIR_PREFIX "XXXXXX", base) >= size)
		return sc_why(-ENAMETOOLONG, why, why_size, "%s: too long for a work directory", base);
	if (!mkdtemp(buf)) {
		r = -errno;
		snprintf(why, why_size, "mkdtemp %s: %s", buf, strerror(errno));
		buf[0] = '\0';
		return r;
	}
	/* Without /proc (no boot id or start time) it names no owner, as --keep's: never removed by another probe. */
	if (!owned || probe_owner_self(&o) < 0)
		return 0;
	r = probe_owner_format(&o, rec, sizeof(rec));
	if (r >= 0) {
		char path[PATH_MAX];
		_cleanup_close_ int fd = -1;

		snprintf(path, sizeof(path), "%s/" PROBE_OWNER_FILE, buf);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			r = -errno;
		else {
			errno = 0;
			if (write(fd, rec, strlen(rec)) != (ssize_t)strlen(rec))
				r = errno ? -errno : -EIO;
		}
	}
	if (r < 0) {
		snprintf(why, why_size, "%s: recording the owner: %s", buf, strerror(-r));
		probe_workdir_remove(buf);
		buf[0] = '\0';
		return r;
	}
	return 0;
}

int probe_workdir_shared_base(char *why, size_t why_size)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (mkdir(PROBE_WORKDIR_SHARED_BASE, 0711) < 0 && errno != EEXIST)
		return sc_why(-errno, why, why_size, "%s: %s", PROBE_WORKDIR_SHARED_BASE, strerror(errno));
	fd = open(PROBE_WORKDIR_SHARED_BASE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return sc_why(-errno, why, why_size, "%s: %s", PROBE_WORKDIR_SHARED_BASE, strerror(errno));
	if (st.st_uid != 0 || (st.st_mode & 022))
		return sc_why(-EPERM, why, why_size, "%s: not a directory of root's that only root can write",
		              PROBE_WORKDIR_SHARED_BASE);
	/* Exactly 0711 whatever the umask made it: QEMU's user must traverse it, no one may list it. */
	if ((st.st_mode & 07777) != 0711 && fchmod(fd, 0711) < 0)
		return sc_why(-errno, why, why_size, "%s: %s", PROBE_WORKDIR_SHARED_BASE, strerror(errno));
	return 0;
}
