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
#include "sc-verify-internal.h"
#include "sc-verify.h"
#include "sc-why.h"

const char *sc_verify_erofs_strerror(int r)
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
void sc_verify_visit_file(struct walk *w, const char *rel, uint64_t size, const uint8_t *mc, ssize_t n, const char *rd,
		       ssize_t m)
{
	struct job local, *j = &local; /* on the heap only when it goes to a worker */
	int r;

	if (n == -ENODATA) {
		w->r->inline_files++; /* covered by the image's own digest */
		return;
	}
	if (n == -EIO || m == -EIO)
		return sc_verify_problem(w, SC_OBJ_UNREADABLE, rel, NULL, "verity violation: EIO reading the image's xattrs");
	if (n < 0)
		return sc_verify_problem(w, n == -ERANGE ? SC_OBJ_BAD_XATTR : SC_OBJ_ERROR, rel, NULL,
			       n == -ERANGE ? "metacopy larger than any digest" : sc_verify_erofs_strerror((int)n));
	r = sc_metacopy_parse(mc, (size_t)n, &j->want);
	if (r == -ENODATA)
		return sc_verify_problem(w, SC_OBJ_BAD_XATTR, rel, NULL, "empty metacopy: no digest (fails under verity=require)");
	if (r < 0)
		return sc_verify_problem(w, SC_OBJ_BAD_XATTR, rel, NULL, "malformed metacopy");
	if (m < 0)
		return sc_verify_problem(w, m == -ERANGE || m == -ENODATA ? SC_OBJ_BAD_XATTR : SC_OBJ_ERROR, rel, NULL,
			       m == -ENODATA ? "metacopy without a redirect"
			       : m == -ERANGE ? "redirect longer than any object path"
					      : sc_verify_erofs_strerror((int)m));
	if (sc_redirect_parse(rd, (size_t)m, j->object, sizeof(j->object)) < 0)
		return sc_verify_problem(w, SC_OBJ_BAD_XATTR, rel, NULL, "malformed redirect");
	j->size = size;
	w->r->objects++;
	w->r->bytes += j->size;
	if (!w->pooled) {
		long long t0 = sc_now_us();

		j->path = (char *)rel;
		sc_verify_check_object(w, j, w->inline_buf);
		if (sc_now_us() - t0 > SLOW_US)
			w->slow++;
		if (++w->window == 64)
			w->window = 0, w->slow = 0;
		if (w->slow >= SLOW_AFTER)
			sc_verify_pool_start(w); /* the disk is the bottleneck now: overlap it */
		return;
	}
	j = malloc(sizeof(*j));
	if (j) {
		*j = local;
		j->path = strdup(rel);
	}
	if (!j || !j->path) {
		free(j);
		return sc_verify_problem(w, SC_OBJ_ERROR, rel, local.object, "out of memory");
	}
	sc_verify_pool_enqueue(w, j);
}


static const char STOP_SECONDS[] = "--max-seconds reached";

bool sc_verify_stopping(struct walk *w, struct sc_verify_result *res)
{
	if (w->deadline_ms && sc_now_ms() > w->deadline_ms) {
		res->stopped_early = true, res->stop_reason = STOP_SECONDS;
		return true;
	}
	return res->stopped_early;
}

/* Append "/@name" to the walk's path at @plen; false (a problem listed) when it would not fit. */
bool sc_verify_path_push(struct walk *w, char *path, size_t plen, size_t psize, const char *name, size_t nl)
{
	if (plen + 1 + nl + 1 > psize) {
		sc_verify_problem(w, SC_OBJ_ERROR, path, NULL, "path too long");
		return false;
	}
	path[plen] = '/';
	memcpy(path + plen + 1, name, nl + 1);
	return true;
}

/* Count a regular file; false once --max-files is reached, and the walk stops. */
bool sc_verify_take_file(struct walk *w, struct sc_verify_result *res)
{
	if (w->o->max_files && res->files >= w->o->max_files) {
		res->stopped_early = true, res->stop_reason = "--max-files reached";
		return false;
	}
	res->files++;
	return true;
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
				 r == -EUCLEAN ? "not an EROFS image, or its superblock or root is corrupt" : sc_verify_erofs_strerror(r));
			goto out;
		}
	}
	if (image_fd >= 0 && !erofs && !image_eio) {
		root_fd = sc_verify_mount_detached(o->image);
		if (root_fd < 0)
			root_fd = sc_verify_mount_private(o->image, why, why_size);
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
		sc_verify_image_problem(&w, "/", -EIO);
	else
		r = erofs ? sc_verify_walk_parsed(&w, erofs, &res) : sc_verify_walk_mounted(&w, root_fd, &res);
	/* Past --max-seconds what is queued is dropped: the walk is incomplete anyway. */
	sc_verify_pool_finish(&w, r < 0 || res.stop_reason == STOP_SECONDS);
	if (r == -ENOMEM)
		goto out;
	if (r < 0)
		res.walk_errno = -r; /* the walk was cut short: never a pass (sc_verify_status) */
	r = 0;
out:
	sc_verify_pool_finish(&w, true);
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
