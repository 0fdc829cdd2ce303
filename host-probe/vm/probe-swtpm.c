/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe-spawn.h"
#include "probe-swtpm.h"
#include "probe-tpm-state.h"
#include "sc-evidence.h"
#include "sc-fileio.h"
#include "sc-io.h"
#include "sc-macro.h"
#include "sc-why.h"

void probe_swtpm_init(struct probe_swtpm *t)
{
	memset(t, 0, sizeof(*t));
	t->pid = -1;
	t->pidfd = -1;
}

static int write_text(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t n = strlen(text);

	if (fd < 0)
		return -errno;
	return write(fd, text, n) == (ssize_t)n ? 0 : sc_negative_errno();
}

/* swtpm_setup's configuration and a local CA of our own, inside the state directory. */
static int write_configs(const char *dir, char *conf, size_t conf_size)
{
	char ca[300], lconf[320], lopts[320], text[1400];
	int r;

	snprintf(ca, sizeof(ca), "%s/localca", dir);
	if (mkdir(ca, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(lconf, sizeof(lconf), "%s/swtpm-localca.conf", dir);
	snprintf(lopts, sizeof(lopts), "%s/swtpm-localca.options", dir);
	snprintf(conf, conf_size, "%s/swtpm_setup.conf", dir);
	snprintf(text, sizeof(text),
		 "statedir = %s\nsigningkey = %s/signkey.pem\nissuercert = %s/issuercert.pem\ncertserial = %s/certserial\n",
		 ca, ca, ca, ca);
	if ((r = write_text(lconf, text)) < 0)
		return r;
	if ((r = write_text(lopts, "--platform-manufacturer sealcheck\n--platform-version 2.1\n--platform-model QEMU\n")) < 0)
		return r;
	snprintf(text, sizeof(text),
		 "create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = %s\n"
		 "create_certs_tool_options = %s\nactive_pcr_banks = sha256\n",
		 lconf, lopts);
	return write_text(conf, text);
}

int probe_swtpm_prepare(struct probe_swtpm *t, const char *state_dir, const char *log, char *why, size_t why_size)
{
	char conf[320], marker[320];
	struct stat st;
	int r;

	if (state_dir[0] != '/' || strlen(state_dir) >= sizeof(t->state_dir))
		return sc_why(-EINVAL, why, why_size, "--tpm-state %.100s: not an absolute path of at most 255 bytes",
		              state_dir);
	memcpy(t->state_dir, state_dir, strlen(state_dir) + 1); /* length checked above */
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return sc_why(-errno, why, why_size, "%s: %s", state_dir, strerror(errno));
	{
		/* Before anything is written there: not a symlink, ours, not group/other writable (probe-tpm-state.h). */
		_cleanup_close_ int fd = probe_tpm_state_open(state_dir, NULL, false, why, why_size);

		if (fd < 0)
			return fd;
	}
	snprintf(marker, sizeof(marker), "%s/tpm2-00.permall", state_dir);
	if (stat(marker, &st) == 0)
		return 0; /* made before: the EK the host recorded stays */
	r = write_configs(state_dir, conf, sizeof(conf));
	if (r < 0)
		return sc_why(r, why, why_size, "%s: writing swtpm_setup's configuration: %s", state_dir, strerror(-r));
	{
		/* As libvirt does (src/qemu/qemu_tpm.c, swtpm_setup --vmid "<name>:<uuid>"): the EK
		 * certificate's CN names the VM, here the state directory's name and a fresh UUID, so
		 * a neighbour's EK under the same local CA is told apart (probe_ek_cert_check()). */
		const char *base = strrchr(state_dir, '/') + 1; /* absolute: checked above */
		uint8_t u[16];
		char vmid[320];

		if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u))
			return sc_why(-errno, why, why_size, "getrandom: %s", strerror(errno));
		u[6] = (uint8_t)((u[6] & 0x0f) | 0x40), u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
		snprintf(vmid, sizeof(vmid),
			 "%.200s:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", base[0] ? base : "vm",
			 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
		const char *argv[] = { "swtpm_setup", "--tpm2", "--tpmstate", state_dir, "--createek",
				       "--create-ek-cert", "--create-platform-cert", "--lock-nvram",
				       "--config", conf, "--vmid", vmid, "--not-overwrite", NULL };

		r = probe_spawn_wait(argv, log, PROBE_SWTPM_SETUP_TIMEOUT_MS);
		if (r >= 0) {
			/* The identity its EK certificate names, for attest --tpm-ek-owner "$(cat DIR/vmid)". */
			char path[340], line[330];

			snprintf(path, sizeof(path), "%s/vmid", state_dir);
			snprintf(line, sizeof(line), "%s\n", vmid);
			r = write_text(path, line);
			if (r < 0)
				return sc_why(r, why, why_size, "%s: %s", path, strerror(-r));
		}
	}
	if (r < 0)
		return sc_why(r, why, why_size, "swtpm_setup for %s %s (see %s)", state_dir,
		              r == -ENOENT	 ? "is not installed (swtpm-tools)"
				: r == -ETIMEDOUT ? "timed out"
						  : "failed",
		              log);
	return 0;
}

int probe_swtpm_start(struct probe_swtpm *t, const char *workdir, const char *log, bool die_with_parent, char *why,
		      size_t why_size)
{
	_cleanup_close_ int out = -1;
	char state[300], ctrl[340];
	long long deadline;
	int r;

	snprintf(t->ctrl_sock, sizeof(t->ctrl_sock), "%s/swtpm.sock", workdir);
	snprintf(state, sizeof(state), "dir=%s", t->state_dir);
	snprintf(ctrl, sizeof(ctrl), "type=unixio,path=%s", t->ctrl_sock);
	out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return sc_why(-errno, why, why_size, "%s: %s", log, strerror(errno));
	{
		/*
		 * Not --daemon: it stays our child, so it dies with the probe and we
		 * reap it; not --terminate: a QEMU restarted after a failed KVM start
		 * connects again.
		 */
		const char *argv[] = { "swtpm", "socket", "--tpm2", "--tpmstate", state, "--ctrl", ctrl, NULL };

		r = probe_spawn(argv, out, die_with_parent, &t->pid, &t->pidfd);
	}
	if (r < 0)
		return sc_why(r, why, why_size, "starting swtpm: %s%s", strerror(-r),
		              r == -ENOENT ? " (install swtpm)" : "");
	deadline = sc_now_ms() + 5000;
	while (access(t->ctrl_sock, F_OK) < 0) {
		int status;

		if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
			t->pid = -1;
			return sc_why(-ECHILD, why, why_size, "swtpm exited at start (see %s)", log);
		}
		if (sc_now_ms() >= deadline)
			return sc_why(-ETIMEDOUT, why, why_size, "swtpm made no control socket within 5 s (see %s)",
			              log);
		(void)poll(NULL, 0, 20);
	}
	return 0;
}

