/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe-spawn.h"
#include "sc-io.h"
#include "sc-macro.h"

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd >= 0)
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
#else
	errno = ENOSYS;
	return -1;
#endif
}

int probe_spawn(const char *const argv[], int out_fd, bool die_with_parent, pid_t *ret_pid, int *ret_pidfd)
{
	pid_t parent = getpid(), pid;
	int errpipe[2];
	int child_errno = 0;
	ssize_t n;

	if (pipe2(errpipe, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;

		close(errpipe[0]);
		close(errpipe[1]);
		return r;
	}
	if (pid == 0) {
		sigset_t none;
		int devnull;

		/* Dies with the probe, whatever kills it. */
		if (die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int sig = 1; sig < NSIG; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				signal(sig, SIG_DFL);
		devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
			goto fail;
		execvp(argv[0], (char *const *)(uintptr_t)argv);
	fail:
		child_errno = errno;
		(void)!write(errpipe[1], &child_errno, sizeof(child_errno));
		_exit(127);
	}
	close(errpipe[1]);
	/* The pipe closes on exec: nothing read means the program runs. */
	do
		n = read(errpipe[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	if (n == sizeof(child_errno)) {
		waitpid(pid, NULL, 0);
		return -child_errno;
	}
	*ret_pid = pid;
	*ret_pidfd = pidfd_open_(pid);
	return 0;
}

int probe_child_wait(pid_t pid, int pidfd, unsigned timeout_ms, int *ret_status)
{
	long long deadline = sc_now_ms() + timeout_ms;
	int status;

	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		long long left = deadline - sc_now_ms();

		if (w == pid) {
			if (ret_status)
				*ret_status = status;
			return 0;
		}
		if (w < 0 && errno != EINTR)
			return -errno;
		if (left <= 0)
			return -ETIMEDOUT;
		if (pidfd >= 0) {
			struct pollfd p = { .fd = pidfd, .events = POLLIN };

			(void)poll(&p, 1, (int)(left > 1000 ? 1000 : left));
		} else {
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			nanosleep(&ts, NULL); /* kernels before 5.3 only */
		}
	}
}

int probe_spawn_wait(const char *const argv[], const char *log, unsigned timeout_ms)
{
	_cleanup_close_ int out = -1, pidfd = -1;
	pid_t pid;
	int status = 0, r;

	out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return -errno;
	r = probe_spawn(argv, out, true, &pid, &pidfd);
	if (r < 0)
		return r;
	r = probe_child_wait(pid, pidfd, timeout_ms, &status);
	if (r == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -ETIMEDOUT;
	}
	if (r < 0)
		return r;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}
