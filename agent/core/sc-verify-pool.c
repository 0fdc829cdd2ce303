/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The worker threads that check objects while the walk goes on (sc-verify-internal.h). */
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

static void *worker(void *arg);


/* Start the workers; with none started, the walk goes on inline. */
void sc_verify_pool_start(struct walk *w)
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
			sc_verify_problem(w, SC_OBJ_ERROR, j->path, j->object, "out of memory");
		else if (!stop)
			sc_verify_check_object(w, j, buf);
		free(j->path);
		free(j);
	}
	free(buf);
	return NULL;
}

void sc_verify_pool_enqueue(struct walk *w, struct job *j)
{
	pthread_mutex_lock(&w->lock);
	while (w->count == QUEUE_LEN)
		pthread_cond_wait(&w->not_full, &w->lock); /* back-pressure: the walk waits for the workers */
	w->queue[(w->head + w->count) % QUEUE_LEN] = j;
	w->count++;
	pthread_cond_signal(&w->not_empty);
	pthread_mutex_unlock(&w->lock);
}


/*
 * The walk is over: tell the workers (with @stop, to drop what is still
 * queued instead of checking it) and join every one started. Safe to call
 * again; every path out of sc_verify() passes here, since the workers point
 * at its stack.
 */
void sc_verify_pool_finish(struct walk *w, bool stop)
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
