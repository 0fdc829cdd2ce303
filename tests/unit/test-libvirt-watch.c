/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * probe-libvirt-watch: discovery in a child process, against libvirt's own
 * test driver loaded from a file the test writes (test:///PATH: real libvirt,
 * real live XML, no daemon; the child reads the file at each connect), and
 * against a UNIX socket that accepts and never answers. A program of its own:
 * the child binds libvirt's events, which this process must never have done
 * (the last case binds them, and shows watch then refuses).
 */
#include "unit.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "probe-libvirt-watch.h"
#include "probe-libvirt.h"
#include "sc-io.h"
#include "sc-macro.h"

#define PORT "org.sealcheck.attest.0"

static sd_event *loop;
static char tmpdir[] = "/tmp/test-libvirt-watch-XXXXXX";

struct seen {
	unsigned added, removed, reconciled, up, down, unreachable_logs;
	bool reachable;
	char added_names[8][64], removed_name[64];
};

static void on_added(struct probe_libvirt_watch *w, const char *name, const char *uuid, const char *path, bool tpm,
		     void *userdata)
{
	struct seen *s = userdata;

	(void)w;
	(void)uuid;
	(void)path;
	(void)tpm;
	if (s->added < ELEMENTSOF(s->added_names))
		snprintf(s->added_names[s->added], sizeof(s->added_names[0]), "%s", name);
	s->added++;
}

static void on_removed(struct probe_libvirt_watch *w, const char *name, const char *uuid, enum probe_libvirt_gone why,
		       void *userdata)
{
	struct seen *s = userdata;

	(void)w;
	(void)uuid;
	s->removed++;
	s->reconciled += why == PROBE_LIBVIRT_GONE_RECONCILED;
	snprintf(s->removed_name, sizeof(s->removed_name), "%s", name);
}

static void on_log(struct probe_libvirt_watch *w, const char *msg, void *userdata)
{
	struct seen *s = userdata;

	(void)w;
	s->unreachable_logs += strstr(msg, "unreachable") != NULL;
}

static void on_reachable(struct probe_libvirt_watch *w, bool up, const char *why, void *userdata)
{
	struct seen *s = userdata;

	(void)w;
	(void)why;
	s->reachable = up;
	if (up)
		s->up++;
	else
		s->down++;
}

static const struct probe_libvirt_watch_ops ops = {
	.added = on_added, .removed = on_removed, .log = on_log, .reachable = on_reachable
};

/* Run the loop until *@counter reaches @want, for @ms at most. */
static void run_until(unsigned *counter, unsigned want, long long ms)
{
	long long deadline = sc_now_ms() + ms;

	while (*counter < want && sc_now_ms() < deadline)
		assert_true(sd_event_run(loop, 100000) >= 0);
	assert_int_equal(*counter, want);
}

static void write_node(const char *path, const char *const *names)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	fputs("<node>\n", f);
	for (size_t i = 0; names[i]; i++)
		fprintf(f,
			"<domain type='test'><name>%s</name><uuid>6695eb01-f6a4-8304-79aa-97f2502e19%02x</uuid>"
			"<memory>65536</memory><os><type>hvm</type></os><devices><channel type='unix'>"
			"<source mode='bind' path='/run/sealcheck-test/%s/" PORT "'/>"
			"<target type='virtio' name='" PORT "'/></channel></devices></domain>\n",
			names[i], (unsigned)(unsigned char)names[i][strlen(names[i]) - 1], names[i]); /* a UUID per name */
	fputs("</node>\n", f);
	assert_int_equal(fclose(f), 0);
}

static bool pid_alive(int pid)
{
	return pid > 0 && kill(pid, 0) == 0;
}

