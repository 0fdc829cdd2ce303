/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Run a command; print its wall time and peak RSS (of the largest process
 * it waited for, as getrusage reports for children) as one JSON line.
 *   benchrun NAME COMMAND [ARG...]
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec a, b;
	struct rusage ru;
	int status;
	pid_t pid;

	if (argc < 3)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid = fork();
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	if (pid < 0 || wait4(pid, &status, 0, &ru) < 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &b);
	/* Children of a shell pipeline: the largest of them. */
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("@@bench {\"name\":\"%s\",\"seconds\":%.4f,\"maxrss_kib\":%ld,\"exit\":%d}\n", argv[1],
	       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9, ru.ru_maxrss,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}
