/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * probe-libvirt: libvirt's event loop interface on an sd-event loop, and
 * domain discovery, against libvirt's own in-process test driver
 * (test:///default: real libvirt, real domain XML and lifecycle events
 * dispatched through the event implementation, no daemon).
 */
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "probe-libvirt.h"
#include "sc-io.h"

#define PORT "org.sealcheck.attest.0"

static sd_event *loop;

struct seen {
	unsigned added, removed, logs;
	bool tpm;
	char name[256], uuid[64], path[PROBE_DOMAIN_PATH_MAX], removed_name[256], log[800];
};

static void on_added(struct probe_libvirt *l, const char *name, const char *uuid, const char *path, bool tpm,
		     void *userdata)
{
	struct seen *s = userdata;

	(void)l;
	s->added++;
	s->tpm = tpm;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->uuid, sizeof(s->uuid), "%s", uuid);
	snprintf(s->path, sizeof(s->path), "%s", path);
}

static void on_removed(struct probe_libvirt *l, const char *name, const char *uuid, void *userdata)
{
	struct seen *s = userdata;

	(void)l;
	(void)uuid;
	s->removed++;
	snprintf(s->removed_name, sizeof(s->removed_name), "%s", name);
}

static void on_log(struct probe_libvirt *l, const char *msg, void *userdata)
{
	struct seen *s = userdata;

	(void)l;
	s->logs++;
	snprintf(s->log, sizeof(s->log), "%s", msg);
}

/* Run the loop until *@counter reaches @want, for 5 s at most (the events are due at once). */
static void run_until(unsigned *counter, unsigned want)
{
	long long deadline = sc_now_ms() + 5000;

	while (*counter < want && sc_now_ms() < deadline)
		assert_true(sd_event_run(loop, 100000) >= 0);
	assert_int_equal(*counter, want);
}

static unsigned threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	unsigned n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ---- the event implementation itself ---- */

struct cb_state {
	int fires, freed, fd;
};

static void timeout_cb(int timer, void *opaque)
{
	struct cb_state *c = opaque;

	c->fires++;
	if (c->fires == 3)
		virEventUpdateTimeout(timer, -1); /* off */
}

static void handle_cb(int watch, int fd, int events, void *opaque)
{
	struct cb_state *c = opaque;
	char buf[16];

	(void)watch;
	assert_int_equal(fd, c->fd);
	assert_true(events & VIR_EVENT_HANDLE_READABLE);
	assert_true(read(fd, buf, sizeof(buf)) > 0);
	c->fires++;
}

static void free_cb(void *opaque)
{
	((struct cb_state *)opaque)->freed++;
}

static void timeouts(void **state)
{
	struct cb_state c = { 0 }, p = { 0 };
	int id;

	(void)state;
	/* Period 0: due on every iteration until it is turned off (at the third). */
	id = virEventAddTimeout(0, timeout_cb, &c, free_cb);
	assert_true(id > 0);
	run_until((unsigned *)&c.fires, 3);
	for (int i = 0; i < 5; i++)
		assert_true(sd_event_run(loop, 1000) >= 0);
	assert_int_equal(c.fires, 3);
	/* A period: 20 ms. */
	id = virEventAddTimeout(20, timeout_cb, &p, free_cb);
	{
		long long t0 = sc_now_ms();

		run_until((unsigned *)&p.fires, 1);
		assert_true(sc_now_ms() - t0 >= 19);
	}
	/* Removed: its free callback runs later, on the loop, never inside the remove. */
	assert_int_equal(virEventRemoveTimeout(id), 0);
	assert_int_equal(p.freed, 0);
	assert_int_equal(virEventRemoveTimeout(id), -1);
	run_until((unsigned *)&p.freed, 1);
	assert_int_equal(p.fires, 1);
}

