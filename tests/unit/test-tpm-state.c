/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VM's TPM state folder under faults (probe-tpm-state.h): the probe runs as
 * root, so a symlink planted in the folder (the counters, a temporary name,
 * ak.name, the folder itself), a folder or file of another owner or writable
 * by group or others, or a file of another type is refused with a reason
 * naming the path, and whatever a symlink points at is never read, written,
 * truncated or touched. Two writers of one VM's counters never interleave.
 * Runs as root (chown to nobody), as the probe does.
 */
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe-tpm-state.h"
#include "sc-fileio.h"
#include "sc-macro.h"

/* A name in the ak.name format: nameAlg SHA-256 and 32 bytes. */
static const uint8_t NAME[34] = { 0x00, 0x0b, 1, 2, 3, 4 };

struct fx {
	char dir[64];   /* the state dir (mkdtemp: ours, 0700) */
	char vm[96];    /* DIR/web, the VM folder */
	char out[64];   /* elsewhere: what a planted symlink points into */
	char target[96]; /* OUT/victim: a file that must stay as it is */
	char counters[128], ak[128];
};

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
}

static char *read_text(const char *path)
{
	char *buf = NULL;
	size_t len;

	assert_int_equal(sc_read_file_capped(path, 4096, &buf, &len), 0);
	return buf;
}

