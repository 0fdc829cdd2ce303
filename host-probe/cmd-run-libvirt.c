/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sealcheck-probe run --libvirt: the sealed image defined as a libvirt
 * domain, the way `bcvk libvirt run` does (docs/libvirt.md), attested over
 * its channel with the probe core, then destroyed and undefined.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "probe-attest.h"
#include "probe-cli.h"
#include "probe-domain.h"
#include "probe-libvirt.h"
#include "probe-loop.h"
#include "probe-manifest.h"
#include "probe-spawn.h"
#include "probe-vm.h"
#include "probe-workdir.h"
#include "sc-fileio.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-log.h"
#include "sc-macro.h"
#include "sc-term.h"
#include "sc-why.h"
/* ---- run --libvirt ------------------------------------------------------------------------------ */

#define OVMF_CODE_SECURE "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
#define OVMF_CODE "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define OVMF_VARS_EMPTY "/usr/share/OVMF/OVMF_VARS_4M.fd"
/* libvirt's swtpm_setup certifies each VM's EK with this local CA (swtpm-localca(8), /etc/swtpm-localca.conf). */
#define SWTPM_LOCALCA_DIR "/var/lib/swtpm-localca"

struct run_ctx {
	sd_event *event;
	bool tty;
};

static void run_log(struct probe_libvirt *l, const char *msg, void *userdata)
{
	(void)l;
	(void)userdata;
	sc_log_error("libvirt: %s", msg);
}

static void run_progress(const struct probe_attest *a, long long now, void *userdata)
{
	struct run_ctx *c = userdata;

	if (c->tty)
		fprintf(stderr, "\rsealcheck-probe: %s ... %llds ",
			a->session.state == PROBE_SESSION_CONNECTING ? "waiting for the domain's attestation channel"
								     : "waiting for the guest's report",
			(now - a->started_ms) / 1000);
}

/* The files the domain is made of, as absolute paths (libvirtd does not share the probe's working directory). */
struct run_files {
	char *dir, *esp, *root, *vars, *sealed_esp;
	bool enroll;
	const char *loader;
	bool secure;
};

static void run_files_done(struct run_files *f)
{
	free(f->dir);
	free(f->esp);
	free(f->root);
	free(f->vars);
	free(f->sealed_esp);
}

static int resolve_files(struct probe_vm *vm, struct run_files *f, char *why, size_t why_size)
{
	int r;

	f->dir = realpath(vm->image_dir, NULL);
	if (!f->dir)
		return sc_why(-errno, why, why_size, "%s: %s", vm->image_dir, strerror(errno));
	r = probe_manifest_load(f->dir, &vm->manifest, why, why_size);
	if (r < 0)
		return r;
	r = probe_vm_esp_path(vm, f->dir, &f->esp, why, why_size);
	if (r < 0)
		return r;
	r = probe_image_file(f->dir, vm->manifest.root, &f->root, why, why_size);
	if (r < 0)
		return r;
	r = probe_image_file(f->dir, vm->manifest.esp, &f->sealed_esp, why, why_size);
	if (r < 0)
		return r;
	switch (vm->firmware) {
	case PROBE_FW_UEFI_SECURE:
		f->loader = OVMF_CODE_SECURE;
		f->secure = true;
		f->enroll = true; /* made from the key directory in the work directory (probe_vm_enroll_keys()) */
		break;
	case PROBE_FW_UEFI_SETUP:
		f->loader = OVMF_CODE_SECURE;
		f->secure = true;
		f->vars = strdup(OVMF_VARS_EMPTY);
		break;
	case PROBE_FW_UEFI_INSECURE:
		f->loader = OVMF_CODE;
		f->vars = strdup(OVMF_VARS_EMPTY);
		break;
	default:
		return sc_why(-EINVAL, why, why_size, "--firmware bios is not offered with --libvirt (it boots the UKI's parts "
						"directly; libvirt domains here boot OVMF)");
	}
	if (!f->vars && !f->enroll)
		return -ENOMEM;
	snprintf(vm->keys_used, sizeof(vm->keys_used), "%s",
		 vm->keys_dir ?: json_string_value(json_object_get(vm->manifest.doc, "keys")) ?: "");
	return 0;
}

