/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* watch --socket-dir: every NAME.sock in a folder a VM of the fleet (probe-fleet-sockdir.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "probe-fleet-sockdir.h"
#include "sc-macro.h"

#define REFUSED_MAX 1024 /* names already logged as refused, by hash: each is said once, not on every event */
#define BACK_POLL_US (1000u * 1000u) /* how often DIR's path is looked at: gone, replaced, back (on_tick()) */

struct probe_fleet_sockdir {
	char *path; /* as given, without trailing slashes */
	sd_event_source *inotify; /* NULL while DIR is gone */
	sd_event_source *back;	  /* on_tick(), every BACK_POLL_US: is DIR still there, or there again? */
	dev_t dir_dev;		  /* the directory watched, as stat(2) saw it when its watch was added */
	ino_t dir_ino;
	struct probe_fleet *fleet;
	uint32_t refused[REFUSED_MAX]; /* open addressing; 0 is empty; full: no more logging (bounded) */
	unsigned n_refused;
};

#define SOCKDIR_MASK                                                                                          \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

static bool sock_name(const char *file, char *out, size_t out_size, size_t *ret_len)
{
	size_t n = strlen(file);

	if (n <= 5 || strcmp(file + n - 5, ".sock") != 0 || n - 5 >= out_size)
		return false;
	memcpy(out, file, n - 5);
	out[n - 5] = '\0';
	*ret_len = n - 5;
	return true;
}

/* True the first time @file is refused in @d (and while there is room to remember it). */
static bool first_refusal(struct probe_fleet_sockdir *d, const char *file)
{
	uint32_t h = probe_fleet_hash(file) | 1u;

	if (d->n_refused >= REFUSED_MAX / 2)
		return false; /* half full: a directory spraying bad names is not logged forever */
	for (uint32_t i = h % REFUSED_MAX;; i = (i + 1) % REFUSED_MAX) {
		if (d->refused[i] == h)
			return false;
		if (d->refused[i] == 0) {
			d->refused[i] = h;
			d->n_refused++;
			return true;
		}
	}
}

static void refuse(struct probe_fleet_sockdir *d, const char *file, const char *why)
{
	const char *dir = d->path;

	if (!first_refusal(d, file))
		return;
	probe_fleet_log(d->fleet, "%s/%.300s: %s; skipped", dir, file, why);
}

/*
 * Is @vm this directory's own: a socket-dir VM whose socket is DIR/<file> exactly? A VM belongs to the
 * directory it was found in, and a directory adds, replaces and removes only its own: a socket of
 * --socket-dir DIR/sub (DIR/sub/x.sock) is never DIR's.
 */
static int entry_stat(const struct probe_fleet_sockdir *d, int dfd, const char *file, struct stat *st);

static bool own_path(const struct probe_fleet_sockdir *d, const char *p)
{
	size_t n = strlen(d->path);

	return strncmp(p, d->path, n) == 0 && p[n] == '/' && p[n + 1] && !strchr(p + n + 1, '/');
}

static bool own(const struct probe_fleet_sockdir *d, const struct probe_fleet_vm *vm)
{
	return vm && vm->source == PROBE_FLEET_SOCKET_DIR && own_path(d, vm->socket_path);
}

/*
 * This directory's VMs (@unseen_only: those a rescan did not see) are lost for @reason. Names first,
 * then the losses: a loss may watch another source's VM of that name (a collision re-offered), which
 * moves the table. Returns how many.
 */
static size_t lose_own(struct probe_fleet_sockdir *d, bool unseen_only, enum probe_fleet_loss reason)
{
	struct probe_fleet *f = d->fleet;
	size_t n = probe_fleet_n_vms(f), k = 0, m = 0;
	_cleanup_free_ char(*names)[PROBE_FLEET_NAME_MAX + 1] = NULL;

	for (size_t i = 0; i < n; i++)
		m += own(d, probe_fleet_vm_at(f, i)) && !(unseen_only && probe_fleet_vm_at(f, i)->seen);
	if (!m || !(names = calloc(m, sizeof(*names))))
		return 0;
	for (size_t i = 0; i < n && k < m; i++) {
		const struct probe_fleet_vm *vm = probe_fleet_vm_at(f, i);

		if (own(d, vm) && !(unseen_only && vm->seen))
			snprintf(names[k++], sizeof(names[0]), "%s", vm->name);
	}
	for (size_t i = 0; i < k; i++)
		(void)probe_fleet_lose_vm(f, names[i], PROBE_FLEET_SOCKET_DIR, reason);
	return k;
}

/*
 * This directory's colliding offers (probe-fleet.h, "Collisions") no longer backed by a socket in it
 * (@all: every one, the directory went) are withdrawn as lost for @reason. Names first, then the
 * withdrawals: each may change the offers (and watch the other source's VM).
 */
static void withdraw_offers(struct probe_fleet_sockdir *d, int dfd, bool all, enum probe_fleet_loss reason)
{
	struct probe_fleet *f = d->fleet;
	size_t n = probe_fleet_n_offers(f), k = 0;
	_cleanup_free_ char(*names)[PROBE_FLEET_NAME_MAX + 1] = NULL;

	if (!n || !(names = calloc(n, sizeof(*names))))
		return;
	for (size_t i = 0; i < n; i++) {
		const struct probe_fleet_offer *o = probe_fleet_offer_at(f, i);
		const char *file = strrchr(o->socket_path, '/');
		struct stat st;

		if (o->source != PROBE_FLEET_SOCKET_DIR || !own_path(d, o->socket_path))
			continue;
		if (!all && entry_stat(d, dfd, file + 1, &st) == 0 && S_ISSOCK(st.st_mode))
			continue;
		snprintf(names[k++], sizeof(names[0]), "%s", o->name);
	}
	for (size_t i = 0; i < k; i++)
		(void)probe_fleet_lose_vm(f, names[i], PROBE_FLEET_SOCKET_DIR, reason);
}

/*
 * What is at DIR/@file now: lstat(2) semantics (AT_SYMLINK_NOFOLLOW: a symlink is a symlink, never its
 * target), relative to @dfd (the directory a rescan has open) or by DIR's path (@dfd AT_FDCWD).
 */
static int entry_stat(const struct probe_fleet_sockdir *d, int dfd, const char *file, struct stat *st)
{
	char path[PATH_MAX];

	if (dfd != AT_FDCWD)
		return fstatat(dfd, file, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", d->path, file) >= sizeof(path))
		return -ENAMETOOLONG;
	return fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static bool same_socket(const struct probe_fleet_vm *vm, const struct stat *st)
{
	return S_ISSOCK(st->st_mode) && vm->sock_pinned && vm->sock_dev == (uint64_t)st->st_dev &&
	       vm->sock_ino == (uint64_t)st->st_ino;
}

/*
 * DIR/@file was created, moved in or found by a rescan (@present), or deleted or moved out. Each event is
 * checked against what is there now, so a late event never undoes a later state. A name this directory
 * holds whose entry is now another file is a remove, plus an add when that file is a socket: a rename or
 * re-creation over a VM's socket never keeps the VM's name, counters, policy or TPM state for another
 * socket (inotify(7): rename(2) over an existing name is one IN_MOVED_TO, with no IN_DELETE for the name
 * replaced; IN_ATTRIB, a change of mode, owner or link count, never changes which file the name is).
 */
static void dir_entry(struct probe_fleet_sockdir *d, int dfd, const char *file, bool present, bool quiet)
{
	char name[PROBE_FLEET_NAME_MAX + 64], path[PATH_MAX];
	const struct probe_fleet_vm *held;
	struct stat st;
	bool there;
	size_t len;
	int r;

	if (strlen(file) > PROBE_FLEET_NAME_MAX + 5) {
		if (present && !quiet && strlen(file) > 5 && strcmp(file + strlen(file) - 5, ".sock") == 0)
			refuse(d, file, "a VM name over 200 bytes");
		return;
	}
	if (!sock_name(file, name, sizeof(name), &len))
		return;
	if (!probe_fleet_name_valid(name, len)) {
		if (present && !quiet)
			refuse(d, file, "not a plain VM name (control characters, '/', invalid UTF-8, . or ..)");
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", d->path, file);
	held = probe_fleet_find(d->fleet, name);
	if (held && held->source == PROBE_FLEET_SOCKET_DIR && (!own(d, held) || strcmp(held->socket_path, path) != 0)) {
		/* One VM a name: the first socket that had it keeps it (another directory's is not a new socket
		 * for it, and it is not taken over when that one goes). */
		if (present && !quiet)
			refuse(d, file, "a VM of that name is watched in another directory");
		return;
	}
	/* Another source's VM of that name: this socket is offered to the fleet, which refuses both (a
	 * collision, probe-fleet.h) and keeps the offer until it is withdrawn below. */
	if (held && held->source != PROBE_FLEET_SOCKET_DIR)
		held = NULL;
	if (!held) {
		const struct probe_fleet_offer *o = probe_fleet_find_offer(d->fleet, name, PROBE_FLEET_SOCKET_DIR);

		/* The name's colliding offer is another directory's socket: this one neither takes it over nor
		 * withdraws it, as for a watched VM above. */
		if (o && strcmp(o->socket_path, path) != 0) {
			if (present && !quiet)
				refuse(d, file, "a VM of that name is offered from another directory");
			return;
		}
	}
	there = entry_stat(d, dfd, file, &st) == 0;
	if (held) {
		if (there && same_socket(held, &st)) {
			/* Still the socket the VM was found as (an event already seen, or a rescan). */
			((struct probe_fleet_vm *)held)->seen = true;
			return;
		}
		if (!there)
			/* Deleted or moved out of DIR: QEMU's socket goes with QEMU, which the probe cannot tell from
			 * a deletion by anyone else: lost (probe-fleet.h). */
			(void)probe_fleet_lose_vm(d->fleet, name, PROBE_FLEET_SOCKET_DIR, PROBE_FLEET_LOST_SOCKET_REMOVED);
		else {
			probe_fleet_log(d->fleet, "%s: replaced by %s; VM %s removed%s", path,
					S_ISSOCK(st.st_mode)  ? "another socket"
					: S_ISLNK(st.st_mode) ? "a symlink"
							      : "something that is not a socket",
					name, S_ISSOCK(st.st_mode) ? " and added anew for the new socket" : "");
			/* Renamed or re-created over: lost, and added anew below when it is a socket. */
			(void)probe_fleet_lose_vm(d->fleet, name, PROBE_FLEET_SOCKET_DIR, PROBE_FLEET_LOST_SOCKET_REPLACED);
		}
	} else if (!there || !S_ISSOCK(st.st_mode))
		/* No VM of this directory: a colliding offer of this name, if any, is withdrawn (-ENOENT when
		 * there is none). */
		(void)probe_fleet_lose_vm(d->fleet, name, PROBE_FLEET_SOCKET_DIR,
					  there ? PROBE_FLEET_LOST_SOCKET_REPLACED : PROBE_FLEET_LOST_SOCKET_REMOVED);
	/* Only a UNIX socket that is an entry of DIR itself is a VM: not a symlink (even to a socket), a file, a FIFO. */
	if (!there || !S_ISSOCK(st.st_mode))
		return;
	r = probe_fleet_add_vm(d->fleet, name, NULL, path, PROBE_FLEET_SOCKET_DIR);
	if (r >= 0 || r == -EEXIST)
		/* Its rounds connect to this very socket, checked again at each connect (probe-fleet.h); a
		 * colliding offer's is pinned too, for when it is watched. */
		(void)probe_fleet_pin_vm_socket(d->fleet, name, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
	if (r >= 0) {
		struct probe_fleet_vm *vm = (struct probe_fleet_vm *)probe_fleet_find(d->fleet, name);

		if (vm)
			vm->seen = true;
	} else if (!quiet)
		refuse(d, file,
		       r == -ENAMETOOLONG ? "the socket's path is too long for a UNIX socket address"
		       : r == -EEXIST	  ? "another source offers a VM of that name: neither is watched"
		       : r == -E2BIG	  ? "too many VMs"
					  : strerror(-r));
}

/* Every entry of DIR again: its own VMs are exactly its sockets afterwards (other directories' untouched). */
static int rescan(struct probe_fleet_sockdir *d, bool quiet)
{
	_cleanup_closedir_ DIR *dir = opendir(d->path);
	struct dirent *de;
	struct probe_fleet *f = d->fleet;

	if (!dir)
		return -errno;
	for (size_t i = 0; i < probe_fleet_n_vms(f); i++) {
		struct probe_fleet_vm *vm = (struct probe_fleet_vm *)probe_fleet_vm_at(f, i);

		if (own(d, vm))
			vm->seen = false;
	}
	while ((de = readdir(dir)))
		dir_entry(d, dirfd(dir), de->d_name, true, quiet);
	/* No longer in DIR when it was read again: lost, and so are its colliding offers. */
	lose_own(d, true, PROBE_FLEET_LOST_SOCKET_REMOVED);
	withdraw_offers(d, dirfd(dir), false, PROBE_FLEET_LOST_SOCKET_REMOVED);
	return 0;
}

static int on_inotify(sd_event_source *src, const struct inotify_event *ev, void *userdata);

/* Watch DIR (again), then read it: a socket made in between is seen twice, never missed. */
static int watch_dir(struct probe_fleet_sockdir *d)
{
	struct stat st;
	int r;

	r = sd_event_add_inotify(probe_fleet_event(d->fleet), &d->inotify, d->path, SOCKDIR_MASK, on_inotify, d);
	if (r < 0)
		return r;
	if (stat(d->path, &st) < 0)
		r = -errno;
	else {
		d->dir_dev = st.st_dev;
		d->dir_ino = st.st_ino;
		r = rescan(d, false);
	}
	if (r < 0)
		d->inotify = sd_event_source_disable_unref(d->inotify);
	return r;
}

/*
 * DIR left its path (removed, moved away, its file system unmounted, replaced by another directory): its
 * watch is dropped, its VMs go, and on_tick() watches and reads the directory at its path again once
 * there is one (systemd's RuntimeDirectory=, tmpfiles, `rm -rf DIR; mkdir DIR`).
 */
static void dir_gone(struct probe_fleet_sockdir *d, const char *how)
{
	struct probe_fleet *f = d->fleet;
	size_t n = 0;

	d->inotify = sd_event_source_disable_unref(d->inotify);
	n = lose_own(d, false, PROBE_FLEET_LOST_DIR_REMOVED);
	withdraw_offers(d, AT_FDCWD, true, PROBE_FLEET_LOST_DIR_REMOVED);
	probe_fleet_log(f, "%s went away (%s): its %zu VM%s removed; looking for it again every second", d->path,
			how, n, n == 1 ? "" : "s");
}

/*
 * Every BACK_POLL_US: is the directory watched still the one at DIR's path, and, while none is watched, is
 * there one again? inotify alone cannot tell: IN_DELETE_SELF (then IN_IGNORED) comes only once the
 * directory's last reference goes (inotify(7): "the watched file/directory was itself deleted"), and a
 * UNIX socket bound in it holds one while its listener lives (unix(7): the socket's bound name is a file
 * it keeps), so `rm -rf DIR` under running VMs says nothing of DIR itself; nor does a parent of DIR
 * renamed. One stat(2) a second is the bound.
 */
static int on_tick(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct probe_fleet_sockdir *d = userdata;
	struct stat st;
	bool is_dir = stat(d->path, &st) == 0 && S_ISDIR(st.st_mode);
	size_t n = 0;

	(void)usec;
	if (d->inotify && (!is_dir || st.st_dev != d->dir_dev || st.st_ino != d->dir_ino))
		dir_gone(d, is_dir ? "replaced by another directory" : "no longer there");
	if (!d->inotify && is_dir && watch_dir(d) >= 0) {
		for (size_t i = 0; i < probe_fleet_n_vms(d->fleet); i++)
			n += own(d, probe_fleet_vm_at(d->fleet, i));
		probe_fleet_log(d->fleet, "%s is back: watched again, %zu VM%s in it", d->path, n, n == 1 ? "" : "s");
	}
	(void)sd_event_source_set_time_relative(src, BACK_POLL_US);
	(void)sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
	return 0;
}

static int on_inotify(sd_event_source *src, const struct inotify_event *ev, void *userdata)
{
	struct probe_fleet_sockdir *d = userdata;
	struct stat st;

	(void)src;
	if (ev->mask & IN_Q_OVERFLOW) {
		/* Events were lost, maybe DIR's own: is the directory at DIR still the one watched? */
		if (stat(d->path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_dev != d->dir_dev || st.st_ino != d->dir_ino)
			dir_gone(d, "replaced or gone while inotify events were lost");
		else if (rescan(d, true) < 0)
			dir_gone(d, "could not be read again");
		return 0;
	}
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED)) {
		/* inotify(7): after IN_DELETE_SELF or IN_UNMOUNT comes IN_IGNORED, the watch is gone; after
		 * IN_MOVE_SELF it would follow the directory to its new name, which is not DIR. */
		dir_gone(d, ev->mask & IN_MOVE_SELF ? "moved away" : ev->mask & IN_UNMOUNT ? "unmounted" : "removed");
		return 0;
	}
	if (!ev->len || !ev->name[0])
		return 0;
	if (ev->mask & (IN_CREATE | IN_MOVED_TO))
		dir_entry(d, AT_FDCWD, ev->name, true, false);
	else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
		dir_entry(d, AT_FDCWD, ev->name, false, false);
	return 0;
}

int probe_fleet_sockdir_new(struct probe_fleet *f, const char *path, struct probe_fleet_sockdir **ret)
{
	struct probe_fleet_sockdir *d;
	struct stat st;
	size_t n;
	int r;

	/* A DIR that is not there at start is refused (exit 2, docs/fleet.md); later it may go and come back. */
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fleet = f;
	d->path = strdup(path);
	if (!d->path) {
		free(d);
		return -ENOMEM;
	}
	/* "DIR/" and "DIR" are one directory: its sockets' paths are DIR/NAME.sock either way. */
	for (n = strlen(d->path); n > 1 && d->path[n - 1] == '/'; n--)
		d->path[n - 1] = '\0';
	r = watch_dir(d);
	if (r >= 0)
		r = sd_event_add_time_relative(probe_fleet_event(f), &d->back, CLOCK_MONOTONIC, BACK_POLL_US,
					       BACK_POLL_US / 10, on_tick, d);
	if (r < 0) {
		probe_fleet_sockdir_free(d);
		return r;
	}
	*ret = d;
	return 0;
}

int probe_fleet_sockdir_rescan(struct probe_fleet_sockdir *d)
{
	size_t n = 0;
	int r;

	if (!d->inotify)
		return 0; /* gone: read when it comes back */
	r = rescan(d, false);
	if (r < 0) {
		probe_fleet_log(d->fleet, "%s could not be rescanned: %s", d->path, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < probe_fleet_n_vms(d->fleet); i++)
		n += own(d, probe_fleet_vm_at(d->fleet, i));
	probe_fleet_log(d->fleet, "%s rescanned: %zu VM%s in it", d->path, n, n == 1 ? "" : "s");
	return 0;
}

struct probe_fleet_sockdir *probe_fleet_sockdir_free(struct probe_fleet_sockdir *d)
{
	if (!d)
		return NULL;
	sd_event_source_disable_unref(d->inotify);
	sd_event_source_disable_unref(d->back);
	free(d->path);
	free(d);
	return NULL;
}