/* Connected, the domains listed; the child killed: unreachable, no VM dropped; the next listing reconciles. */
static void reconcile(void **state)
{
	static const char *const first[] = { "vm-a", "vm-b", NULL }, *const second[] = { "vm-a", "vm-c", NULL };
	char path[128], uri[160];
	struct seen s = { 0 };
	struct probe_libvirt_watch *w = NULL;
	int pid;

	(void)state;
	snprintf(path, sizeof(path), "%s/node.xml", tmpdir);
	snprintf(uri, sizeof(uri), "test://%s", path);
	write_node(path, first);
	assert_int_equal(probe_libvirt_watch_new(loop, uri, PORT, 2000, &ops, &s, &w), 0);
	run_until(&s.up, 1, 10000);
	assert_true(probe_libvirt_watch_reachable(w));
	assert_int_equal(s.added, 2);
	assert_int_equal(s.removed, 0);
	/* An idle connection is no missed deadline: the child says it is alive every second, for good. */
	{
		long long until = sc_now_ms() + 4500;

		while (sc_now_ms() < until)
			assert_true(sd_event_run(loop, 100000) >= 0);
		assert_int_equal(s.down, 0);
		assert_true(probe_libvirt_watch_reachable(w));
	}

	/* The source goes away (its process killed, as a deadline would): both VMs stay. */
	write_node(path, second);
	pid = probe_libvirt_watch_pid(w);
	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	run_until(&s.down, 1, 5000);
	assert_false(probe_libvirt_watch_reachable(w));
	assert_int_equal(s.removed, 0);
	assert_int_equal(s.unreachable_logs, 1);

	/* The next listing: vm-b no longer there (reconciled away), vm-c new, vm-a kept (not announced again). */
	run_until(&s.up, 2, 10000);
	assert_int_equal(s.removed, 1);
	assert_int_equal(s.reconciled, 1);
	assert_string_equal(s.removed_name, "vm-b");
	assert_int_equal(s.added, 3);
	assert_string_equal(s.added_names[2], "vm-c");
	assert_false(pid_alive(pid));
	pid = probe_libvirt_watch_pid(w);
	probe_libvirt_watch_free(w);
	assert_false(pid_alive(pid));
}

/* A daemon that accepts and never answers: the deadline says unreachable once; free() ends the hung child. */
static void hung(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char uri[200];
	struct seen s = { 0 };
	struct probe_libvirt_watch *w = NULL;
	int fd, first, pid;
	long long t0;

	(void)state;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/hung.sock", tmpdir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* Never accept()ed: the client's connect completes through the backlog, its calls are never read. */
	assert_int_equal(listen(fd, 16), 0);
	snprintf(uri, sizeof(uri), "qemu+unix:///system?socket=%s", sa.sun_path);

	assert_int_equal(probe_libvirt_watch_new(loop, uri, PORT, 1500, &ops, &s, &w), 0);
	first = probe_libvirt_watch_pid(w);
	run_until(&s.down, 1, 6000);
	assert_int_equal(s.up, 0);
	assert_int_equal(s.unreachable_logs, 1);
	/* A second child after the backoff (1 s), hung as well and past its deadline too: said once only. */
	{
		long long deadline = sc_now_ms() + 8000;

		while (sc_now_ms() < deadline && (probe_libvirt_watch_pid(w) == 0 || probe_libvirt_watch_pid(w) == first))
			assert_true(sd_event_run(loop, 100000) >= 0);
		assert_true(probe_libvirt_watch_pid(w) > 0);
		deadline = sc_now_ms() + 3000;
		while (sc_now_ms() < deadline)
			assert_true(sd_event_run(loop, 100000) >= 0);
	}
	assert_int_equal(s.down, 1);
	assert_int_equal(s.unreachable_logs, 1);
	assert_false(pid_alive(first));

	/* Freed while its child is inside an RPC that never returns: ended at once, nothing left. */
	pid = probe_libvirt_watch_pid(w);
	t0 = sc_now_ms();
	probe_libvirt_watch_free(w);
	assert_true(sc_now_ms() - t0 < 1000);
	if (pid)
		assert_false(pid_alive(pid));
	close(fd);
	unlink(sa.sun_path);
}

/* Once this process bound libvirt's events (run --libvirt's way), watch's child could not: refused. */
static void bound(void **state)
{
	struct probe_libvirt_watch *w = NULL;

	(void)state;
	assert_int_equal(probe_libvirt_event_init(loop), 0);
	assert_true(probe_libvirt_event_bound());
	assert_int_equal(probe_libvirt_watch_new(loop, "test:///default", PORT, 0, &ops, NULL, &w), -EBUSY);
	assert_null(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reconcile),
		cmocka_unit_test(hung),
		cmocka_unit_test(bound),
	};
	char path[128];
	int r;

	assert_non_null(mkdtemp(tmpdir));
	assert_true(sd_event_new(&loop) >= 0);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	sd_event_unref(loop);
	snprintf(path, sizeof(path), "%s/node.xml", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return r;
}