/*
 * The TPM: libvirt owns this VM's swtpm, so the host has no AK Name to pin
 * before the guest runs. The guest's AK is bound to the TPM by credential
 * activation (probe-credential.h, cli_tpm_credential()): the EK certificate
 * the agent reads from the TPM's NV must chain to the local CA libvirt's
 * swtpm_setup certified it with (swtpm-localca(8): its root and the issuer
 * of EK certificates in SWTPM_LOCALCA_DIR, which exists once libvirt set up
 * its first TPM: so this runs after the domain started). Nothing is pinned
 * across runs: each run defines a new domain with a new TPM.
 */
static int libvirt_tpm_trust(struct probe_vm *vm, const char *ek_ca, struct cli_tpm *tpm, char *bundle,
			     size_t bundle_size)
{
	static const char *const names[] = { "swtpm-localca-rootca-cert.pem", "issuercert.pem" };
	_cleanup_fclose_ FILE *f = NULL;

	if (ek_ca) /* the operator's CA (--tpm-ek-ca) */
		return cli_tpm_credential(ek_ca, NULL, NULL, tpm);

	snprintf(bundle, bundle_size, "%s/ek-ca.pem", vm->workdir);
	f = fopen(bundle, "wxe");
	if (!f) {
		sc_log_error("%s: %m", bundle);
		return -errno;
	}
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *pem = NULL;
		char path[200];
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", SWTPM_LOCALCA_DIR, names[i]);
		if (sc_read_file_capped(path, 64 * 1024, &pem, &len) < 0 || fwrite(pem, 1, len, f) != len) {
			sc_log_error("%s: libvirt's swtpm local CA cannot be read (the EK's issuer)", path);
			return -EIO;
		}
	}
	if (fflush(f) != 0) {
		sc_log_error("%s: %m", bundle);
		return -errno;
	}
	return cli_tpm_credential(bundle, NULL, NULL, tpm);
}

/* Under KVM the firmware writes to the console within a second; give it five (run's rule). */
static bool console_speaks(struct probe_vm *vm)
{
	long long deadline = sc_now_ms() + 5000;

	while (sc_now_ms() < deadline) {
		struct pollfd p = { .fd = vm->console.fd >= 0 ? vm->console.fd : vm->console.listen_fd, .events = POLLIN };

		if (poll(&p, 1, 100) <= 0)
			continue;
		if (vm->console.fd < 0)
			(void)probe_console_accept(&vm->console);
		else if (probe_console_read(&vm->console, sc_now_ms()) > 0)
			return true;
	}
	return false;
}

/* One line on stderr, escaped: "sealcheck-probe run: MSG". */
static void say(const char *msg)
{
	sc_log_error("%s", msg);
}

static void domain_log(const char *msg, void *userdata)
{
	(void)userdata;
	say(msg);
}

/*
 * The domain started (probe_domain_start(), AUTODESTROY unless --keep, so the
 * VM also goes when the probe dies) and QEMU on the probe's console socket.
 * A KVM domain must also speak within 5 s (run's rule), or it is undefined
 * again. On failure *ret is NULL and @kvm_why says why when it was a KVM start.
 */