static uid_t nobody(void)
{
	struct passwd *pw = getpwnam("nobody");

	/* Refusing another owner needs another owner: the tests run as root (tests/README.md). */
	assert_int_equal(geteuid(), 0);
	assert_non_null(pw);
	assert_true(pw->pw_uid != 0);
	return pw->pw_uid;
}

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct timespec past[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/sealcheck-test-state-XXXXXX");
	snprintf(f->out, sizeof(f->out), "/tmp/sealcheck-test-out-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_non_null(mkdtemp(f->out));
	snprintf(f->vm, sizeof(f->vm), "%s/web", f->dir);
	snprintf(f->counters, sizeof(f->counters), "%s/" PROBE_TPM_STATE_COUNTERS, f->vm);
	snprintf(f->ak, sizeof(f->ak), "%s/" PROBE_TPM_STATE_AK_NAME, f->vm);
	snprintf(f->target, sizeof(f->target), "%s/victim", f->out);
	write_file(f->target, "5 0 0\n");
	/* An mtime long past: any write, truncation or touch of the target shows. */
	assert_int_equal(utimensat(AT_FDCWD, f->target, past, 0), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", f->dir, f->out);
	assert_int_equal(system(cmd), 0);
	free(f);
}

/* The target as fx_new() left it (content, mtime), and nothing else made in OUT. */
static void target_untouched(const struct fx *f)
{
	_cleanup_free_ char *t = read_text(f->target);
	struct stat st;
	DIR *d;
	struct dirent *de;
	int n = 0;

	assert_string_equal(t, "5 0 0\n");
	assert_int_equal(stat(f->target, &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	d = opendir(f->out);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	assert_int_equal(n, 1);
}

/* Entries of @dir (dot-files too, "." and ".." not). */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static struct probe_tpm_attest quote(uint64_t clock)
{
	struct probe_tpm_attest q = { 0 };

	q.clock = clock;
	q.reset_count = 0;
	q.restart_count = 0;
	return q;
}

static void assert_is_symlink(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

/* watch's counters kept in memory: each quote compared there, the file written at the first quote, when
 * resetCount or restartCount change, once PROBE_TPM_STATE_COUNTERS_WRITE_MS have passed, and on flush. */
static void test_counters_mem(void **state)
{
	struct fx *f = fx_new();
	struct probe_tpm_attest q = quote(10);
	struct probe_tpm_counters_mem mem = { 0 };
	_cleanup_free_ char *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL, *t5 = NULL;
	long long now = 1000000;
	char why[300];

	assert_int_equal(mkdir(f->vm, 0700), 0);
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now, why, sizeof(why)), 1);
	t1 = read_text(f->counters);
	assert_string_equal(t1, "10 0 0\n");
	/* Forward within the window: compared in memory, the file left as it was. */
	q.clock = 11;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now + 1000, why, sizeof(why)), 0);
	t2 = read_text(f->counters);
	assert_string_equal(t2, "10 0 0\n");
	/* Back, against the memory (the file still says 10): the same rule and reason as the file's. */
	q.clock = 11;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now + 2000, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "did not advance (11 after 11)"));
	q.clock = 5;
	q.restart_count = 0;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now + 2000, why, sizeof(why)), -EPERM);
	/* A restart: written at once. */
	q.clock = 3;
	q.restart_count = 1;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now + 3000, why, sizeof(why)), 0);
	t3 = read_text(f->counters);
	assert_string_equal(t3, "3 0 1\n");
	assert_int_equal(mem.restart, 1);
	/* ... and the memory then refuses the old restartCount. */
	q.clock = 100;
	q.restart_count = 0;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now + 4000, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "restartCount went back from 1 to 0"));
	/* The window over: written again. */
	q.clock = 20;
	q.restart_count = 1;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now + 3000 + PROBE_TPM_STATE_COUNTERS_WRITE_MS,
							   why, sizeof(why)), 0);
	t4 = read_text(f->counters);
	assert_string_equal(t4, "20 0 1\n");
	/* Flush: the last quote compared in memory reaches the file; nothing to write is no write. */
	q.clock = 21;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now + 3001 + PROBE_TPM_STATE_COUNTERS_WRITE_MS,
							   why, sizeof(why)), 0);
	assert_int_equal(probe_tpm_state_flush_counters(f->counters, &mem, why, sizeof(why)), 0);
	t5 = read_text(f->counters);
	assert_string_equal(t5, "21 0 1\n");
	assert_int_equal(probe_tpm_state_flush_counters(f->counters, &mem, why, sizeof(why)), 0);
	/* A verifier started again (no memory) compares with the file. */
	mem = (struct probe_tpm_counters_mem){ 0 };
	q.clock = 21;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now, why, sizeof(why)), -EPERM);
	assert_int_equal(entries(f->vm), 1);

	/* A refresh while the file is the one written last keeps the memory (no window opens). */
	q.clock = 22;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now, why, sizeof(why)), 0);
	probe_tpm_state_counters_mem_refresh(f->counters, &mem);
	assert_true(mem.valid);
	q.clock = 22;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now, why, sizeof(why)), -EPERM);

	/* Another writer (attest --tpm-state) moved the file on within the window: read again, so a clock
	 * between the memory's and the file's is refused as the file would refuse it. */
	q.clock = 23;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now, why, sizeof(why)), 0);
	{
		struct probe_tpm_attest other = quote(50);

		other.restart_count = 1;
		assert_int_equal(probe_tpm_state_check_counters(f->counters, &other, why, sizeof(why)), 0);
	}
	q.clock = 40;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now + 1, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "did not advance (40 after 50)"));
	/* A flush never overwrites a file another writer changed. */
	q.clock = 51;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now + 2, why, sizeof(why)), 0);
	q.clock = 52;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now + 3, why, sizeof(why)), 0);
	{
		struct probe_tpm_attest other = quote(60);
		_cleanup_free_ char *t6 = NULL;

		other.restart_count = 1;
		assert_int_equal(probe_tpm_state_check_counters(f->counters, &other, why, sizeof(why)), 0);
		assert_int_equal(probe_tpm_state_flush_counters(f->counters, &mem, why, sizeof(why)), 0);
		t6 = read_text(f->counters);
		assert_string_equal(t6, "60 0 1\n");
	}
	/* The operator removed the file (a TPM made anew): the next quote is its first; a flush never re-creates it. */
	q.clock = 61;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now + 4, why, sizeof(why)), 0);
	q.clock = 62;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now + 5, why, sizeof(why)), 0);
	assert_int_equal(unlink(f->counters), 0);
	assert_int_equal(probe_tpm_state_flush_counters(f->counters, &mem, why, sizeof(why)), 0);
	assert_int_equal(access(f->counters, F_OK), -1);
	q.clock = 3;
	q.restart_count = 0;
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now + 6, why, sizeof(why)), -EPERM);
	/* The operator's SIGHUP: the file is gone, so the memory goes too. */
	probe_tpm_state_counters_mem_refresh(f->counters, &mem);
	assert_false(mem.valid);
	assert_int_equal(probe_tpm_state_check_counters_mem(f->counters, &q, &mem, now + 6, why, sizeof(why)), 1);
	fx_free(f);
	(void)state;
}

