/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * probe-workdir: the owner record (strict), whether an owner is gone (real
 * processes: this one, a child that exited), and the reaper over a base
 * folder holding what killed probes leave, next to what it must never touch:
 * live owners, --keep directories (no owner), malformed records, symlinks,
 * folders of another name.
 */
#include "unit.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe-workdir.h"

static pid_t dead_pid(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void owner_dir(const char *base, const char *name, const struct probe_owner *o, char *ret)
{
	char rec[PROBE_OWNER_MAX];

	sprintf(ret, "%s/%s", base, name);
	assert_int_equal(mkdir(ret, 0700), 0);
	if (o) {
		assert_int_equal(probe_owner_format(o, rec, sizeof(rec)), 0);
		put(ret, PROBE_OWNER_FILE, rec);
	}
}

static bool exists(const char *base, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", base, name);
	return lstat(path, &st) == 0;
}

static void owner_round_trip(void **state)
{
	struct probe_owner o, back;
	char rec[PROBE_OWNER_MAX];

	(void)state;
	assert_int_equal(probe_owner_self(&o), 0);
	assert_int_equal(o.pid, getpid());
	assert_true(o.start > 0);
	assert_int_equal(strlen(o.boot_id), 36);
	assert_int_equal(probe_owner_format(&o, rec, sizeof(rec)), 0);
	assert_int_equal(probe_owner_parse(rec, strlen(rec), &back), 0);
	assert_string_equal(back.boot_id, o.boot_id);
	assert_int_equal(back.pid, o.pid);
	assert_true(back.start == o.start);
	assert_false(probe_owner_gone(&o));
	assert_int_equal(probe_owner_format(&o, rec, 20), -ENOBUFS);
}

static void owner_strict(void **state)
{
	static const char *const bad[] = {
		"",
		"sealcheck-probe owner v1 boot_id=0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11 pidns=4026531836 pid=12 start=34",   /* no LF */
		"sealcheck-probe owner v1 boot_id=0E6B1B4C-2d4b-4b8e-9a39-4a8e2d9b6f11 pidns=4026531836 pid=12 start=34\n", /* uppercase */
		"sealcheck-probe owner v1 boot_id=0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f1 pidns=4026531836 pid=12 start=34\n",  /* short UUID */
		"sealcheck-probe owner v1 boot_id=0e6b1b4c+2d4b-4b8e-9a39-4a8e2d9b6f11 pidns=4026531836 pid=12 start=34\n",
		"sealcheck-probe owner v1 boot_id=0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11 pidns=4026531836 pid=0 start=34\n",  /* pid 0 */
		"sealcheck-probe owner v1 boot_id=0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11 pidns=4026531836 pid=012 start=34\n",
		"sealcheck-probe owner v1 boot_id=0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11 pidns=4026531836 pid=-1 start=34\n",
		"sealcheck-probe owner v1 boot_id=0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11 pidns=4026531836 pid=2147483648 start=34\n",
		"sealcheck-probe owner v1 boot_id=0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11 pidns=4026531836 pid=12 start=18446744073709551616\n",
		"sealcheck-probe owner v1 boot_id=0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11 pidns=4026531836 pid=12 start=34\n\n",
		"sealcheck-probe owner v1 boot_id=0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11 pidns=4026531836 pid=12  start=34\n",
		"sealcheck-probe owner v2 boot_id=0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11 pidns=4026531836 pid=12 start=34\n",
		"sealcheck-probe owner v1 boot_id=0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11 pidns=4026531836 pid=12 start=\n",
		"sealcheck-probe owner v1 boot_id=0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11 pid=12 start=34\n", /* no pidns */
		"sealcheck-probe owner v1 boot_id=0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11 pidns= pid=12 start=34\n",
	};
	struct probe_owner o;
	const char *good = "sealcheck-probe owner v1 boot_id=0e6b1b4c-2d4b-4b8e-9a39-4a8e2d9b6f11 pidns=4026531836 pid=2147483647 "
			   "start=18446744073709551615\n";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(probe_owner_parse(bad[i], strlen(bad[i]), &o), -EBADMSG);
	/* A NUL inside: the length counts, not the C string. */
	assert_int_equal(probe_owner_parse(good, strlen(good) - 1, &o), -EBADMSG);
	assert_int_equal(probe_owner_parse(good, strlen(good), &o), 0);
	assert_int_equal(o.pid, 2147483647);
	assert_true(o.start == 18446744073709551615ULL);
}

static void owner_gone(void **state)
{
	struct probe_owner o;

	(void)state;
	assert_int_equal(probe_owner_self(&o), 0);
	o.start++; /* this pid, but started at another time: a reused pid */
	assert_true(probe_owner_gone(&o));
	assert_int_equal(probe_owner_self(&o), 0);
	o.pid = dead_pid();
	assert_true(probe_owner_gone(&o));
	assert_int_equal(probe_owner_self(&o), 0);
	o.boot_id[0] = o.boot_id[0] == '0' ? '1' : '0'; /* another boot */
	assert_true(probe_owner_gone(&o));
	/* A dead pid, but of another PID namespace: it means nothing here, so it is kept. */
	assert_int_equal(probe_owner_self(&o), 0);
	o.pid = dead_pid();
	o.pid_ns++;
	assert_false(probe_owner_gone(&o));
}

static void reap(void **state)
{
	char base[] = "/tmp/sealcheck-test-workdir.XXXXXX", path[PATH_MAX], outside[PATH_MAX];
	struct probe_owner self, dead;

	(void)state;
	assert_non_null(mkdtemp(base));
	assert_int_equal(probe_owner_self(&self), 0);
	dead = self;
	dead.pid = dead_pid();

	/* A killed probe's work directory, with a TPM state two levels down and a symlink out. */
	owner_dir(base, "sealcheck-probe.dead01", &dead, path);
	strcat(path, "/tpm");
	assert_int_equal(mkdir(path, 0700), 0);
	strcat(path, "/localca");
	assert_int_equal(mkdir(path, 0700), 0);
	put(path, "signkey.pem", "key\n");
	snprintf(outside, sizeof(outside), "%s/outside", base);
	assert_int_equal(mkdir(outside, 0700), 0);
	put(outside, "precious", "keep me\n");
	snprintf(path, sizeof(path), "%s/sealcheck-probe.dead01/link", base);
	assert_int_equal(symlink(outside, path), 0);
	owner_dir(base, "sealcheck-probe.dead02", &dead, path);
	put(path, "vars.fd", "x");

	owner_dir(base, "sealcheck-probe.live01", &self, path); /* a probe still running */
	owner_dir(base, "sealcheck-probe.keep01", NULL, path);  /* --keep: no owner */
	owner_dir(base, "sealcheck-probe.bad001", NULL, path);
	put(path, PROBE_OWNER_FILE, "sealcheck-probe owner v1 boot_id=nonsense pidns=1 pid=1 start=1\n");
	owner_dir(base, "another-tool.dead01", &dead, path); /* not ours by name */
	owner_dir(base, "sealcheck-probe.fifo01", NULL, path); /* an owner that is a FIFO: read without blocking, kept */
	strcat(path, "/" PROBE_OWNER_FILE);
	assert_int_equal(mkfifo(path, 0600), 0);
	/* A symlink named like a work directory, to a directory whose owner is gone: never followed. */
	owner_dir(outside, "target", &dead, path);
	snprintf(path, sizeof(path), "%s/sealcheck-probe.link01", base);
	assert_int_equal(symlink(outside, path), 0);

	assert_int_equal(probe_workdir_reap(base), 2);
	assert_false(exists(base, "sealcheck-probe.dead01"));
	assert_false(exists(base, "sealcheck-probe.dead02"));
	assert_true(exists(base, "sealcheck-probe.live01"));
	assert_true(exists(base, "sealcheck-probe.keep01"));
	assert_true(exists(base, "sealcheck-probe.bad001"));
	assert_true(exists(base, "another-tool.dead01"));
	assert_true(exists(base, "sealcheck-probe.fifo01"));
	assert_true(exists(base, "sealcheck-probe.link01"));
	assert_true(exists(base, "outside/precious"));
	assert_true(exists(base, "outside/target/" PROBE_OWNER_FILE));
	assert_int_equal(probe_workdir_reap(base), 0);
	assert_int_equal(probe_workdir_reap("/nonexistent-sealcheck-base"), -ENOENT);

	/* create: reaps first, then an owned directory records this process; --keep's records none. */
	owner_dir(base, "sealcheck-probe.dead03", &dead, path);
	setenv("XDG_RUNTIME_DIR", base, 1);
	{
		char wd[256], wd2[256], why[200], rec[PROBE_OWNER_MAX + 1];
		struct probe_owner o;
		FILE *f;
		size_t n;

		assert_int_equal(probe_workdir_create(wd, sizeof(wd), NULL, 100, true, why, sizeof(why)), 0);
		assert_false(exists(base, "sealcheck-probe.dead03"));
		assert_int_equal(strncmp(wd, base, strlen(base)), 0);
		snprintf(path, sizeof(path), "%s/" PROBE_OWNER_FILE, wd);
		f = fopen(path, "r");
		assert_non_null(f);
		n = fread(rec, 1, sizeof(rec) - 1, f);
		fclose(f);
		assert_int_equal(probe_owner_parse(rec, n, &o), 0);
		assert_int_equal(o.pid, getpid());
		assert_int_equal(probe_workdir_create(wd2, sizeof(wd2), NULL, 100, false, why, sizeof(why)), 0);
		snprintf(path, sizeof(path), "%s/" PROBE_OWNER_FILE, wd2);
		assert_int_equal(access(path, F_OK), -1);
		probe_workdir_remove(wd);
		probe_workdir_remove(wd2);
		assert_int_equal(access(wd, F_OK), -1);
		/* A base too long for the caller's limit: /tmp instead. */
		assert_int_equal(probe_workdir_create(wd, sizeof(wd), NULL, 5, false, why, sizeof(why)), 0);
		assert_int_equal(strncmp(wd, "/tmp/" PROBE_WORKDIR_PREFIX, 5 + strlen(PROBE_WORKDIR_PREFIX)), 0);
		probe_workdir_remove(wd);
		/* A base given: there, whatever the environment says; it is reaped first too. */
		snprintf(path, sizeof(path), "%s/outside", base);
		owner_dir(path, "sealcheck-probe.dead04", &dead, wd2);
		assert_int_equal(probe_workdir_create(wd, sizeof(wd), path, 100, false, why, sizeof(why)), 0);
		assert_int_equal(strncmp(wd, path, strlen(path)), 0);
		assert_int_equal(access(wd2, F_OK), -1);
		probe_workdir_remove(wd);
	}
	unsetenv("XDG_RUNTIME_DIR");
	probe_workdir_remove(base);
	assert_int_equal(access(base, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(owner_round_trip),
		cmocka_unit_test(owner_strict),
		cmocka_unit_test(owner_gone),
		cmocka_unit_test(reap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
