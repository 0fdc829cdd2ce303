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
#include "probe-libvirt.h"
#include "probe-loop.h"
#include "probe-manifest.h"
#include "probe-spawn.h"
#include "probe-vm.h"
#include "probe-workdir.h"
#include "sc-fileio.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-term.h"
#include "sc-why.h"
/* ---- run --libvirt ------------------------------------------------------------------------------ */

#define OVMF_CODE_SECURE "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
#define OVMF_CODE "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define OVMF_VARS_EMPTY "/usr/share/OVMF/OVMF_VARS_4M.fd"
/* libvirt's swtpm_setup certifies each VM's EK with this local CA (swtpm-localca(8), /etc/swtpm-localca.conf). */
#define SWTPM_LOCALCA_DIR "/var/lib/swtpm-localca"

static const char *libvirt_error(void)
{
	const char *m = virGetLastErrorMessage();

	return m ? m : "unknown error";
}

struct run_ctx {
	sd_event *event;
	bool tty;
};

static void run_log(struct probe_libvirt *l, const char *msg, void *userdata)
{
	(void)l;
	(void)userdata;
	fputs("sealcheck-probe run: libvirt: ", stderr);
	sc_term_fput(stderr, msg, strlen(msg), 0);
	fputc('\n', stderr);
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

/* "sealcheck-<image>-<8 hex>": the image folder's name, in characters libvirt and a shell take as they are. */
static int domain_name(const char *image_dir, char *buf, size_t size)
{
	const char *base = strrchr(image_dir, '/') ? strrchr(image_dir, '/') + 1 : image_dir;
	char clean[41];
	uint32_t rnd;
	size_t n = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -errno;
	for (; *base && n < sizeof(clean) - 1; base++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *base))
			clean[n++] = *base;
	clean[n] = '\0';
	snprintf(buf, size, "sealcheck-%s-%08x", n ? clean : "image", rnd);
	return 0;
}

/* QEMU's pid, from the pid file libvirt writes for the domain (qemu:///system or qemu:///session). */
static pid_t qemu_pid(const char *uri, const char *name)
{
	_cleanup_free_ char *buf = NULL;
	char path[400], comm[64] = "";
	size_t len;
	long pid;
	char *end;
	FILE *f;

	if (strcmp(uri, "qemu:///system") == 0)
		snprintf(path, sizeof(path), "/run/libvirt/qemu/%s.pid", name);
	else if (strcmp(uri, "qemu:///session") == 0 && getenv("XDG_RUNTIME_DIR"))
		snprintf(path, sizeof(path), "%s/libvirt/qemu/run/%s.pid", getenv("XDG_RUNTIME_DIR"), name);
	else
		return -1;
	if (sc_read_file_capped(path, 32, &buf, &len) < 0)
		return -1;
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno || end == buf || pid <= 1 || pid > INT32_MAX)
		return -1;
	/* Only QEMU's: the pid file could be stale. */
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "qemu-system-", 12) == 0 ? (pid_t)pid : -1;
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

static void say_libvirt(const char *what, const char *name)
{
	const char *m = libvirt_error();

	fprintf(stderr, "sealcheck-probe run: %s ", what);
	sc_term_fput(stderr, name, strlen(name), 0);
	fputs(": ", stderr);
	sc_term_fput(stderr, m, strlen(m), 0);
	fputc('\n', stderr);
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
		return cli_tpm_credential("run", ek_ca, NULL, NULL, tpm);

	snprintf(bundle, bundle_size, "%s/ek-ca.pem", vm->workdir);
	f = fopen(bundle, "wxe");
	if (!f) {
		fprintf(stderr, "sealcheck-probe run: %s: %s\n", bundle, strerror(errno));
		return -errno;
	}
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *pem = NULL;
		char path[200];
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", SWTPM_LOCALCA_DIR, names[i]);
		if (sc_read_file_capped(path, 64 * 1024, &pem, &len) < 0 || fwrite(pem, 1, len, f) != len) {
			fprintf(stderr, "sealcheck-probe run: %s: libvirt's swtpm local CA cannot be read (the EK's issuer)\n",
				path);
			return -EIO;
		}
	}
	if (fflush(f) != 0)
		return -errno;
	return cli_tpm_credential("run", bundle, NULL, NULL, tpm);
}

