/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The probe's child processes: helper tools are bounded by a timeout and leave nothing running. */
#include "unit.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe-spawn.h"

static char logpath[] = "/tmp/sealcheck-spawn-XXXXXX";

static void test_helper_ok_and_failing(void **state)
{
	const char *ok[] = { "true", NULL }, *bad[] = { "false", NULL }, *none[] = { "sealcheck-no-such-tool", NULL };

	(void)state;
	assert_int_equal(probe_spawn_wait(ok, logpath, 5000), 0);
	assert_int_equal(probe_spawn_wait(bad, logpath, 5000), -EIO);
	assert_int_equal(probe_spawn_wait(none, logpath, 5000), -ENOENT);
}

/* A helper that hangs is killed at its timeout and reaped: no process is left behind. */
static void test_helper_timeout(void **state)
{
	char pidfile[64];
	FILE *f;
	int pid = 0;

	(void)state;
	snprintf(pidfile, sizeof(pidfile), "%s.pid", logpath);
	/* sh -c SCRIPT NAME: $0 is the pid file. */
	{
		const char *a[] = { "sh", "-c", "echo $$ >\"$0\"; exec sleep 60", pidfile, NULL };

		assert_int_equal(probe_spawn_wait(a, logpath, 300), -ETIMEDOUT);
	}
	f = fopen(pidfile, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	unlink(pidfile);
	assert_true(pid > 0);
	assert_int_equal(kill(pid, 0), -1); /* killed and reaped */
	assert_int_equal(errno, ESRCH);
}

/* A child started to die with its parent gets SIGKILL when the parent goes, whatever kills the parent. */
static void test_parent_death(void **state)
{
	char pidfile[64];
	pid_t mid;
	int status, pid = 0;
	FILE *f;

	(void)state;
	snprintf(pidfile, sizeof(pidfile), "%s.child", logpath);
	mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		const char *a[] = { "sh", "-c", "echo $$ >\"$0\"; exec sleep 60", pidfile, NULL };
		pid_t child;
		int pidfd;

		if (probe_spawn(a, 2, true, &child, &pidfd) < 0)
			_exit(1);
		for (int i = 0; i < 200 && access(pidfile, F_OK) < 0; i++)
			usleep(10000);
		usleep(50000);
		_exit(0); /* the probe "dies" without cleanup */
	}
	assert_int_equal(waitpid(mid, &status, 0), mid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	f = fopen(pidfile, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	unlink(pidfile);
	/* Its parent is gone: the kernel sent SIGKILL; init reaps it. */
	for (int i = 0; i < 500 && kill(pid, 0) == 0; i++) {
		char path[64], st = 0;
		FILE *s;

		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		s = fopen(path, "r");
		if (s && fscanf(s, "%*d %*s %c", &st) == 1 && st == 'Z') {
			fclose(s);
			break;
		}
		if (s)
			fclose(s);
		usleep(10000);
	}
	{
		char path[64], st = 'R';
		FILE *s;

		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		s = fopen(path, "r");
		if (s) {
			if (fscanf(s, "%*d %*s %c", &st) != 1)
				st = 'R';
			fclose(s);
			assert_int_equal(st, 'Z');
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_helper_ok_and_failing),
		cmocka_unit_test(test_helper_timeout),
		cmocka_unit_test(test_parent_death),
	};
	int fd = mkstemp(logpath), r;

	if (fd < 0)
		return 1;
	close(fd);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(logpath);
	return r;
}