/* The plain path: first quote, forward, back; the file a 0600 regular file of ours, no temporary name left. */
static void test_counters(void **state)
{
	struct fx *f = fx_new();
	struct probe_tpm_attest q = quote(10);
	_cleanup_free_ char *t = NULL;
	char why[300];
	struct stat st;

	assert_int_equal(mkdir(f->vm, 0700), 0);
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), 1);
	q.clock = 11;
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), 0);
	q.clock = 11;
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "did not advance"));
	t = read_text(f->counters);
	assert_string_equal(t, "11 0 0\n");
	assert_int_equal(lstat(f->counters, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(entries(f->vm), 1);
	fx_free(f);
}

/* DIR/web/quote-counters -> OUT/victim: refused; the target neither read into the check nor written. */
static void test_counters_symlink(void **state)
{
	struct fx *f = fx_new();
	struct probe_tpm_attest q = quote(10);
	char why[300];

	assert_int_equal(mkdir(f->vm, 0700), 0);
	assert_int_equal(symlink(f->target, f->counters), 0);
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), -ELOOP);
	assert_non_null(strstr(why, f->counters));
	assert_non_null(strstr(why, "symbolic link"));
	assert_is_symlink(f->counters);
	target_untouched(f);
	/* A dangling one too: never created at its target. */
	assert_int_equal(unlink(f->counters), 0);
	assert_int_equal(symlink("/tmp/sealcheck-test-nonexistent-counters", f->counters), 0);
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), -ELOOP);
	assert_int_equal(access("/tmp/sealcheck-test-nonexistent-counters", F_OK), -1);
	assert_is_symlink(f->counters);
	assert_int_equal(entries(f->vm), 1);
	fx_free(f);
}

/* DIR/web/ak.name -> OUT/victim: never read as the pin, never pinned through. */
static void test_ak_symlink(void **state)
{
	struct fx *f = fx_new();
	char why[300];
	uint8_t back[PROBE_TPM_STATE_NAME_MAX];
	size_t len = 0;

	assert_int_equal(mkdir(f->vm, 0700), 0);
	/* A target that would pass as a Name: read through the symlink, it would be the pinned AK. */
	write_file(f->target, "0123456789012345678901234567890123456789");
	assert_int_equal(symlink(f->target, f->ak), 0);
	assert_int_equal(probe_tpm_state_read_ak(f->ak, back, sizeof(back), &len), -ELOOP);
	assert_int_equal(probe_tpm_state_pin_ak(f->ak, NAME, sizeof(NAME), why, sizeof(why)), -ELOOP);
	assert_non_null(strstr(why, "symbolic link"));
	assert_is_symlink(f->ak);
	{
		_cleanup_free_ char *t = read_text(f->target);

		assert_string_equal(t, "0123456789012345678901234567890123456789");
	}
	assert_int_equal(entries(f->vm), 1);
	fx_free(f);
}

/*
 * The temporary names of today and of old (quote-counters.new, ak.name.new, dot-names) planted
 * as symlinks: never followed, the state written beside them, they stay as they were.
 */
static void test_temp_names(void **state)
{
	static const char *const planted[] = { "quote-counters.new", ".quote-counters.new", "quote-counters.tmp",
					       "ak.name.new", ".ak.name.new" };
	struct fx *f = fx_new();
	struct probe_tpm_attest q = quote(10);
	char why[300], path[200];
	uint8_t back[PROBE_TPM_STATE_NAME_MAX];
	size_t len = 0;

	assert_int_equal(mkdir(f->vm, 0700), 0);
	for (size_t i = 0; i < ELEMENTSOF(planted); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->vm, planted[i]);
		assert_int_equal(symlink(f->target, path), 0);
	}
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), 1);
	q.clock = 20;
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), 0);
	assert_int_equal(probe_tpm_state_pin_ak(f->ak, NAME, sizeof(NAME), why, sizeof(why)), 0);
	assert_int_equal(probe_tpm_state_read_ak(f->ak, back, sizeof(back), &len), 0);
	assert_int_equal(len, sizeof(NAME));
	for (size_t i = 0; i < ELEMENTSOF(planted); i++) {
		char to[200];
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", f->vm, planted[i]);
		assert_is_symlink(path);
		n = readlink(path, to, sizeof(to) - 1);
		assert_true(n > 0);
		to[n] = '\0';
		assert_string_equal(to, f->target);
	}
	target_untouched(f);
	/* The planted names, the counters and the pin: no temporary file of ours left. */
	assert_int_equal(entries(f->vm), (int)ELEMENTSOF(planted) + 2);
	fx_free(f);
}

