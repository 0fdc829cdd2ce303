/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* watch --socket-dir: every NAME.sock in a folder a VM of the fleet (probe-fleet-sockdir.h). */
#include <dirent.h>
#include <errno.h>
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

struct probe_fleet_sockdir {
	char *path;
	sd_event_source *inotify;
	struct probe_fleet *fleet;
	uint32_t refused[REFUSED_MAX]; /* open addressing; 0 is empty; full: no more logging (bounded) */
	unsigned n_refused;
};

/* "NAME.sock" -> NAME, into @out; false when it is not one. */
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

static void dir_entry(struct probe_fleet_sockdir *d, const char *file, bool present, bool quiet)
{
	char name[PROBE_FLEET_NAME_MAX + 64], path[PATH_MAX];
	struct stat st;
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
	if (!present) {
		const struct probe_fleet_vm *vm = probe_fleet_find(d->fleet, name);

		/* Only the VM of this very socket: another folder's VM of the same name stays. Not stopped by an
		 * owner the probe can see: lost (probe-fleet.h); a colliding offer of it (no VM) is withdrawn. */
		snprintf(path, sizeof(path), "%s/%s", d->path, file);
		if (!vm || (vm->source == PROBE_FLEET_SOCKET_DIR && strcmp(vm->socket_path, path) == 0))
			(void)probe_fleet_lose_vm(d->fleet, name, PROBE_FLEET_SOCKET_DIR, PROBE_FLEET_LOST_SOCKET_REMOVED);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", d->path, file);
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	{
		const struct probe_fleet_vm *held = probe_fleet_find(d->fleet, name);

		/* One VM a name: the first socket that had it keeps it (another directory's is not a new path for
		 * it). Another source's VM of that name is the fleet's to judge: a collision (probe-fleet.h). */
		if (held && held->source == PROBE_FLEET_SOCKET_DIR && strcmp(held->socket_path, path) != 0) {
			if (!quiet)
				refuse(d, file, "a VM of that name is watched in another directory");
			return;
		}
	}
	r = probe_fleet_add_vm(d->fleet, name, NULL, path, PROBE_FLEET_SOCKET_DIR);
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

static int rescan(struct probe_fleet_sockdir *d, bool quiet)
{
	_cleanup_closedir_ DIR *dir = opendir(d->path);
	struct dirent *de;
	struct probe_fleet *f = d->fleet;

	if (!dir)
		return -errno;
	for (size_t i = 0; i < probe_fleet_n_vms(f); i++)
		((struct probe_fleet_vm *)probe_fleet_vm_at(f, i))->seen = false;
	while ((de = readdir(dir)))
		dir_entry(d, de->d_name, true, quiet);
	/* What is no longer there goes. */
	for (size_t i = probe_fleet_n_vms(f); i-- > 0;) {
		const struct probe_fleet_vm *vm = probe_fleet_vm_at(f, i);

		if (vm->source == PROBE_FLEET_SOCKET_DIR && !vm->seen &&
		    strncmp(vm->socket_path, d->path, strlen(d->path)) == 0 && vm->socket_path[strlen(d->path)] == '/')
			(void)probe_fleet_lose_vm(f, vm->name, PROBE_FLEET_SOCKET_DIR, PROBE_FLEET_LOST_SOCKET_REMOVED);
	}
	return 0;
}

static int on_inotify(sd_event_source *src, const struct inotify_event *ev, void *userdata)
{
	struct probe_fleet_sockdir *d = userdata;

	(void)src;
	if (ev->mask & IN_Q_OVERFLOW) {
		(void)rescan(d, true);
		return 0;
	}
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
		probe_fleet_log(d->fleet, "%s went away; its VMs stay until their sockets are seen gone", d->path);
		return 0;
	}
	if (!ev->len || !ev->name[0])
		return 0;
	if (ev->mask & (IN_CREATE | IN_MOVED_TO))
		dir_entry(d, ev->name, true, false);
	else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
		dir_entry(d, ev->name, false, false);
	return 0;
}

int probe_fleet_sockdir_new(struct probe_fleet *f, const char *path, struct probe_fleet_sockdir **ret)
{
	struct probe_fleet_sockdir *d;
	struct stat st;
	int r;

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
	/* Watch first, then scan: a socket made in between is seen twice, never missed. */
	r = sd_event_add_inotify(probe_fleet_event(f), &d->inotify, path,
				 IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |
					 IN_ONLYDIR,
				 on_inotify, d);
	if (r >= 0)
		r = rescan(d, false);
	if (r < 0) {
		probe_fleet_sockdir_free(d);
		return r;
	}
	*ret = d;
	return 0;
}

struct probe_fleet_sockdir *probe_fleet_sockdir_free(struct probe_fleet_sockdir *d)
{
	if (!d)
		return NULL;
	sd_event_source_disable_unref(d->inotify);
	free(d->path);
	free(d);
	return NULL;
}