static int start_domain(virConnectPtr conn, const struct probe_domain_spec *spec, struct probe_vm *vm,
			virDomainPtr *ret, char *kvm_why, size_t kvm_why_size)
{
	_cleanup_domain_ virDomainPtr dom = NULL;
	char why[600];
	int r;

	*ret = NULL;
	r = probe_domain_start(conn, spec, !vm->keep, &dom, why, sizeof(why));
	if (r < 0) {
		if (spec->kvm && r == -EIO && strncmp(why, "the KVM domain", 14) == 0)
			snprintf(kvm_why, kvm_why_size, "%.190s", why);
		else
			say(why);
		return r;
	}
	/* QEMU connects to the probe's console socket as it starts. */
	for (int i = 0; i < 50 && vm->console.fd < 0; i++) {
		struct pollfd p = { .fd = vm->console.listen_fd, .events = POLLIN };

		if (poll(&p, 1, 100) > 0)
			(void)probe_console_accept(&vm->console);
	}
	if (spec->kvm && !console_speaks(vm)) {
		snprintf(kvm_why, kvm_why_size, "no firmware output within 5 s");
		if (probe_domain_undefine(dom, spec->name, vm->tpm, why, sizeof(why)) < 0)
			say(why);
		return -ETIMEDOUT;
	}
	*ret = TAKE_PTR(dom);
	return 0;
}

/* One run --libvirt, from its options to the domain's removal. */
struct run {
	/* in */
	struct probe_vm *vm;
	struct cli_common *o;
	const char *uri, *ek_ca_file;
	/* what it holds */
	struct run_files f;
	struct cli_tpm tpm;
	struct probe_policy policy;
	sd_event *e;
	struct probe_libvirt *lv;
	struct run_ctx ctx;
	struct probe_domain_spec spec;
	struct probe_owner owner;
	virDomainPtr dom;
	bool started;
	struct probe_domain_channel ch;
	char name[80], kvm_why[200], ek_ca[320];
};

#define RUN_GO (-1) /* a step went well: the next one follows (otherwise a step returns the exit status) */

/* The image's files, the policy, the work directory and its console, the keys, the UKI; KVM or TCG. */
static int run_setup(struct run *r)
{
	struct probe_vm *vm = r->vm;
	char why[512] = "";
	int k;

	/*
	 * The work directory: the console's socket (QEMU connects to the probe) and its log; owned unless --keep.
	 * As root, QEMU runs as libvirt's own user (not root): the directory is then one it can traverse (0711,
	 * under PROBE_WORKDIR_SHARED_BASE, not root's 0700 runtime directory), and libvirt gives that user the
	 * socket (its DAC driver labels a chardev's socket for QEMU).
	 */
	r->spec.qemu_user_default = getuid() == 0;
	if ((r->spec.qemu_user_default && probe_workdir_shared_base(why, sizeof(why)) < 0) ||
	    probe_workdir_create(vm->workdir, sizeof(vm->workdir),
				 r->spec.qemu_user_default ? PROBE_WORKDIR_SHARED_BASE : NULL, 60, !vm->keep, why,
				 sizeof(why)) < 0 ||
	    (r->spec.qemu_user_default && chmod(vm->workdir, 0711) < 0 &&
	     snprintf(why, sizeof(why), "%s: %s", vm->workdir, strerror(errno)))) {
		say(why);
		return PROBE_NO_REPORT;
	}
	snprintf(vm->console_sock, sizeof(vm->console_sock), "%s/console.sock", vm->workdir);
	snprintf(vm->console_log, sizeof(vm->console_log), "%s/console.log", vm->workdir);
	k = probe_console_open(&vm->console, vm->console_sock, vm->console_log, PROBE_CONSOLE_LOG_MAX);
	if (k < 0) {
		sc_log_error("the console socket %s: %s", vm->console_sock, strerror(-k));
		return PROBE_NO_REPORT;
	}
	if (r->f.enroll) {
		/* The domain's nvram template: the key directory enrolled now, in the work directory. */
		char log[320];

		snprintf(log, sizeof(log), "%s/tools.log", vm->workdir);
		if (asprintf(&r->f.vars, "%s/vars.fd", vm->workdir) < 0 ||
		    probe_vm_enroll_keys(vm->keys_used, r->f.vars, log, why, sizeof(why)) < 0) {
			say(why);
			return EXIT_USAGE;
		}
	}
	if (vm->tpm) {
		/* PCR 11 must be the UKI the host built as sealed (the manifest's), whatever ESP boots. */
		char log[320];
		const char *argv[] = { "mcopy", "-o", "-i", r->f.sealed_esp, "::/EFI/BOOT/BOOTX64.EFI", vm->uki_path, NULL };

		snprintf(log, sizeof(log), "%s/tools.log", vm->workdir);
		snprintf(vm->uki_path, sizeof(vm->uki_path), "%s/sealed-uki.efi", vm->workdir);
		if (probe_spawn_wait(argv, log, PROBE_HELPER_TIMEOUT_MS) < 0) {
			sc_log_error("copying the UKI out of the sealed ESP (mcopy) failed");
			return PROBE_NO_REPORT;
		}
		if (cli_tpm_prepare(vm->keys_used, NULL, 0, vm->uki_path, NULL, &r->policy, &r->tpm) < 0)
			return cli_error_exit(r->o->json, CLI_ERROR_USAGE);
	}
	/* KVM where it really works (the same test run makes), else TCG. */
	if (strcmp(vm->accel, "tcg") != 0) {
		if (probe_kvm_usable(r->kvm_why, sizeof(r->kvm_why)) == 0)
			r->spec.kvm = true;
		else if (strcmp(vm->accel, "kvm") == 0) {
			sc_log_error("KVM requested but unusable: %s", r->kvm_why);
			return PROBE_NO_REPORT;
		}
	}
	if (probe_domain_name(r->f.dir, r->name, sizeof(r->name)) < 0) {
		sc_log_error("getrandom: %m");
		return PROBE_NO_REPORT;
	}
	r->spec.name = r->name;
	r->spec.loader = r->f.loader;
	r->spec.secure = r->f.secure;
	r->spec.nvram_template = r->f.vars;
	r->spec.esp = r->f.esp;
	r->spec.root = r->f.root;
	r->spec.console_socket = vm->console_sock;
	r->spec.tpm = vm->tpm;
	r->spec.uid = (unsigned)getuid();
	r->spec.gid = (unsigned)getgid();
	r->spec.metadata_image = r->f.dir;
	/* Unless --keep: who defined it, so that the next run can remove it if this one is killed outright. */
	if (!vm->keep && probe_owner_self(&r->owner) == 0)
		r->spec.owner = &r->owner;
	return RUN_GO;
}

