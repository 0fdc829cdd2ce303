/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "swtpm-test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A free loopback port P with P+1 free too (swtpm's control port). */
static int free_port_pair(void)
{
	for (int tries = 0; tries < 50; tries++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(a);
		int s = socket(AF_INET, SOCK_STREAM, 0), s2, p;

		if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    getsockname(s, (struct sockaddr *)&a, &len) < 0) {
			if (s >= 0)
				close(s);
			return -1;
		}
		p = ntohs(a.sin_port);
		close(s);
		if (p >= 65535)
			continue;
		a.sin_port = htons((uint16_t)(p + 1));
		s2 = socket(AF_INET, SOCK_STREAM, 0);
		if (s2 >= 0 && bind(s2, (struct sockaddr *)&a, sizeof(a)) == 0) {
			close(s2);
			return p;
		}
		if (s2 >= 0)
			close(s2);
	}
	return -1;
}

static bool port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)port) };
	int s = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;

	if (s >= 0)
		close(s);
	return ok;
}

/* One attempt: 0, -EAGAIN when swtpm exited (most likely a port taken meanwhile), or -1. */
static int launch(const char *state_dir, pid_t *pid, char *tcti, size_t tcti_size)
{
	char server[64], ctrl[64], dir[300];
	int port = free_port_pair();

	if (port < 0)
		return -1;
	snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1", port);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", port + 1);
	snprintf(dir, sizeof(dir), "dir=%s", state_dir);
	snprintf(tcti, tcti_size, "swtpm:host=127.0.0.1,port=%d", port);
	*pid = fork();
	if (*pid < 0)
		return -1;
	if (*pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execlp("swtpm", "swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl, "--flags",
		       "not-need-init,startup-clear", "--tpmstate", dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300; i++) { /* a readiness wait, not a timing assertion */
		if (port_open(port) && port_open(port + 1))
			return 0;
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = 0;
			return -EAGAIN;
		}
		usleep(50 * 1000);
	}
	return -1;
}

int test_swtpm_start(const char *state_dir, pid_t *pid, char *tcti, size_t tcti_size)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		int r = launch(state_dir, pid, tcti, tcti_size);

		if (r != -EAGAIN)
			return r;
	}
	return -1;
}

void test_swtpm_stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}
