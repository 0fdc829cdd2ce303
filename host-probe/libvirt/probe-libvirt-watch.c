/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Domain discovery in a child process, reported to the caller's loop (probe-libvirt-watch.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe-libvirt-watch.h"
#include "probe-libvirt.h"
#include "sc-io.h"
#include "sc-macro.h"

/* ---- the records between child and parent ------------------------------------------------------ */

enum {
	MSG_ALIVE = 1, /* a sign of life */
	MSG_ADDED,     /* name, uuid, text = socket path, tpm */
	MSG_REMOVED,   /* name, uuid */
	MSG_LISTED,    /* a listing succeeded */
	MSG_LOG,       /* text */
	MSG_FAILED,    /* text: the connection failed or closed; the child exits */
};

struct wire {
	uint8_t type, tpm;
	char uuid[VIR_UUID_STRING_BUFLEN];
	char name[PROBE_DOMAIN_NAME_MAX];
	char text[800];
};

#define MAX_MSGS_PER_WAKE 64 /* the loop serves others between batches */
#define MAX_KNOWN 100000     /* domains with the channel (probe-fleet.h's PROBE_FLEET_MAX_VMS) */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000

/* ---- the child ------------------------------------------------------------------------------------ */

#define CHILD_FD 3

static void child_send(uint8_t type, const char *name, const char *uuid, const char *text, bool tpm)
{
	struct wire m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.tpm = tpm;
	snprintf(m.name, sizeof(m.name), "%s", name ? name : "");
	snprintf(m.uuid, sizeof(m.uuid), "%s", uuid ? uuid : "");
	snprintf(m.text, sizeof(m.text), "%s", text ? text : "");
	while (send(CHILD_FD, &m, sizeof(m), MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			_exit(0); /* the parent is gone */
}

static void child_added(struct probe_libvirt *l, const char *name, const char *uuid, const char *socket_path, bool tpm,
			void *userdata)
{
	(void)l;
	(void)userdata;
	child_send(MSG_ADDED, name, uuid, socket_path, tpm);
}

static void child_removed(struct probe_libvirt *l, const char *name, const char *uuid, void *userdata)
{
	(void)l;
	(void)userdata;
	child_send(MSG_REMOVED, name, uuid, NULL, false);
}

static void child_log(struct probe_libvirt *l, const char *msg, void *userdata)
{
	(void)l;
	(void)userdata;
	child_send(MSG_LOG, NULL, NULL, msg, false);
}

static void child_listed(struct probe_libvirt *l, void *userdata)
{
	(void)l;
	(void)userdata;
	child_send(MSG_LISTED, NULL, NULL, NULL, false);
}

static void child_progress(struct probe_libvirt *l, void *userdata)
{
	(void)l;
	(void)userdata;
	child_send(MSG_ALIVE, NULL, NULL, NULL, false);
}

static void child_closed(struct probe_libvirt *l, const char *why, void *userdata)
{
	(void)l;
	(void)userdata;
	child_send(MSG_FAILED, NULL, NULL, why, false);
	_exit(0); /* one connection per child: the parent starts the next one */
}

static int child_on_alive(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)userdata;
	child_send(MSG_ALIVE, NULL, NULL, NULL, false);
	/* A time source is one-shot: armed again for the next second. */
	(void)sd_event_source_set_time(s, usec + 1000000);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static int child_on_parent(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	char b;

	(void)s;
	(void)revents;
	(void)userdata;
	/* The parent never writes: readable means it closed its end. */
	if (recv(fd, &b, 1, MSG_DONTWAIT) < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	_exit(0);
}

static _Noreturn void child_main(int fd, pid_t parent, const char *uri, const char *port)
{
	static const struct probe_libvirt_ops ops = {
		.added = child_added,
		.removed = child_removed,
		.log = child_log,
		.listed = child_listed,
		.progress = child_progress,
		.closed = child_closed,
	};
	sigset_t none;
	sd_event *e = NULL;
	struct probe_libvirt *l = NULL;
	int null;

	/* Never outlive the probe, even one killed outright. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(0);
	/* Nothing of the parent's but the socket: not its loop's epoll, not the guests' sockets, not stdout
	 * (libvirt's own log lines, unescaped, go nowhere; what matters comes back over the socket). */
	if (fd != CHILD_FD && dup2(fd, CHILD_FD) < 0)
		_exit(1);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0)
		_exit(1);
	(void)close_range(CHILD_FD + 1, ~0u, 0);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);

	/* A loop of this process's own (the parent's sd-event objects must not be touched here: their epoll
	 * instance is shared with the parent). */
	if (sd_event_new(&e) < 0 || probe_libvirt_event_init(e) < 0) {
		child_send(MSG_FAILED, NULL, NULL, "setting up libvirt's events in the discovery process", false);
		_exit(1);
	}
	if (sd_event_add_io(e, NULL, CHILD_FD, EPOLLIN, child_on_parent, NULL) < 0 ||
	    sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 1000000, 100000, child_on_alive, NULL) < 0) {
		child_send(MSG_FAILED, NULL, NULL, "setting up the discovery process's loop", false);
		_exit(1);
	}
	child_send(MSG_ALIVE, NULL, NULL, NULL, false);
	/* The open (and the first listing) block here, in this process only: the parent's deadline covers them. */
	if (probe_libvirt_new(e, uri, port, &ops, NULL, &l) < 0) {
		child_send(MSG_FAILED, NULL, NULL, "out of memory", false);
		_exit(1);
	}
	if (!probe_libvirt_conn(l)) {
		child_send(MSG_FAILED, NULL, NULL, probe_libvirt_last_error(l), false);
		_exit(0);
	}
	(void)sd_event_loop(e);
	_exit(0);
}