static void handles(void **state)
{
	struct cb_state c = { 0 };
	int pfd[2], id;

	(void)state;
	assert_int_equal(pipe2(pfd, O_CLOEXEC | O_NONBLOCK), 0);
	c.fd = pfd[0];
	id = virEventAddHandle(pfd[0], VIR_EVENT_HANDLE_READABLE, handle_cb, &c, free_cb);
	assert_true(id > 0);
	assert_int_equal(write(pfd[1], "x", 1), 1);
	run_until((unsigned *)&c.fires, 1);
	/* Not interested: no callback although data waits. */
	virEventUpdateHandle(id, 0);
	assert_int_equal(write(pfd[1], "y", 1), 1);
	for (int i = 0; i < 5; i++)
		assert_true(sd_event_run(loop, 1000) >= 0);
	assert_int_equal(c.fires, 1);
	virEventUpdateHandle(id, VIR_EVENT_HANDLE_READABLE);
	run_until((unsigned *)&c.fires, 2);
	assert_int_equal(virEventRemoveHandle(id), 0);
	assert_int_equal(c.freed, 0);
	run_until((unsigned *)&c.freed, 1);
	close(pfd[0]);
	close(pfd[1]);
}

/* ---- discovery through a real libvirt connection ---- */

static const char *domain_xml(const char *name, const char *channel_path)
{
	static char xml[2048];

	snprintf(xml, sizeof(xml),
		 "<domain type='test'><name>%s</name><memory>65536</memory><os><type>hvm</type></os><devices>"
		 "<channel type='unix'><source mode='bind' path='%s'/><target type='virtio' name='" PORT "'/></channel>"
		 "</devices></domain>",
		 name, channel_path);
	return xml;
}

static void discovery(void **state)
{
	static const struct probe_libvirt_ops ops = { .added = on_added, .removed = on_removed, .log = on_log };
	struct seen s = { 0 };
	struct probe_libvirt *l = NULL;
	virConnectPtr conn;
	virDomainPtr d1, d2, d3;
	char uuid[VIR_UUID_STRING_BUFLEN];

	(void)state;
	assert_int_equal(probe_libvirt_new(loop, "test:///default", PORT, &ops, &s, &l), 0);
	assert_non_null(probe_libvirt_conn(l));
	/* Discovery's connection is read-only: the test defines domains over a read-write one of its own
	 * (test:///default is one shared driver state in the process). */
	assert_null(virDomainCreateXML(probe_libvirt_conn(l), domain_xml("vm-ro", "/run/sealcheck-test/ro/" PORT), 0));
	conn = virConnectOpen("test:///default");
	assert_non_null(conn);
	/* The test driver's own running domain "test" has no channel: not announced. */
	for (int i = 0; i < 5; i++)
		assert_true(sd_event_run(loop, 1000) >= 0);
	assert_int_equal(s.added, 0);

	/* Started with the channel: announced from the STARTED event, with its live path and UUID. */
	d1 = virDomainCreateXML(conn, domain_xml("vm-one", "/run/sealcheck-test/one/" PORT), 0);
	assert_non_null(d1);
	run_until(&s.added, 1);
	assert_string_equal(s.name, "vm-one");
	assert_string_equal(s.path, "/run/sealcheck-test/one/" PORT);
	assert_int_equal(virDomainGetUUIDString(d1, uuid), 0);
	assert_string_equal(s.uuid, uuid);

	/* A hostile path: logged, not announced. */
	d2 = virDomainCreateXML(conn, domain_xml("vm-two", "relative/" PORT), 0);
	assert_non_null(d2);
	run_until(&s.logs, 1);
	if (!strstr(s.log, "vm-two"))
		fail_msg("log: %s", s.log);
	assert_non_null(strstr(s.log, "refused"));
	assert_int_equal(s.added, 1);

	/* Stopped: removed. */
	assert_int_equal(virDomainDestroy(d1), 0);
	run_until(&s.removed, 1);
	assert_string_equal(s.removed_name, "vm-one");
	/* A domain never announced is never removed. */
	assert_int_equal(virDomainDestroy(d2), 0);
	for (int i = 0; i < 5; i++)
		assert_true(sd_event_run(loop, 1000) >= 0);
	assert_int_equal(s.removed, 1);

	/* Announced at connect: a second watcher finds the domain that already runs. */
	d3 = virDomainCreateXML(conn, domain_xml("vm-three", "/run/sealcheck-test/three/" PORT), 0);
	assert_non_null(d3);
	run_until(&s.added, 2);
	{
		struct seen s2 = { 0 };
		struct probe_libvirt *l2 = NULL;

		/* test:///default is one state for the process: the second connection lists vm-three at once. */
		assert_int_equal(probe_libvirt_new(loop, "test:///default", PORT, &ops, &s2, &l2), 0);
		assert_int_equal(s2.added, 1);
		assert_string_equal(s2.name, "vm-three");
		assert_string_equal(s2.path, "/run/sealcheck-test/three/" PORT);
		probe_libvirt_free(l2);
	}
	{
		/* No added or removed: the connection only, nothing listed or announced (run --libvirt). */
		static const struct probe_libvirt_ops quiet = { .log = on_log };
		struct seen s3 = { 0 };
		struct probe_libvirt *l3 = NULL;
		virDomainPtr d4;

		assert_int_equal(probe_libvirt_new(loop, "test:///default", PORT, &quiet, &s3, &l3), 0);
		assert_non_null(probe_libvirt_conn(l3));
		d4 = virDomainCreateXML(conn, domain_xml("vm-four", "/run/sealcheck-test/four/" PORT), 0);
		assert_non_null(d4);
		run_until(&s.added, 3); /* the first watcher sees it */
		assert_int_equal(s3.added + s3.removed + s3.logs, 0);
		virDomainFree(d4);
		probe_libvirt_free(l3);
	}
	/* Everything on the one thread: libvirt's events ran on the sd-event loop. */
	assert_int_equal(threads(), 1);

	virDomainFree(d1);
	virDomainFree(d2);
	virDomainFree(d3);
	virConnectClose(conn);
	probe_libvirt_free(l);
	probe_libvirt_event_flush();
}

