/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "probe-attest.h"
#include "probe-loop.h"
#include "sc-io.h"
#include "sc-macro.h"

static const int handled_signals[] = { SIGTERM, SIGINT, SIGHUP };

int probe_block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < ELEMENTSOF(handled_signals); i++)
		sigaddset(&set, handled_signals[i]);
	/* Writes to a guest that went away fail with EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	return sigprocmask(SIG_BLOCK, &set, NULL) < 0 ? -errno : 0;
}

struct run_state {
	struct probe_attest *a;
	sd_event *event;
	sd_event_source *console_listen, *console_io, *vm_exit;
	bool stop; /* the attestation is over: the loop (maybe the caller's, which goes on) is left */
};

static void session_done(struct probe_session *s, void *userdata)
{
	struct run_state *st = userdata;

	(void)s;
	st->stop = true;
}

/* The VM is gone, or a console sign says it will not answer: read what is left, then stop. */
static void vm_stopped(struct run_state *st, const char *why)
{
	struct probe_session *s = &st->a->session;
	long long now = sc_now_ms();

	if (probe_session_fd(s) >= 0)
		probe_session_io(s, POLLIN, now);
	probe_session_stop(s, PROBE_END_STOPPED, why, now);
	st->stop = true;
}

static void check_console(struct run_state *st, long long now)
{
	const char *why = probe_console_stopped(&st->a->vm->console, now);

	if (why)
		vm_stopped(st, why);
}

static int on_console_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct run_state *st = userdata;
	struct probe_console *c = &st->a->vm->console;
	long long now = sc_now_ms();

	(void)fd;
	(void)revents;
	/* A bounded amount per wake-up: a chatty console never starves the session. */
	for (int i = 0; i < 16; i++) {
		ssize_t n = probe_console_read(c, now);

		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			st->console_io = sd_event_source_disable_unref(src);
			break;
		}
	}
	check_console(st, now);
	return 0;
}

static int add_console_io(struct run_state *st)
{
	struct probe_console *c = &st->a->vm->console;

	st->console_io = sd_event_source_disable_unref(st->console_io);
	if (c->fd < 0)
		return 0;
	return sd_event_add_io(st->event, &st->console_io, c->fd, EPOLLIN, on_console_io, st);
}

static int on_console_listen(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct run_state *st = userdata;

	(void)src;
	(void)fd;
	(void)revents;
	if (probe_console_accept(&st->a->vm->console) > 0)
		(void)add_console_io(st);
	return 0;
}

static int on_vm_exit(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct run_state *st = userdata;
	long long now = sc_now_ms();

	(void)fd;
	(void)revents;
	st->vm_exit = sd_event_source_disable_unref(src);
	/* The console's last words first: they may say why. */
	while (probe_console_read(&st->a->vm->console, now) > 0)
		;
	(void)probe_vm_running(st->a->vm);
	vm_stopped(st, probe_console_sign(&st->a->vm->console) ?: "the VM stopped before it answered");
	return 0;
}

static int on_signal(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
	struct run_state *st = userdata;
	char why[64];

	(void)src;
	st->a->signal = (int)si->ssi_signo;
	snprintf(why, sizeof(why), "interrupted by SIG%s", sigabbrev_np((int)si->ssi_signo) ?: "?");
	probe_session_stop(&st->a->session, PROBE_END_STOPPED, why, sc_now_ms());
	st->stop = true;
	return 0;
}

static int on_tick(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct run_state *st = userdata;
	long long now = sc_now_ms();

	if (st->a->progress)
		st->a->progress(st->a, now, st->a->userdata);
	if (st->a->vm) {
		check_console(st, now);
		/* Without pidfds, ask. */
		if (st->a->vm->pidfd < 0 && !probe_vm_running(st->a->vm))
			vm_stopped(st, "the VM stopped before it answered");
	}
	(void)sd_event_source_set_time(src, usec + 1000000);
	return 0;
}

int probe_attest_run(struct probe_attest *a)
{
	_cleanup_event_ sd_event *e = NULL;
	_cleanup_watch_ struct probe_watch *w = NULL;
	_cleanup_event_source_ sd_event_source *tick = NULL, *sig_term = NULL, *sig_int = NULL, *sig_hup = NULL;
	sd_event_source **sigs[] = { &sig_term, &sig_int, &sig_hup };
	struct run_state st = { .a = a };
	struct probe_session_config cfg = { .deadline_ms = a->deadline_ms,
					    .expect_evidence = a->expect_evidence,
					    .credential = a->credential };
	int r;

	a->started_ms = sc_now_ms();
	r = probe_session_init(&a->session, &cfg);
	if (r < 0)
		return r;
	r = a->event ? (e = sd_event_ref(a->event), 0) : sd_event_new(&e);
	if (r < 0)
		return r;
	st.event = e;
	_Static_assert(ELEMENTSOF(sigs) == ELEMENTSOF(handled_signals), "a source per signal");
	for (size_t i = 0; i < ELEMENTSOF(handled_signals); i++) {
		r = sd_event_add_signal(e, sigs[i], handled_signals[i], on_signal, &st);
		if (r < 0)
			return r;
	}
	r = sd_event_add_time(e, &tick, CLOCK_MONOTONIC, (uint64_t)a->started_ms * 1000 + 1000000, 100000, on_tick,
			      &st);
	if (r < 0)
		return r;
	if (a->vm) {
		struct probe_console *c = &a->vm->console;

		if (c->listen_fd >= 0 &&
		    (r = sd_event_add_io(e, &st.console_listen, c->listen_fd, EPOLLIN, on_console_listen, &st)) < 0)
			goto out;
		if ((r = add_console_io(&st)) < 0)
			goto out;
		if (a->vm->pidfd >= 0 && (r = sd_event_add_io(e, &st.vm_exit, a->vm->pidfd, EPOLLIN, on_vm_exit, &st)) < 0)
			goto out;
	}
	r = probe_session_connect(&a->session, a->socket_path, sc_now_ms());
	if (r < 0)
		goto out;
	r = probe_watch_new(e, &a->session, session_done, &st, &w);
	if (r < 0)
		goto out;
	/* Not sd_event_loop(): a caller's loop must not be left in its exit state. */
	r = 0;
	while (!st.stop && !probe_session_finished(&a->session) && r >= 0)
		r = sd_event_run(e, UINT64_MAX);
	if (r >= 0)
		r = 0;
out:
	st.console_listen = sd_event_source_disable_unref(st.console_listen);
	st.console_io = sd_event_source_disable_unref(st.console_io);
	st.vm_exit = sd_event_source_disable_unref(st.vm_exit);
	return r;
}

void probe_attest_done(struct probe_attest *a)
{
	probe_session_done(&a->session);
}