/* DIR/web -> OUT: nothing read from OUT, nothing made in it. */
static void test_vm_symlink(void **state)
{
	struct fx *f = fx_new();
	struct probe_tpm_attest q = quote(10);
	char why[300], path[200];
	uint8_t back[PROBE_TPM_STATE_NAME_MAX];
	size_t len = 0;

	assert_int_equal(symlink(f->out, f->vm), 0);
	snprintf(path, sizeof(path), "%s/victim", f->vm); /* the counters' name the target's */
	assert_int_equal(probe_tpm_state_check_counters(path, &q, why, sizeof(why)), -ELOOP);
	assert_non_null(strstr(why, f->vm));
	assert_non_null(strstr(why, "symbolic link"));
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), -ELOOP);
	assert_int_equal(probe_tpm_state_pin_ak(f->ak, NAME, sizeof(NAME), why, sizeof(why)), -ELOOP);
	assert_int_equal(probe_tpm_state_read_ak(f->ak, back, sizeof(back), &len), -ELOOP);
	/* Made for a TPM VM (watch's mkdirat): EEXIST on the symlink, refused, nothing made at its target. */
	assert_int_equal(probe_tpm_state_open(f->dir, "web", true, why, sizeof(why)), -ELOOP);
	assert_non_null(strstr(why, "web: a symbolic link"));
	/* A trailing slash makes open(2) follow a symlink: it is not one more way in. */
	snprintf(path, sizeof(path), "%s//" PROBE_TPM_STATE_COUNTERS, f->vm);
	assert_int_equal(probe_tpm_state_check_counters(path, &q, why, sizeof(why)), -ELOOP);
	target_untouched(f);
	assert_is_symlink(f->vm);
	fx_free(f);
}

/* DIR/web owned by another user: refused, nothing written. */
static void test_vm_owner(void **state)
{
	struct fx *f = fx_new();
	struct probe_tpm_attest q = quote(10);
	char why[300];
	uint8_t back[PROBE_TPM_STATE_NAME_MAX];
	size_t len = 0;

	assert_int_equal(mkdir(f->vm, 0700), 0);
	assert_int_equal(chown(f->vm, nobody(), (gid_t)-1), 0);
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, f->vm));
	assert_non_null(strstr(why, "owned by uid"));
	assert_int_equal(probe_tpm_state_pin_ak(f->ak, NAME, sizeof(NAME), why, sizeof(why)), -EPERM);
	assert_int_equal(probe_tpm_state_read_ak(f->ak, back, sizeof(back), &len), -EPERM);
	assert_int_equal(entries(f->vm), 0);
	/* Nor is the state dir itself, nor a VM folder in it, when another user owns it. */
	assert_int_equal(probe_tpm_state_open(f->dir, "web", true, why, sizeof(why)), -EPERM);
	assert_int_equal(chown(f->dir, nobody(), (gid_t)-1), 0);
	assert_int_equal(probe_tpm_state_open(f->dir, NULL, false, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, f->dir));
	fx_free(f);
}

/* DIR/web writable by group, or by others: refused, nothing written. */
static void test_vm_mode(void **state)
{
	static const mode_t modes[] = { 0770, 0702, 0777, 01777 };
	struct fx *f = fx_new();
	struct probe_tpm_attest q = quote(10);
	char why[300];

	assert_int_equal(mkdir(f->vm, 0700), 0);
	for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
		assert_int_equal(chmod(f->vm, modes[i]), 0);
		assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), -EPERM);
		assert_non_null(strstr(why, "writable by group or others"));
		assert_int_equal(probe_tpm_state_pin_ak(f->ak, NAME, sizeof(NAME), why, sizeof(why)), -EPERM);
		assert_int_equal(entries(f->vm), 0);
	}
	/* 0750 and 0755 are fine: reading is not the danger. */
	assert_int_equal(chmod(f->vm, 0755), 0);
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), 1);
	fx_free(f);
}