/* libvirt on the probe's loop, the domain defined and started, its TPM's EK trusted, its channel and QEMU found. */
static int run_start(struct run *r)
{
	/* No discovery (no added or removed): run needs the connection, its keepalive and its close only. */
	static const struct probe_libvirt_ops ops = { .log = run_log };
	struct probe_vm *vm = r->vm;
	char why[512];
	int k;

	k = sd_event_new(&r->e);
	if (k >= 0)
		k = probe_libvirt_event_init(r->e);
	if (k >= 0)
		k = probe_libvirt_new(r->e, r->uri, SC_VIRTIO_PORT_DEFAULT, &ops, &r->ctx, &r->lv);
	if (k < 0) {
		sc_log_error("setting up libvirt's events: %s", strerror(-k));
		return PROBE_NO_REPORT;
	}
	r->ctx.event = r->e;
	if (!probe_libvirt_conn(r->lv)) {
		const char *m = probe_libvirt_last_error(r->lv);

		sc_log_error("connecting to %s: %s", r->uri, m);
		return PROBE_NO_REPORT;
	}
	(void)probe_domain_reap_orphans(probe_libvirt_conn(r->lv), domain_log, NULL);
	/* KVM first where it looks usable; a KVM start that fails or stays silent falls back to TCG, as run does. */
	for (;;) {
		k = start_domain(probe_libvirt_conn(r->lv), &r->spec, vm, &r->dom, r->kvm_why, sizeof(r->kvm_why));
		if (k >= 0 || !r->spec.kvm || strcmp(vm->accel, "kvm") == 0)
			break;
		r->spec.kvm = false;
		probe_console_reset(&vm->console);
	}
	if (k < 0) {
		if (r->spec.kvm) {
			sc_log_error("KVM requested but %s", r->kvm_why);
		}
		return k == -EINVAL ? EXIT_USAGE : PROBE_NO_REPORT;
	}
	r->started = true;
	if (vm->tpm && libvirt_tpm_trust(vm, r->ek_ca_file, &r->tpm, r->ek_ca, sizeof(r->ek_ca)) < 0)
		return cli_error_exit(r->o->json, CLI_ERROR_USAGE);
	if (vm->tpm) {
		/* libvirt ran swtpm_setup --vmid <name>:<uuid>: the EK certificate must be this domain's. */
		char u[VIR_UUID_STRING_BUFLEN];

		if (virDomainGetUUIDString(r->dom, u) < 0) {
			sc_log_error("the domain's UUID: %s", probe_domain_libvirt_error());
			return PROBE_NO_REPORT;
		}
		snprintf(r->tpm.ek_cn, sizeof(r->tpm.ek_cn), "%s:%s", r->name, u);
		r->tpm.cred.ek_cert_cn = r->tpm.ek_cn;
	}
	snprintf(vm->accel_used, sizeof(vm->accel_used), "%s%s%s%s (libvirt %s)", r->spec.kvm ? "kvm" : "tcg",
		 r->kvm_why[0] ? " (kvm unusable: " : "", r->kvm_why, r->kvm_why[0] ? ")" : "", r->uri);
	k = probe_libvirt_channel(r->dom, SC_VIRTIO_PORT_DEFAULT, &r->ch, why, sizeof(why));
	if (k != 1) {
		sc_log_error("the started domain's attestation channel: %s", k == 0 ? "none in its live XML" : why);
		return PROBE_NO_REPORT;
	}
	snprintf(vm->socket_path, sizeof(vm->socket_path), "%s", r->ch.path);
	/* QEMU's exit, seen through a pidfd, as run has for its own QEMU. */
	vm->pid = probe_domain_qemu_pid(r->uri, r->name);
	if (vm->pid > 0) {
		char proc[64];
		struct stat st;

		vm->pidfd = (int)syscall(SYS_pidfd_open, vm->pid, 0);
		if (vm->pidfd < 0)
			vm->pidfd = -1;
		/* libvirt's own user is qemu.conf's to choose (or a root session's): say so when it is root. */
		snprintf(proc, sizeof(proc), "/proc/%d", (int)vm->pid);
		if (r->spec.qemu_user_default && stat(proc, &st) == 0 && st.st_uid == 0)
			sc_log_error("warning: libvirt runs this domain's QEMU as root (qemu.conf's user, or a "
				     "root qemu:///session): a guest that escapes QEMU is root on this host");
	}
	return RUN_GO;
}