void probe_swtpm_stop(struct probe_swtpm *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		if (probe_child_wait(t->pid, t->pidfd, 3000, NULL) < 0) {
			kill(t->pid, SIGKILL);
			waitpid(t->pid, NULL, 0);
		}
	}
	t->pid = -1;
	if (t->pidfd >= 0)
		close(TAKE_FD(t->pidfd));
}

/* Two free loopback ports, P and P+1 (tpm2-tss's swtpm TCTI takes the control channel at P+1). */
static int free_port_pair(unsigned *ret)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t sl = sizeof(sa);
		_cleanup_close_ int a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), b = -1;
		unsigned port;

		if (a < 0 || bind(a, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    getsockname(a, (struct sockaddr *)&sa, &sl) < 0)
			return -errno;
		port = ntohs(sa.sin_port);
		if (port >= 65535)
			continue;
		b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sa.sin_port = htons((uint16_t)(port + 1));
		if (b >= 0 && bind(b, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			*ret = port;
			return 0;
		}
	}
	return -EADDRINUSE;
}

int probe_swtpm_ak_name(struct probe_swtpm *t, const char *workdir, const char *log, uint8_t *ret, size_t *ret_len,
			char *why, size_t why_size)
{
	_cleanup_close_ int out = -1, pidfd = -1;
	char path[320], ctx[320], made[320], server[80], ctrl[80], tcti[80], state[300];
	unsigned port = 0;
	pid_t pid;
	int r;

	r = probe_tpm_state_path(t->state_dir, PROBE_TPM_STATE_AK_NAME, path, sizeof(path));
	if (r < 0)
		return sc_why(r, why, why_size, "the TPM state directory's path is too long");
	r = probe_tpm_state_read_ak(path, ret, PROBE_TPM_STATE_NAME_MAX, ret_len);
	if (r == 0)
		return 0;
	if (r != -ENOENT) /* a pin is never replaced; one refused (a symlink, another owner, ...) is never read */
		return sc_why(r, why, why_size, "%s: %s (refused; remove it to derive the AK again)", path,
			      r == -EBADMSG ? "not an AK Name" : strerror(-r));
	r = free_port_pair(&port);
	if (r < 0)
		return sc_why(r, why, why_size, "no free loopback port for deriving the AK: %s", strerror(-r));
	snprintf(server, sizeof(server), "type=tcp,port=%u,bindaddr=127.0.0.1", port);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%u,bindaddr=127.0.0.1", port + 1);
	snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%u", port);
	snprintf(state, sizeof(state), "dir=%s", t->state_dir);
	snprintf(ctx, sizeof(ctx), "%s/ak.ctx", workdir);
	/* tpm2_readpublic writes its -n file as it finds it (a symlink followed): into our work
	 * directory, then pinned in the state folder by probe_tpm_state_pin_ak(), which never follows. */
	snprintf(made, sizeof(made), "%s/ak.name", workdir);
	out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return -errno;
	{
		const char *argv[] = { "swtpm", "socket", "--tpm2", "--tpmstate", state, "--server", server, "--ctrl", ctrl,
				       "--flags", "not-need-init,startup-clear", NULL };

		r = probe_spawn(argv, out, true, &pid, &pidfd);
	}
	if (r < 0)
		return sc_why(r, why, why_size, "starting swtpm to derive the AK: %s", strerror(-r));
	{
		const char *create[] = { "tpm2_createprimary", "-T", tcti, "-C", "e", "-G", SC_AK_TOOLS_ALG, "-g", "sha256",
					 "-a", SC_AK_TOOLS_ATTRS, "-c", ctx, NULL };
		const char *readpub[] = { "tpm2_readpublic", "-T", tcti, "-c", ctx, "-n", made, NULL };

		/* swtpm listens a moment after it starts. */
		for (int i = 0; i < 50; i++) {
			r = probe_spawn_wait(create, log, 30000);
			if (r != -EIO)
				break;
			(void)poll(NULL, 0, 100);
		}
		if (r >= 0)
			r = probe_spawn_wait(readpub, log, 30000);
	}
	kill(pid, SIGTERM);
	if (probe_child_wait(pid, pidfd, 3000, NULL) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	(void)unlink(ctx);
	if (r < 0)
		return sc_why(r, why, why_size, "deriving the AK with tpm2-tools %s (see %s)",
		              r == -ENOENT ? "failed: tpm2-tools is not installed" : "failed", log);
	{
		_cleanup_free_ char *name = NULL;
		size_t len = 0;

		r = sc_read_file_capped(made, PROBE_TPM_STATE_NAME_MAX, &name, &len);
		(void)unlink(made);
		if (r < 0 || len < PROBE_TPM_STATE_NAME_MIN)
			return sc_why(r < 0 ? r : -EBADMSG, why, why_size, "%s: no AK Name written (see %s)", made, log);
		r = probe_tpm_state_pin_ak(path, (const uint8_t *)name, len, why, why_size);
		if (r < 0)
			return r;
		memcpy(ret, name, len);
		*ret_len = len;
	}
	return 0;
}