/* ---- the parent ----------------------------------------------------------------------------------- */

struct child {
	struct probe_libvirt_watch *w;
	pid_t pid;
	int pidfd, sock;
	sd_event_source *pid_src, *sock_src;
	bool stopping; /* killed or failed: no longer the current one, freed when it has exited */
	struct child *next;
};

struct known {
	char name[PROBE_DOMAIN_NAME_MAX];
	char uuid[VIR_UUID_STRING_BUFLEN];
	char path[PROBE_DOMAIN_PATH_MAX];
	bool tpm, seen;
};

enum reach { REACH_UNKNOWN = 0, REACH_UP, REACH_DOWN };

struct probe_libvirt_watch {
	sd_event *event;
	char *uri, *port;
	unsigned timeout_ms;
	struct probe_libvirt_watch_ops ops;
	void *userdata;
	struct child *cur, *children; /* all of them, the current one included */
	long long last_heard_ms;
	bool listed; /* the current child's first listing came */
	bool full_said; /* MAX_KNOWN reached: said once */
	sd_event_source *deadline, *respawn;
	unsigned backoff_ms;
	enum reach reach;
	struct known *known;
	size_t n_known;
};

static void say(struct probe_libvirt_watch *w, const char *fmt, ...) _printf_(2, 3);
static void say(struct probe_libvirt_watch *w, const char *fmt, ...)
{
	char msg[1100];
	va_list ap;

	if (!w->ops.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->ops.log(w, msg, w->userdata);
}

static void child_free(struct child *c)
{
	struct probe_libvirt_watch *w = c->w;

	for (struct child **p = &w->children; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	if (w->cur == c)
		w->cur = NULL;
	sd_event_source_disable_unref(c->pid_src);
	sd_event_source_disable_unref(c->sock_src);
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->sock >= 0)
		close(c->sock);
	free(c);
}

/* Killed (whatever it is doing: an RPC that never returns included); reaped when its pidfd says it has gone. */
static void child_kill(struct child *c)
{
	if (c->stopping)
		return;
	c->stopping = true;
	if (c->w->cur == c)
		c->w->cur = NULL;
	(void)syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
	c->sock_src = sd_event_source_disable_unref(c->sock_src);
	if (c->sock >= 0)
		close(TAKE_FD(c->sock));
}

static void schedule_respawn(struct probe_libvirt_watch *w, unsigned delay_ms)
{
	(void)sd_event_source_set_time_relative(w->respawn, (uint64_t)delay_ms * 1000);
	(void)sd_event_source_set_enabled(w->respawn, SD_EVENT_ONESHOT);
}

/* The current child is done with (@why, unescaped): unreachable, said once; another child after a backoff. */
static void lost(struct probe_libvirt_watch *w, const char *why, bool was_listed)
{
	if (w->cur)
		child_kill(w->cur);
	(void)sd_event_source_set_enabled(w->deadline, SD_EVENT_OFF);
	if (w->reach != REACH_DOWN) {
		w->reach = REACH_DOWN;
		say(w, "%s unreachable: %s; its %zu VM(s) known stay watched over their sockets, listed again when it "
		       "answers",
		    w->uri, why, w->n_known);
		if (w->ops.reachable)
			w->ops.reachable(w, false, why, w->userdata);
	}
	/* A connection that had listed and then closed (libvirtd restarting): try again at once. */
	if (was_listed) {
		w->backoff_ms = BACKOFF_MIN_MS;
		schedule_respawn(w, 0);
		return;
	}
	schedule_respawn(w, w->backoff_ms);
	w->backoff_ms = w->backoff_ms >= BACKOFF_MAX_MS / 2 ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

static struct known *known_find(struct probe_libvirt_watch *w, const char *uuid)
{
	for (size_t i = 0; i < w->n_known; i++)
		if (strcmp(w->known[i].uuid, uuid) == 0)
			return &w->known[i];
	return NULL;
}

static void known_drop(struct probe_libvirt_watch *w, struct known *k, enum probe_libvirt_gone why)
{
	struct known copy = *k;

	*k = w->known[--w->n_known];
	if (w->ops.removed)
		w->ops.removed(w, copy.name, copy.uuid, why, w->userdata);
}

static void on_added(struct probe_libvirt_watch *w, const struct wire *m)
{
	struct known *k = known_find(w, m->uuid);

	if (k && strcmp(k->name, m->name) == 0 && strcmp(k->path, m->text) == 0 && k->tpm == !!m->tpm) {
		k->seen = true;
		return;
	}
	if (k) /* restarted at a new path (or renamed): its owner's doing */
		known_drop(w, k, PROBE_LIBVIRT_GONE_STOPPED);
	if (strlen(m->text) >= sizeof(k->path)) {
		/* Never cut: a shortened socket path would name another socket. */
		say(w, "%s: domain %s: its channel's socket path is longer than %zu bytes; not watched", w->uri,
		    m->name, sizeof(k->path) - 1);
		return;
	}
	if (w->n_known >= MAX_KNOWN) {
		/* A libvirtd announcing more domains than a fleet can hold: the rest ignored, said once. */
		if (!w->full_said)
			say(w, "%s: more than %d domains with the channel; the others are not watched", w->uri, MAX_KNOWN);
		w->full_said = true;
		return;
	}
	{
		struct known *a = reallocarray(w->known, w->n_known + 1, sizeof(*a));

		if (!a)
			return;
		w->known = a;
		k = &w->known[w->n_known++];
		memset(k, 0, sizeof(*k));
		snprintf(k->name, sizeof(k->name), "%s", m->name);
		snprintf(k->uuid, sizeof(k->uuid), "%s", m->uuid);
		memcpy(k->path, m->text, strlen(m->text) + 1); /* fits: checked above */
		k->tpm = m->tpm;
		k->seen = true;
	}
	if (w->ops.added)
		w->ops.added(w, k->name, k->uuid, k->path, k->tpm, w->userdata);
}

/* The first listing of a child: the source answers again; what it no longer lists is gone. */
static void on_listed(struct probe_libvirt_watch *w)
{
	bool again = w->reach == REACH_DOWN;

	if (!w->listed) {
		w->listed = true;
		for (size_t i = 0; i < w->n_known;)
			if (!w->known[i].seen)
				/* Reconciliation after a (re)connect: not running, or no channel, any more. */
				known_drop(w, &w->known[i], PROBE_LIBVIRT_GONE_RECONCILED);
			else
				i++;
	}
	w->backoff_ms = BACKOFF_MIN_MS;
	if (w->reach != REACH_UP) {
		w->reach = REACH_UP;
		say(w, "%s %s: %zu domain(s) with the channel", w->uri, again ? "reachable again" : "connected",
		    w->n_known);
		if (w->ops.reachable)
			w->ops.reachable(w, true, "", w->userdata);
	}
}

/* One record from the current child, checked: a fixed size, every string ended inside its field. */
static void on_record(struct probe_libvirt_watch *w, struct wire *m)
{
	m->name[sizeof(m->name) - 1] = m->uuid[sizeof(m->uuid) - 1] = m->text[sizeof(m->text) - 1] = '\0';
	switch (m->type) {
	case MSG_ALIVE:
		break;
	case MSG_ADDED:
		if (m->name[0] && m->uuid[0]) /* a path too long for a socket address: on_added() says so */
			on_added(w, m);
		break;
	case MSG_REMOVED: {
		struct known *k = known_find(w, m->uuid);

		/* Stopped, crashed, undefined or its channel unplugged: its owner's doing. */
		if (k)
			known_drop(w, k, PROBE_LIBVIRT_GONE_STOPPED);
		break;
	}
	case MSG_LISTED:
		on_listed(w);
		break;
	case MSG_LOG:
		say(w, "%s", m->text);
		break;
	case MSG_FAILED:
	default: {
		bool was = w->listed;

		lost(w, m->type == MSG_FAILED && m->text[0] ? m->text : "the discovery process failed", was);
		break;
	}
	}
}

static int on_sock(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct child *c = userdata;
	struct probe_libvirt_watch *w = c->w;

	(void)s;
	(void)revents;
	for (int i = 0; i < MAX_MSGS_PER_WAKE && w->cur == c; i++) {
		struct wire m;
		ssize_t n = recv(fd, &m, sizeof(m), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n != (ssize_t)sizeof(m)) {
			/* EOF (the child ended) or a record of another size: done with this child. */
			lost(w, n == 0 ? "the discovery process ended" : "the discovery process sent a bad record",
			     w->listed);
			return 0;
		}
		w->last_heard_ms = sc_now_ms();
		on_record(w, &m);
	}
	return 0;
}

static int on_child_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct child *c = userdata;
	struct probe_libvirt_watch *w = c->w;
	siginfo_t si;

	(void)s;
	(void)revents;
	memset(&si, 0, sizeof(si));
	/* Readable: it has exited. Reaped here (ECHILD: already reaped). */
	if (waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) == 0 && si.si_pid == 0)
		return 0; /* not yet */
	/* What it sent before it ended is read first (a domain stopped right before libvirtd went is a stop,
	 * not a domain vanished): on_sock() until the socket is empty (EAGAIN) or at its end (lost()). The
	 * socket holds what a SEQPACKET socket buffer holds, so this ends. */
	for (unsigned i = 0; w->cur == c && c->sock >= 0 && i < 1024; i++) {
		struct pollfd p = { .fd = c->sock, .events = POLLIN };

		if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP)))
			break;
		(void)on_sock(NULL, c->sock, 0, c);
	}
	if (w->cur == c)
		lost(w, "the discovery process ended", w->listed);
	child_free(c);
	return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct probe_libvirt_watch *w = userdata;

	if (w->cur && sc_now_ms() - w->last_heard_ms > (long long)w->timeout_ms) {
		char why[200];

		snprintf(why, sizeof(why), "no answer within %u s (%s)", w->timeout_ms / 1000,
			 w->listed ? "a call on the connection" : "connecting and listing the domains");
		lost(w, why, false);
		return 0;
	}
	(void)sd_event_source_set_time(s, usec + 1000000); /* enabled SD_EVENT_ON by spawn(): stays armed */
	return 0;
}

