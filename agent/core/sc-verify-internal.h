/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The object check's parts (sc-verify.h is its interface): what the walkers,
 * the worker pool, the object check and the report share. One walk of one
 * image: sc-verify.c drives it; sc-verify-mounted.c walks the image mounted
 * by the kernel, sc-verify-parsed.c walks it as parsed EROFS; each regular
 * file goes to sc_verify_visit_file(), which checks its object inline or hands
 * it to sc-verify-pool.c's workers; sc-verify-object.c checks one object;
 * sc-verify-report.c says the result.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sc-erofs.h"
#include "sc-verify.h"


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

#define MAX_DEPTH 256

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

void sc_verify_check_object(struct walk *w, struct job *j, uint8_t *buf);
const char *sc_verify_erofs_strerror(int r);
void sc_verify_image_problem(struct walk *w, const char *path, int r);
int sc_verify_mount_detached(const char *image);
int sc_verify_mount_private(const char *image, char *why, size_t why_size);
bool sc_verify_path_push(struct walk *w, char *path, size_t plen, size_t psize, const char *name, size_t nl);
void sc_verify_pool_enqueue(struct walk *w, struct job *j);
void sc_verify_pool_finish(struct walk *w, bool stop);
void sc_verify_pool_start(struct walk *w);
void sc_verify_problem(struct walk *w, enum sc_obj_problem p, const char *path, const char *object, const char *detail);
bool sc_verify_stopping(struct walk *w, struct sc_verify_result *res);
bool sc_verify_take_file(struct walk *w, struct sc_verify_result *res);
void sc_verify_visit_file(struct walk *w, const char *rel, uint64_t size, const uint8_t *mc, ssize_t n, const char *rd, ssize_t m);
int sc_verify_walk_mounted(struct walk *w, int rootfd, struct sc_verify_result *res);
int sc_verify_walk_parsed(struct walk *w, struct sc_erofs *e, struct sc_verify_result *res);