static void unreachable(void **state)
{
	static const struct probe_libvirt_ops ops = { .added = on_added, .removed = on_removed, .log = on_log };
	struct seen s = { 0 };
	struct probe_libvirt *l = NULL;

	(void)state;
	/* No daemon at this socket: set up anyway, the failure logged and retried with backoff. */
	assert_int_equal(probe_libvirt_new(loop, "qemu+unix:///system?socket=/nonexistent/libvirt-sock", PORT, &ops, &s,
					   &l),
			 0);
	assert_null(probe_libvirt_conn(l));
	assert_true(s.logs >= 1);
	assert_non_null(strstr(s.log, "retrying"));
	assert_true(probe_libvirt_last_error(l)[0] != '\0');
	/* The first retry comes after 1 s and fails again, logging the next delay (2 s). */
	run_until(&s.logs, 2);
	assert_non_null(strstr(s.log, "again in 2 s"));
	probe_libvirt_free(l);
}

static void uris(void **state)
{
	(void)state;
	assert_true(probe_libvirt_is_uri("qemu:///system"));
	assert_true(probe_libvirt_is_uri("qemu+ssh://root@host/system"));
	assert_true(probe_libvirt_is_uri("test:///default"));
	assert_false(probe_libvirt_is_uri("/var/lib/images/demo"));
	assert_false(probe_libvirt_is_uri("demo-image"));
	assert_false(probe_libvirt_is_uri("./a:b"));
	assert_false(probe_libvirt_is_uri(":x"));
	assert_false(probe_libvirt_is_uri("Qemu:///system"));
	assert_false(probe_libvirt_is_uri(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uris),	      cmocka_unit_test(timeouts),    cmocka_unit_test(handles),
		cmocka_unit_test(discovery), cmocka_unit_test(unreachable),
	};
	int r;

	assert_true(sd_event_new(&loop) >= 0);
	assert_int_equal(probe_libvirt_event_init(loop), 0);
	assert_int_equal(probe_libvirt_event_init(loop), 0);
	{
		sd_event *other = NULL;

		assert_true(sd_event_new(&other) >= 0);
		assert_int_equal(probe_libvirt_event_init(other), -EBUSY);
		sd_event_unref(other);
	}
	r = cmocka_run_group_tests(tests, NULL, NULL);
	sd_event_unref(loop);
	return r;
}