static int spawn(struct probe_libvirt_watch *w)
{
	struct child *c;
	int sv[2], r;
	pid_t parent = getpid(), pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0) {
		close(sv[0]);
		child_main(sv[1], parent, w->uri, w->port);
	}
	close(sv[1]);
	c = calloc(1, sizeof(*c));
	if (!c) {
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		close(sv[0]);
		return -ENOMEM;
	}
	c->w = w;
	c->pid = pid;
	c->sock = sv[0];
	c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	c->next = w->children;
	w->children = c;
	if (c->pidfd < 0) {
		r = -errno;
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		child_free(c);
		return r;
	}
	r = sd_event_add_io(w->event, &c->pid_src, c->pidfd, EPOLLIN, on_child_exit, c);
	if (r >= 0)
		r = sd_event_add_io(w->event, &c->sock_src, c->sock, EPOLLIN, on_sock, c);
	if (r < 0) {
		(void)syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
		(void)waitpid(pid, NULL, 0);
		child_free(c);
		return r;
	}
	w->cur = c;
	w->listed = false;
	for (size_t i = 0; i < w->n_known; i++)
		w->known[i].seen = false;
	w->last_heard_ms = sc_now_ms();
	(void)sd_event_source_set_time_relative(w->deadline, 1000000);
	(void)sd_event_source_set_enabled(w->deadline, SD_EVENT_ON);
	return 0;
}