/* Destroy and undefine our own domain (this handle is the one we defined). 0, or -EIO (said unless @quiet). */
static int undefine(virDomainPtr dom, const struct probe_vm *vm, const char *name, bool quiet)
{
	int active = virDomainIsActive(dom);

	if (active < 0 || (active == 1 && virDomainDestroy(dom) < 0)) {
		if (!quiet)
			say_libvirt("destroying the domain", name);
		return -EIO;
	}
	if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM | (vm->tpm ? VIR_DOMAIN_UNDEFINE_TPM : 0)) < 0) {
		if (!quiet)
			say_libvirt("undefining the domain", name);
		return -EIO;
	}
	return 0;
}

/*
 * A run killed outright (SIGKILL, the OOM killer) cannot undefine its domain:
 * autodestroy stops it, but its definition, nvram copy and TPM state stay.
 * Each run first removes those of runs that are gone: inactive persistent
 * domains named sealcheck-*, whose <metadata> names an owner (boot, pid, start
 * time: probe-workdir.h) that no live process is. A --keep domain names no
 * owner and is never touched; nor is a domain someone else defined.
 */
static void reap_orphan_domains(virConnectPtr conn)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(conn, &doms,
					 VIR_CONNECT_LIST_DOMAINS_INACTIVE | VIR_CONNECT_LIST_DOMAINS_PERSISTENT);

	for (int i = 0; i < n; i++) {
		const char *name = virDomainGetName(doms[i]);
		_cleanup_free_ char *xml = NULL;
		struct probe_owner o;
		char why[200];

		if (name && strncmp(name, "sealcheck-", 10) == 0 &&
		    (xml = virDomainGetXMLDesc(doms[i], VIR_DOMAIN_XML_INACTIVE)) &&
		    probe_domain_xml_owner(xml, strlen(xml), &o, why, sizeof(why)) == 1 && probe_owner_gone(&o)) {
			/* Its TPM state too (libvirt before 8.9 refuses the flag for a domain without one: then without it). */
			if (virDomainUndefineFlags(doms[i], VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_TPM) == 0 ||
			    virDomainUndefineFlags(doms[i], VIR_DOMAIN_UNDEFINE_NVRAM) == 0) {
				fputs("sealcheck-probe run: removed the domain ", stderr);
				sc_term_fput(stderr, name, strlen(name), 0);
				fprintf(stderr, " a killed run left (its probe, pid %d, is gone)\n", (int)o.pid);
			} else
				say_libvirt("removing a domain a killed run left", name);
		}
		virDomainFree(doms[i]);
	}
	free(doms);
}