/* The attestation over the domain's channel, and its verdict printed. */
static int run_attest(struct run *r)
{
	struct probe_vm *vm = r->vm;
	struct probe_attest a = { 0 };
	int k, rc = PROBE_NO_REPORT;

	if (!r->o->json) {
		char uuid[VIR_UUID_STRING_BUFLEN] = "?";

		fputs("VM:      ", stdout);
		sc_term_fput(stdout, r->f.dir, strlen(r->f.dir), 0);
		printf(", firmware %s, accel ", probe_firmware_name(vm->firmware));
		sc_term_fput(stdout, vm->accel_used, strlen(vm->accel_used), 0);
		fputc('\n', stdout);
		(void)virDomainGetUUIDString(r->dom, uuid);
		printf("Domain:  %s (uuid %s), channel ", r->name, uuid);
		sc_term_fput(stdout, r->ch.path, strlen(r->ch.path), 0);
		fputc('\n', stdout);
	} else
		sc_log_error("libvirt domain %s", r->name); /* stdout is the JSON document alone */
	fflush(stdout);

	a.socket_path = vm->socket_path;
	a.deadline_ms = sc_now_ms() + (long long)r->o->timeout * 1000;
	/* The console and QEMU's exit need QEMU's pid; without it the session alone decides. */
	a.vm = vm->pidfd >= 0 ? vm : NULL;
	a.event = r->e; /* one loop: libvirt's connection (keepalive, events) and the attestation */
	a.progress = run_progress;
	a.userdata = &r->ctx;
	a.expect_evidence = vm->tpm;
	a.credential = cli_tpm_credential_config(&r->tpm);
	k = probe_attest_run(&a);
	r->tpm.x.credential = &a.session.credential; /* how the credential phase went */
	if (r->ctx.tty)
		fputs("\r\033[K", stderr);
	if (k < 0)
		sc_log_error("setting up the event loop: %s", strerror(-k));
	else
		rc = cli_finish(&a, &r->policy, r->o->json, vm, vm->tpm ? &r->tpm.x : NULL);
	probe_attest_done(&a);
	return rc;
}