static int on_respawn(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct probe_libvirt_watch *w = userdata;
	int r;

	(void)s;
	(void)usec;
	r = spawn(w);
	if (r < 0) {
		char why[120];

		snprintf(why, sizeof(why), "starting the discovery process: %s", strerror(-r));
		lost(w, why, false);
	}
	return 0;
}

int probe_libvirt_watch_new(sd_event *e, const char *uri, const char *port, unsigned call_timeout_ms,
			    const struct probe_libvirt_watch_ops *ops, void *userdata, struct probe_libvirt_watch **ret)
{
	struct probe_libvirt_watch *w;
	int r;

	/* The child binds libvirt's events to a loop of its own: impossible once this process bound them. */
	if (probe_libvirt_event_bound())
		return -EBUSY;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->event = sd_event_ref(e);
	w->uri = strdup(uri ? uri : PROBE_LIBVIRT_DEFAULT_URI);
	w->port = strdup(port);
	w->timeout_ms = call_timeout_ms ? call_timeout_ms : PROBE_LIBVIRT_CALL_TIMEOUT_MS;
	w->backoff_ms = BACKOFF_MIN_MS;
	if (ops)
		w->ops = *ops;
	w->userdata = userdata;
	if (!w->uri || !w->port) {
		probe_libvirt_watch_free(w);
		return -ENOMEM;
	}
	r = sd_event_add_time(e, &w->deadline, CLOCK_MONOTONIC, 0, 100000, on_deadline, w);
	if (r >= 0)
		r = sd_event_source_set_enabled(w->deadline, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_time(e, &w->respawn, CLOCK_MONOTONIC, 0, 100000, on_respawn, w);
	if (r >= 0)
		r = sd_event_source_set_enabled(w->respawn, SD_EVENT_OFF);
	if (r >= 0)
		r = spawn(w);
	if (r < 0) {
		probe_libvirt_watch_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

struct probe_libvirt_watch *probe_libvirt_watch_free(struct probe_libvirt_watch *w)
{
	long long deadline;

	if (!w)
		return NULL;
	/* Every child killed, then reaped: at most a second in all (SIGKILL ends even one inside an RPC). */
	for (struct child *c = w->children; c; c = c->next)
		(void)syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
	deadline = sc_now_ms() + 1000;
	while (w->children) {
		struct child *c = w->children;
		struct pollfd p = { .fd = c->pidfd, .events = POLLIN };
		long long left = deadline - sc_now_ms();

		if (left > 0 && poll(&p, 1, (int)left) == 1)
			(void)waitid((idtype_t)P_PIDFD, (id_t)c->pidfd, &(siginfo_t){ 0 }, WEXITED | WNOHANG);
		child_free(c);
	}
	sd_event_source_disable_unref(w->deadline);
	sd_event_source_disable_unref(w->respawn);
	sd_event_unref(w->event);
	free(w->known);
	free(w->uri);
	free(w->port);
	free(w);
	return NULL;
}

bool probe_libvirt_watch_reachable(const struct probe_libvirt_watch *w)
{
	return w && w->reach == REACH_UP;
}

int probe_libvirt_watch_pid(const struct probe_libvirt_watch *w)
{
	return w && w->cur ? (int)w->cur->pid : 0;
}