/* The files inside: another type, another owner, group/other writable: refused, left as they are. */
static void test_files(void **state)
{
	struct fx *f = fx_new();
	struct probe_tpm_attest q = quote(10);
	char why[300];
	uint8_t back[PROBE_TPM_STATE_NAME_MAX];
	size_t len = 0;
	struct stat st;

	assert_int_equal(mkdir(f->vm, 0700), 0);
	/* A directory under the counters' name. */
	assert_int_equal(mkdir(f->counters, 0700), 0);
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), -EISDIR);
	assert_non_null(strstr(why, "not a regular file"));
	assert_int_equal(rmdir(f->counters), 0);
	/* Counters of another owner. */
	write_file(f->counters, "5 0 0\n");
	assert_int_equal(chown(f->counters, nobody(), (gid_t)-1), 0);
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, f->counters));
	assert_int_equal(stat(f->counters, &st), 0);
	assert_int_equal(st.st_uid, nobody());
	/* ... and writable by others. */
	assert_int_equal(chown(f->counters, 0, (gid_t)-1), 0);
	assert_int_equal(chmod(f->counters, 0606), 0);
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "writable by group or others"));
	assert_int_equal(chmod(f->counters, 0620), 0);
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), -EPERM);
	{
		_cleanup_free_ char *t = read_text(f->counters);

		assert_string_equal(t, "5 0 0\n");
	}
	/* ak.name of another owner: not a pin to trust, and not a pin that is ours to compare. */
	{
		int fd = open(f->ak, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, NAME, sizeof(NAME)), (ssize_t)sizeof(NAME));
		assert_int_equal(close(fd), 0);
	}
	assert_int_equal(chown(f->ak, nobody(), (gid_t)-1), 0);
	assert_int_equal(probe_tpm_state_read_ak(f->ak, back, sizeof(back), &len), -EPERM);
	assert_int_equal(probe_tpm_state_pin_ak(f->ak, NAME, sizeof(NAME), why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, f->ak));
	fx_free(f);
}

/* A FIFO under the counters' name: refused at once (an open that waits for a writer would hang watch's loop). */
static void test_fifo(void **state)
{
	struct fx *f = fx_new();
	struct probe_tpm_attest q = quote(10);
	char why[300];
	uint8_t back[PROBE_TPM_STATE_NAME_MAX];
	size_t len = 0;

	assert_int_equal(mkdir(f->vm, 0700), 0);
	assert_int_equal(mkfifo(f->counters, 0600), 0);
	assert_int_equal(mkfifo(f->ak, 0600), 0);
	/* Today's code would wait for a writer: the alarm makes that a failure, not a hang. */
	alarm(20);
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), -EBADFD);
	assert_non_null(strstr(why, "not a regular file"));
	assert_int_equal(probe_tpm_state_read_ak(f->ak, back, sizeof(back), &len), -EBADFD);
	alarm(0);
	fx_free(f);
}

/* Another writer holds the VM folder's lock: the check neither waits long nor writes, then goes on. */
static void test_lock_held(void **state)
{
	struct fx *f = fx_new();
	struct probe_tpm_attest q = quote(10);
	char why[300];
	int fd;

	assert_int_equal(mkdir(f->vm, 0700), 0);
	write_file(f->counters, "5 0 0\n");
	fd = open(f->vm, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	alarm(20); /* bounded: a wait that never ends fails the test */
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), -EBUSY);
	alarm(0);
	assert_non_null(strstr(why, f->vm));
	{
		_cleanup_free_ char *t = read_text(f->counters);

		assert_string_equal(t, "5 0 0\n");
	}
	assert_int_equal(close(fd), 0);
	assert_int_equal(probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why)), 0);
	{
		_cleanup_free_ char *t = read_text(f->counters);

		assert_string_equal(t, "10 0 0\n");
	}
	fx_free(f);
}

/*
 * Two processes update one VM's counters N times each with interleaved clocks (one the even,
 * the other the odd ones), as watch and attest would. Under the lock each update that passes
 * was newer than the last one written, so the counters only move forward: the file ends at the
 * largest clock either writer had accepted, and every accepted clock is newer than the one
 * the same writer saw accepted before; a third process reading the file all along never sees
 * the clock go back.
 */