/* A new connection for the cleanup, while libvirtd comes back (30 s at most). */
static virConnectPtr reopen(const char *uri)
{
	long long deadline = sc_now_ms() + 30000;
	virConnectPtr c;

	while (!(c = virConnectOpen(uri)) && sc_now_ms() < deadline) {
		fputs("sealcheck-probe run: libvirt's connection is gone; waiting for libvirtd to undefine the domain\n",
		      stderr);
		(void)poll(NULL, 0, 1000);
	}
	return c;
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

/*
 * Defined (persistent) and then started, so that undefining removes the
 * nvram copy and the TPM state libvirt made for it; started with
 * AUTODESTROY unless --keep, so the VM also goes when the probe dies.
 * On failure the domain is undefined again, *ret is NULL and @kvm_why says
 * why when it was a KVM start.
 */
static int start_domain(virConnectPtr conn, const struct probe_domain_spec *spec, struct probe_vm *vm,
			virDomainPtr *ret, char *kvm_why, size_t kvm_why_size)
{
	_cleanup_free_ char *xml = NULL;
	char why[512];
	virDomainPtr dom;
	int r;

	*ret = NULL;
	r = probe_domain_xml_build(spec, &xml, why, sizeof(why));
	if (r < 0) {
		fputs("sealcheck-probe run: the domain XML: ", stderr);
		sc_term_fput(stderr, why, strlen(why), 0);
		fputc('\n', stderr);
		return r;
	}
	dom = virDomainDefineXML(conn, xml);
	if (!dom) {
		say_libvirt("defining the domain", spec->name);
		return -EIO;
	}
	if (virDomainCreateWithFlags(dom, vm->keep ? 0 : VIR_DOMAIN_START_AUTODESTROY) < 0) {
		if (spec->kvm) {
			const char *m = libvirt_error();

			/* Its first line (QEMU's own error), for the accel note. */
			snprintf(kvm_why, kvm_why_size, "the KVM domain did not start: %.*s", (int)strcspn(m, "\n"), m);
		}
		else
			say_libvirt("starting the domain", spec->name);
		(void)undefine(dom, vm, spec->name, false);
		virDomainFree(dom);
		return -EIO;
	}
	/* QEMU connects to the probe's console socket as it starts. */
	for (int i = 0; i < 50 && vm->console.fd < 0; i++) {
		struct pollfd p = { .fd = vm->console.listen_fd, .events = POLLIN };

		if (poll(&p, 1, 100) > 0)
			(void)probe_console_accept(&vm->console);
	}
	if (spec->kvm && !console_speaks(vm)) {
		snprintf(kvm_why, kvm_why_size, "no firmware output within 5 s");
		(void)undefine(dom, vm, spec->name, false);
		virDomainFree(dom);
		return -ETIMEDOUT;
	}
	*ret = dom;
	return 0;
}

int run_libvirt(struct probe_vm *vm, struct cli_common *o, const char *uri, const char *ek_ca_file)
{
	_cleanup_(run_files_done) struct run_files f = { 0 };
	_cleanup_(cli_tpm_done) struct cli_tpm tpm = { 0 };
	_cleanup_event_ sd_event *e = NULL;
	struct probe_libvirt *lv = NULL;
	struct probe_policy policy;
	struct probe_attest a = { 0 };
	struct probe_domain_channel ch;
	struct run_ctx ctx = { .tty = isatty(STDERR_FILENO) };
	/* No discovery (no added or removed): run needs the connection, its keepalive and its close only. */
	struct probe_libvirt_ops ops = { .log = run_log };
	struct probe_domain_spec spec = { .port = SC_VIRTIO_PORT_DEFAULT };
	virDomainPtr dom = NULL;
	char why[512] = "", name[80], kvm_why[200] = "", ek_ca[320] = "";
	struct probe_owner owner;
	bool started = false;
	int r, rc = PROBE_NO_REPORT;

	if (vm->tpm_state) {
		fputs("sealcheck-probe run: --tpm-state is not offered with --libvirt: libvirt keeps the domain's TPM "
		      "(use --tpm)\n",
		      stderr);
		return EXIT_USAGE;
	}
	r = probe_block_signals();
	if (r < 0) {
		fprintf(stderr, "sealcheck-probe run: blocking signals: %s\n", strerror(-r));
		return PROBE_NO_REPORT;
	}
	r = resolve_files(vm, &f, why, sizeof(why));
	if (r < 0) {
		fputs("sealcheck-probe run: ", stderr);
		sc_term_fput(stderr, why[0] ? why : strerror(-r), strlen(why[0] ? why : strerror(-r)), 0);
		fputc('\n', stderr);
		probe_manifest_done(&vm->manifest);
		return r == -EINVAL ? EXIT_USAGE : PROBE_NO_REPORT;
	}
	if (cli_make_policy("run", &o->policy, "the image's manifest", &vm->manifest.digest, &policy) < 0) {
		probe_manifest_done(&vm->manifest);
		return EXIT_USAGE;
	}

	/*
	 * The work directory: the console's socket (QEMU connects to the probe) and its log; owned unless --keep.
	 * As root, QEMU runs as libvirt's own user (not root): the directory is then one it can traverse (0711,
	 * under PROBE_WORKDIR_SHARED_BASE, not root's 0700 runtime directory), and libvirt gives that user the
	 * socket (its DAC driver labels a chardev's socket for QEMU).
	 */
	spec.qemu_user_default = getuid() == 0;
	if ((spec.qemu_user_default && probe_workdir_shared_base(why, sizeof(why)) < 0) ||
	    probe_workdir_create(vm->workdir, sizeof(vm->workdir), spec.qemu_user_default ? PROBE_WORKDIR_SHARED_BASE : NULL,
				 60, !vm->keep, why, sizeof(why)) < 0 ||
	    (spec.qemu_user_default && chmod(vm->workdir, 0711) < 0 &&
	     snprintf(why, sizeof(why), "%s: %s", vm->workdir, strerror(errno)))) {
		fputs("sealcheck-probe run: ", stderr);
		sc_term_fput(stderr, why, strlen(why), 0);
		fputc('\n', stderr);
		goto out;
	}
	snprintf(vm->console_sock, sizeof(vm->console_sock), "%s/console.sock", vm->workdir);
	snprintf(vm->console_log, sizeof(vm->console_log), "%s/console.log", vm->workdir);
	r = probe_console_open(&vm->console, vm->console_sock, vm->console_log, PROBE_CONSOLE_LOG_MAX);
	if (r < 0) {
		fprintf(stderr, "sealcheck-probe run: the console socket %s: %s\n", vm->console_sock, strerror(-r));
		goto out;
	}
	if (f.enroll) {
		/* The domain's nvram template: the key directory enrolled now, in the work directory. */
		char log[320];

		snprintf(log, sizeof(log), "%s/tools.log", vm->workdir);
		if (asprintf(&f.vars, "%s/vars.fd", vm->workdir) < 0 ||
		    probe_vm_enroll_keys(vm->keys_used, f.vars, log, why, sizeof(why)) < 0) {
			fputs("sealcheck-probe run: ", stderr);
			sc_term_fput(stderr, why, strlen(why), 0);
			fputc('\n', stderr);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (vm->tpm) {
		/* PCR 11 must be the UKI the host built as sealed (the manifest's), whatever ESP boots. */
		char log[320];
		const char *argv[] = { "mcopy", "-o", "-i", f.sealed_esp, "::/EFI/BOOT/BOOTX64.EFI", vm->uki_path, NULL };

		snprintf(log, sizeof(log), "%s/tools.log", vm->workdir);
		snprintf(vm->uki_path, sizeof(vm->uki_path), "%s/sealed-uki.efi", vm->workdir);
		if (probe_spawn_wait(argv, log, PROBE_HELPER_TIMEOUT_MS) < 0) {
			fprintf(stderr, "sealcheck-probe run: copying the UKI out of the sealed ESP (mcopy) failed\n");
			goto out;
		}
		if (cli_tpm_prepare("run", vm->keys_used, NULL, 0, vm->uki_path, NULL, &policy, &tpm) < 0) {
			rc = EXIT_USAGE;
			goto out;
		}
		a.expect_evidence = true;
	}

	/* KVM where it really works (the same test run makes), else TCG. */
	if (strcmp(vm->accel, "tcg") != 0) {
		if (probe_kvm_usable(kvm_why, sizeof(kvm_why)) == 0)
			spec.kvm = true;
		else if (strcmp(vm->accel, "kvm") == 0) {
			fputs("sealcheck-probe run: KVM requested but unusable: ", stderr);
			sc_term_fput(stderr, kvm_why, strlen(kvm_why), 0);
			fputc('\n', stderr);
			goto out;
		}
	}
	if (domain_name(f.dir, name, sizeof(name)) < 0) {
		fprintf(stderr, "sealcheck-probe run: getrandom: %s\n", strerror(errno));
		goto out;
	}
	spec.name = name;
	spec.loader = f.loader;
	spec.secure = f.secure;
	spec.nvram_template = f.vars;
	spec.esp = f.esp;
	spec.root = f.root;
	spec.console_socket = vm->console_sock;
	spec.tpm = vm->tpm;
	spec.uid = (unsigned)getuid();
	spec.gid = (unsigned)getgid();
	spec.metadata_image = f.dir;
	/* Unless --keep: who defined it, so that the next run can remove it if this one is killed outright. */
	if (!vm->keep && probe_owner_self(&owner) == 0)
		spec.owner = &owner;
	/* libvirt on the probe's loop. */
	r = sd_event_new(&e);
	if (r >= 0)
		r = probe_libvirt_event_init(e);
	if (r >= 0)
		r = probe_libvirt_new(e, uri, SC_VIRTIO_PORT_DEFAULT, &ops, &ctx, &lv);
	if (r < 0) {
		fprintf(stderr, "sealcheck-probe run: setting up libvirt's events: %s\n", strerror(-r));
		goto out;
	}
	ctx.event = e;
	if (!probe_libvirt_conn(lv)) {
		const char *m = probe_libvirt_last_error(lv);

		fputs("sealcheck-probe run: connecting to ", stderr);
		sc_term_fput(stderr, uri, strlen(uri), 0);
		fputs(": ", stderr);
		sc_term_fput(stderr, m, strlen(m), 0);
		fputc('\n', stderr);
		goto out;
	}
	reap_orphan_domains(probe_libvirt_conn(lv));
	/* KVM first where it looks usable; a KVM start that fails or stays silent falls back to TCG, as run does. */
	for (;;) {
		r = start_domain(probe_libvirt_conn(lv), &spec, vm, &dom, kvm_why, sizeof(kvm_why));
		if (r >= 0 || !spec.kvm || strcmp(vm->accel, "kvm") == 0)
			break;
		spec.kvm = false;
		probe_console_reset(&vm->console);
	}
	if (r < 0) {
		if (spec.kvm) {
			fputs("sealcheck-probe run: KVM requested but ", stderr);
			sc_term_fput(stderr, kvm_why, strlen(kvm_why), 0);
			fputc('\n', stderr);
		}
		rc = r == -EINVAL ? EXIT_USAGE : PROBE_NO_REPORT;
		goto out;
	}
	started = true;
	if (vm->tpm && libvirt_tpm_trust(vm, ek_ca_file, &tpm, ek_ca, sizeof(ek_ca)) < 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	if (vm->tpm) {
		/* libvirt ran swtpm_setup --vmid <name>:<uuid>: the EK certificate must be this domain's. */
		char u[VIR_UUID_STRING_BUFLEN];

		if (virDomainGetUUIDString(dom, u) < 0) {
			fprintf(stderr, "sealcheck-probe run: the domain's UUID: %s\n", libvirt_error());
			goto out;
		}
		snprintf(tpm.ek_cn, sizeof(tpm.ek_cn), "%s:%s", name, u);
		tpm.cred.ek_cert_cn = tpm.ek_cn;
	}
	snprintf(vm->accel_used, sizeof(vm->accel_used), "%s%s%s%s (libvirt %s)", spec.kvm ? "kvm" : "tcg",
		 kvm_why[0] ? " (kvm unusable: " : "", kvm_why, kvm_why[0] ? ")" : "", uri);
	r = probe_libvirt_channel(dom, SC_VIRTIO_PORT_DEFAULT, &ch, why, sizeof(why));
	if (r != 1) {
		fputs("sealcheck-probe run: the started domain's attestation channel: ", stderr);
		sc_term_fput(stderr, r == 0 ? "none in its live XML" : why, strlen(r == 0 ? "none in its live XML" : why), 0);
		fputc('\n', stderr);
		goto out;
	}
	snprintf(vm->socket_path, sizeof(vm->socket_path), "%s", ch.path);
	/* QEMU's exit, seen through a pidfd, as run has for its own QEMU. */
	vm->pid = qemu_pid(uri, name);
	if (vm->pid > 0) {
		char proc[64];
		struct stat st;

		vm->pidfd = (int)syscall(SYS_pidfd_open, vm->pid, 0);
		if (vm->pidfd < 0)
			vm->pidfd = -1;
		/* libvirt's own user is qemu.conf's to choose (or a root session's): say so when it is root. */
		snprintf(proc, sizeof(proc), "/proc/%d", (int)vm->pid);
		if (spec.qemu_user_default && stat(proc, &st) == 0 && st.st_uid == 0)
			fputs("sealcheck-probe run: warning: libvirt runs this domain's QEMU as root (qemu.conf's user, or a "
			      "root qemu:///session): a guest that escapes QEMU is root on this host\n",
			      stderr);
	}

	if (!o->json) {
		fputs("VM:      ", stdout);
		sc_term_fput(stdout, f.dir, strlen(f.dir), 0);
		printf(", firmware %s, accel ", probe_firmware_name(vm->firmware));
		sc_term_fput(stdout, vm->accel_used, strlen(vm->accel_used), 0);
		fputc('\n', stdout);
		printf("Domain:  %s (uuid ", name);
		{
			char uuid[VIR_UUID_STRING_BUFLEN] = "?";

			(void)virDomainGetUUIDString(dom, uuid);
			printf("%s), channel ", uuid);
		}
		sc_term_fput(stdout, ch.path, strlen(ch.path), 0);
		fputc('\n', stdout);
	} else
		fprintf(stderr, "sealcheck-probe run: libvirt domain %s\n", name); /* stdout is the JSON document alone */
	fflush(stdout);

	a.socket_path = vm->socket_path;
	a.deadline_ms = sc_now_ms() + (long long)o->timeout * 1000;
	/* The console and QEMU's exit need QEMU's pid; without it the session alone decides. */
	a.vm = vm->pidfd >= 0 ? vm : NULL;
	a.event = e; /* one loop: libvirt's connection (keepalive, events) and the attestation */
	a.progress = run_progress;
	a.userdata = &ctx;
	a.credential = cli_tpm_credential_config(&tpm);
	r = probe_attest_run(&a);
	tpm.x.credential = &a.session.credential; /* how the credential phase went */
	if (ctx.tty)
		fputs("\r\033[K", stderr);
	if (r < 0)
		fprintf(stderr, "sealcheck-probe run: setting up the event loop: %s\n", strerror(-r));
	else
		rc = cli_finish(&a, &policy, o->json, vm, vm->tpm ? &tpm.x : NULL);
	probe_attest_done(&a);

out:
	if (dom) {
		if (started && vm->keep)
			fprintf(stderr,
				"sealcheck-probe: VM left running as libvirt domain %s, work directory %s (virsh -c %s destroy %s; "
				"virsh -c %s undefine --nvram%s %s)\n",
				name, vm->workdir, uri, name, uri, vm->tpm ? " --tpm" : "", name);
		else if (undefine(dom, vm, name, true) < 0) {
			/*
			 * The connection may have died under us (libvirtd restarted, which
			 * also stops an autodestroy domain): a fresh one finds the domain by
			 * its UUID to undefine it. Otherwise say what failed.
			 */
			char uuid[VIR_UUID_STRING_BUFLEN];
			virConnectPtr c = NULL;
			virDomainPtr again = NULL;

			if (virConnectIsAlive(virDomainGetConnect(dom)) == 1 || virDomainGetUUIDString(dom, uuid) < 0)
				(void)undefine(dom, vm, name, false);
			else if ((c = reopen(uri)) && (again = virDomainLookupByUUIDString(c, uuid))) {
				(void)undefine(again, vm, name, false);
				virDomainFree(again);
			} else
				say_libvirt("reconnecting to undefine the domain", name);
			if (c)
				virConnectClose(c);
		}
		virDomainFree(dom);
	}
	lv = probe_libvirt_free(lv);
	probe_libvirt_event_flush();
	probe_console_close(&vm->console);
	if (vm->pidfd >= 0)
		close(TAKE_FD(vm->pidfd));
	if (!vm->keep)
		probe_workdir_remove(vm->workdir);
	probe_manifest_done(&vm->manifest);
	return rc;
}