/* The domain destroyed and undefined (unless --keep), libvirt's loop, the console and the work directory gone. */
static void run_teardown(struct run *r)
{
	struct probe_vm *vm = r->vm;
	char why[600];

	if (r->dom) {
		if (r->started && vm->keep)
			sc_log_error("VM left running as libvirt domain %s, work directory %s (virsh -c %s destroy %s; "
				     "virsh -c %s undefine --nvram%s %s)",
				     r->name, vm->workdir, r->uri, r->name, r->uri, vm->tpm ? " --tpm" : "", r->name);
		else if (probe_domain_remove(r->dom, r->uri, r->name, vm->tpm, domain_log, NULL, why, sizeof(why)) < 0)
			say(why);
		virDomainFree(TAKE_PTR(r->dom));
	}
	r->lv = probe_libvirt_free(r->lv);
	probe_libvirt_event_flush();
	r->e = sd_event_unref(r->e);
	probe_console_close(&vm->console);
	if (vm->pidfd >= 0)
		close(TAKE_FD(vm->pidfd));
	if (!vm->keep)
		probe_workdir_remove(vm->workdir);
	cli_tpm_done(&r->tpm);
	run_files_done(&r->f);
}

int run_libvirt(struct probe_vm *vm, struct cli_common *o, const char *uri, const char *ek_ca_file)
{
	struct run r = { .vm = vm, .o = o, .uri = uri, .ek_ca_file = ek_ca_file,
			 .ctx = { .tty = isatty(STDERR_FILENO) }, .spec = { .port = SC_VIRTIO_PORT_DEFAULT } };
	char why[512] = "";
	int k, rc;

	/* The options: refused before anything is made. */
	if (vm->tpm_state) {
		sc_log_error("--tpm-state is not offered with --libvirt: libvirt keeps the domain's TPM (use --tpm)");
		return cli_error_exit(o->json, CLI_ERROR_USAGE);
	}
	k = probe_block_signals();
	if (k < 0) {
		sc_log_error("blocking signals: %s", strerror(-k));
		return PROBE_NO_REPORT;
	}
	k = resolve_files(vm, &r.f, why, sizeof(why));
	if (k < 0) {
		say(why[0] ? why : strerror(-k));
		run_files_done(&r.f);
		probe_manifest_done(&vm->manifest);
		return k == -EINVAL ? EXIT_USAGE : PROBE_NO_REPORT;
	}
	if (cli_make_policy(&o->policy, "the image's manifest", &vm->manifest.digest, &r.policy) < 0) {
		run_files_done(&r.f);
		probe_manifest_done(&vm->manifest);
		return cli_error_exit(o->json, CLI_ERROR_NO_POLICY);
	}

	rc = run_setup(&r);
	if (rc == RUN_GO)
		rc = run_start(&r);
	if (rc == RUN_GO)
		rc = run_attest(&r);
	run_teardown(&r);
	probe_manifest_done(&vm->manifest);
	return rc;
}