#define WRITES 150
struct log {
	int n[2];
	uint64_t accepted[2][WRITES];
	volatile int done;                 /* the writers have ended: the watcher stops */
	unsigned long long seen, went_back; /* the watcher saw the counters go from seen to went_back */
};

static void test_concurrent(void **state)
{
	struct fx *f = fx_new();
	struct log *lg = mmap(NULL, sizeof(struct log), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid[2], watcher;
	uint64_t max = 0;
	unsigned long long final = 0;
	unsigned a, b;
	int go[2];

	assert_true(lg != MAP_FAILED);
	/* Both start together (the write end closed), so their clocks stay close and their updates race. */
	assert_int_equal(pipe(go), 0);
	memset(lg, 0, sizeof(*lg));
	assert_int_equal(mkdir(f->vm, 0700), 0);
	for (int k = 0; k < 2; k++) {
		pid[k] = fork();
		assert_true(pid[k] >= 0);
		if (pid[k] == 0) {
			char c;

			close(go[1]);
			(void)!read(go[0], &c, 1);
			for (int i = 1; i <= WRITES; i++) {
				struct probe_tpm_attest q = quote((uint64_t)(2 * i + k));
				char why[300];
				int r;

				while ((r = probe_tpm_state_check_counters(f->counters, &q, why, sizeof(why))) == -EBUSY)
					;
				if (r >= 0)
					lg->accepted[k][lg->n[k]++] = q.clock;
				else if (r != -EPERM)
					_exit(2);
			}
			_exit(0);
		}
	}
	watcher = fork();
	assert_true(watcher >= 0);
	if (watcher == 0) {
		unsigned long long prev = 0;

		close(go[0]);
		close(go[1]); /* else the writers' start waits on this process too */
		while (!lg->done) {
			_cleanup_free_ char *t = NULL;
			unsigned long long c;
			size_t len;

			if (sc_read_file_capped(f->counters, 256, &t, &len) < 0 || sscanf(t, "%llu", &c) != 1)
				continue;
			if (c < prev && !lg->went_back) {
				lg->seen = prev;
				lg->went_back = c;
			}
			prev = c;
		}
		_exit(0);
	}
	close(go[0]);
	close(go[1]);
	{
		int status[2];

		/* Both writers reaped and the watcher stopped before any assertion: a failure leaves no process behind. */
		for (int k = 0; k < 2; k++)
			if (waitpid(pid[k], &status[k], 0) != pid[k])
				status[k] = -1;
		lg->done = 1;
		assert_int_equal(waitpid(watcher, NULL, 0), watcher);
		for (int k = 0; k < 2; k++) {
			assert_true(WIFEXITED(status[k]));
			assert_int_equal(WEXITSTATUS(status[k]), 0);
		}
	}
	if (lg->went_back)
		fail_msg("the counters went back from %llu to %llu", lg->seen, lg->went_back);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < lg->n[k]; i++) {
			if (i)
				assert_true(lg->accepted[k][i] > lg->accepted[k][i - 1]);
			if (lg->accepted[k][i] > max)
				max = lg->accepted[k][i];
		}
	{
		_cleanup_free_ char *t = read_text(f->counters);

		assert_int_equal(sscanf(t, "%llu %u %u", &final, &a, &b), 3);
	}
	/* Interleaved writers (one read the old value, the other wrote a newer one, the first wrote
	 * its own over it) leave the file behind a clock that was accepted: the counters went back. */
	assert_int_equal(final, max);
	assert_true(lg->n[0] + lg->n[1] >= 1);
	munmap(lg, sizeof(*lg));
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters),   cmocka_unit_test(test_counters_symlink),
		cmocka_unit_test(test_counters_mem),
		cmocka_unit_test(test_ak_symlink), cmocka_unit_test(test_temp_names),
		cmocka_unit_test(test_vm_symlink), cmocka_unit_test(test_vm_owner),
		cmocka_unit_test(test_vm_mode),	   cmocka_unit_test(test_files),
		cmocka_unit_test(test_lock_held),  cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_fifo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
