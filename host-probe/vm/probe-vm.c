/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe-pe.h"
#include "probe-spawn.h"
#include "probe-sbref.h"
#include "probe-swtpm.h"
#include "probe-vm.h"
#include "probe-workdir.h"
#include "sc-fileio.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-why.h"

#define OVMF_CODE_SECURE "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
#define OVMF_CODE "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define OVMF_VARS_EMPTY "/usr/share/OVMF/OVMF_VARS_4M.fd"

static void kvm_alarm(int sig)
{
	(void)sig;
}

/*
 * /dev/kvm existing is not enough: on some hosts (nested, paravirtual) a
 * guest then hangs. Run a real vCPU through "mov al,0x42; out 0x10,al; hlt"
 * in real mode and require both exits within a second.
 */
int probe_kvm_usable(char *why, size_t why_size)
{
	static const uint8_t code[] = { 0xb0, 0x42, 0xe6, 0x10, 0xf4 };
	_cleanup_close_ int kvm = -1, vmfd = -1, vcpu = -1;
	struct kvm_userspace_memory_region region = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = 0x1000, .rflags = 2 };
	struct kvm_run *run;
	struct sigaction sa = { .sa_handler = kvm_alarm }, old;
	void *mem;
	long run_size;
	int r = 0, exits = 0;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return sc_why(-errno, why, why_size, "/dev/kvm: %s", strerror(errno));
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != 12)
		return sc_why(-ENOTSUP, why, why_size, "unexpected KVM API version");
	vmfd = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vmfd < 0)
		return sc_why(-errno, why, why_size, "KVM_CREATE_VM: %s", strerror(errno));
	mem = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	memcpy((uint8_t *)mem + 0x1000, code, sizeof(code));
	region.memory_size = 0x2000;
	region.userspace_addr = (uintptr_t)mem;
	if (ioctl(vmfd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		r = -errno;
		snprintf(why, why_size, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		goto out;
	}
	vcpu = ioctl(vmfd, KVM_CREATE_VCPU, 0);
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || run_size <= 0) {
		r = -ENOTSUP;
		snprintf(why, why_size, "KVM_CREATE_VCPU failed");
		goto out;
	}
	run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED || ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
		r = -ENOTSUP;
		snprintf(why, why_size, "vCPU setup failed");
		goto out;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
		r = -ENOTSUP;
		snprintf(why, why_size, "vCPU register setup failed");
		goto out;
	}
	sigaction(SIGALRM, &sa, &old);
	alarm(1);
	while (exits < 2) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			r = errno == EINTR ? -ETIMEDOUT : -errno;
			snprintf(why, why_size, "%s", errno == EINTR ? "a test vCPU did not finish in 1 s" : strerror(errno));
			break;
		}
		if (run->exit_reason == KVM_EXIT_IO && exits == 0 && run->io.port == 0x10 &&
		    *((uint8_t *)run + run->io.data_offset) == 0x42)
			exits = 1;
		else if (run->exit_reason == KVM_EXIT_HLT && exits == 1)
			exits = 2;
		else {
			r = -ENOTSUP;
			snprintf(why, why_size, "a test vCPU exited unexpectedly (reason %u)", run->exit_reason);
			break;
		}
	}
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	munmap(run, (size_t)run_size);
out:
	munmap(mem, 0x2000);
	return r;
}

int probe_firmware_from_name(const char *name, enum probe_firmware *ret)
{
	static const char *const names[] = { "uefi-secure", "uefi-insecure", "uefi-setup", "bios" };

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (strcmp(name, names[i]) == 0) {
			*ret = (enum probe_firmware)i;
			return 0;
		}
	return -EINVAL;
}

const char *probe_firmware_name(enum probe_firmware fw)
{
	static const char *const names[] = { "uefi-secure", "uefi-insecure", "uefi-setup", "bios" };

	return (unsigned)fw < ELEMENTSOF(names) ? names[fw] : "?";
}

void probe_vm_init(struct probe_vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	probe_swtpm_init(&vm->swtpm);
	vm->accel = "auto";
	vm->pid = -1;
	vm->pidfd = -1;
	vm->console.listen_fd = vm->console.fd = vm->console.log_fd = -1;
}

static int copy_file(const char *from, const char *to)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	size_t len;
	int r = sc_read_file_capped(from, 64u << 20, &buf, &len);

	if (r < 0)
		return r;
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		return sc_negative_errno();
	return 0;
}

/* Enroll PK/KEK/db from a bcvk-style key folder into a fresh store, as bcvk does. */
static int enroll_keys(const char *keys, const char *vars, const char *log, char *why, size_t why_size)
{
	_cleanup_free_ char *guid = NULL, *pk = NULL, *kek = NULL, *db = NULL, *gpath = NULL;
	size_t len;
	int r;

	if (asprintf(&gpath, "%s/GUID.txt", keys) < 0 || asprintf(&pk, "%s/PK.crt", keys) < 0 ||
	    asprintf(&kek, "%s/KEK.crt", keys) < 0 || asprintf(&db, "%s/db.crt", keys) < 0)
		return -ENOMEM;
	r = sc_read_file_capped(gpath, 64, &guid, &len);
	if (r < 0)
		return sc_why(r, why, why_size, "%s: %s", gpath, strerror(-r));
	guid[strcspn(guid, "\r\n")] = '\0';
	{
		/* virt-fw-vars where installed (Fedora), else python3-virt-firmware from the cache. */
		const char *argv_bin[] = { "virt-fw-vars", "-i", OVMF_VARS_EMPTY, "-o", vars, "--set-pk", guid, pk,
					   "--add-kek", guid, kek, "--add-db", guid, db, "--sb", NULL };
		const char *argv_py[] = { "python3", "-m", "virt.firmware.vars", "-i", OVMF_VARS_EMPTY, "-o", vars,
					  "--set-pk", guid, pk, "--add-kek", guid, kek, "--add-db", guid, db, "--sb", NULL };

		r = probe_spawn_wait(argv_bin, log, PROBE_HELPER_TIMEOUT_MS);
		if (r < 0 && r != -ETIMEDOUT)
			r = probe_spawn_wait(argv_py, log, PROBE_HELPER_TIMEOUT_MS);
	}
	if (r < 0)
		snprintf(why, why_size, "enrolling the keys of %s with virt-fw-vars %s (see %s; python3-virt-firmware: "
			 "installed, or on PYTHONPATH as scripts/fetch-guest-kernel.sh --virt-firmware prints it)", keys,
			 r == -ETIMEDOUT ? "timed out" : "failed", log);
	return r;
}

int probe_vm_enroll_keys(const char *keys, const char *vars, const char *log, char *why, size_t why_size)
{
	struct probe_sb_reference ref;
	char inner[400];
	int r;

	if (!keys || !keys[0])
		return sc_why(-EINVAL, why, why_size, "no Secure Boot key directory: give --secure-boot-keys DIR (PK.crt, KEK.crt, db.crt, GUID.txt)");
	/* Refused before anything boots: a directory others can write, or one that is not a key directory. */
	r = probe_sb_reference_load(keys, &ref, inner, sizeof(inner));
	if (r < 0)
		return sc_why(r, why, why_size, "the Secure Boot key directory: %s", inner);
	probe_sb_reference_done(&ref);
	return enroll_keys(keys, vars, log, why, why_size);
}

/* The sealed UKI the host built, copied out of its ESP: what the host predicts PCR 11 for. */
static int copy_uki(const char *esp, const char *workdir, const char *log, char *ret, size_t ret_size, char *why,
		    size_t why_size)
{
	const char *argv[] = { "mcopy", "-o", "-i", esp, "::/EFI/BOOT/BOOTX64.EFI", ret, NULL };
	int r;

	snprintf(ret, ret_size, "%s/sealed-uki.efi", workdir);
	r = probe_spawn_wait(argv, log, PROBE_HELPER_TIMEOUT_MS);
	if (r < 0)
		snprintf(why, why_size, "copying the UKI out of %s (mcopy) failed", esp);
	return r;
}

/* BIOS boots: the UKI's own sections, so the same signed payload runs without UEFI. */
struct direct_boot {
	char kernel[320], initrd[320], cmdline[4096];
};

int probe_vm_write_section(const struct probe_pe *pe, const char *name, const char *path, char *why,
			   size_t why_size)
{
	const struct probe_pe_section *sec = NULL;
	const uint8_t *p = NULL;
	size_t len = 0;
	_cleanup_close_ int fd = -1;

	for (unsigned i = 0; i < pe->n_sections; i++) {
		if (strcmp(pe->sections[i].name, name) != 0)
			continue;
		/* objcopy would write both with the gap between them; which one a stub uses is not ours to guess. */
		if (sec)
			return sc_why(-EBADMSG, why, why_size, "the UKI has more than one %s section", name);
		sec = &pe->sections[i];
	}
	if (sec)
		probe_pe_section_raw(pe, sec, &p, &len);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return sc_why(-errno, why, why_size, "%s: %s", path, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return sc_why(n < 0 ? -errno : -EIO, why, why_size, "%s: %s", path,
				      strerror(n < 0 ? errno : EIO));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int extract_uki(const char *esp, const char *workdir, const char *log, struct direct_boot *d, char *why,
		       size_t why_size)
{
	_cleanup_free_ char *cmd = NULL;
	_cleanup_(probe_pe_done) struct probe_pe pe = { 0 };
	char uki[320], path[340], inner[400];
	size_t len;
	int r;

	snprintf(uki, sizeof(uki), "%s/uki.efi", workdir);
	{
		const char *argv[] = { "mcopy", "-o", "-i", esp, "::/EFI/BOOT/BOOTX64.EFI", uki, NULL };

		r = probe_spawn_wait(argv, log, PROBE_HELPER_TIMEOUT_MS);
		if (r < 0)
			return sc_why(r, why, why_size, "extracting the UKI from %s (mcopy) failed", esp);
	}
	/* Read by the strict PE reader (at most PROBE_PE_FILE_MAX), as for PCR 11: no objcopy. */
	r = probe_pe_load(uki, &pe, inner, sizeof(inner));
	if (r < 0)
		return sc_why(r, why, why_size, "the UKI in %s: %s", esp, inner);
	snprintf(d->kernel, sizeof(d->kernel), "%s/linux", workdir);
	snprintf(d->initrd, sizeof(d->initrd), "%s/initrd", workdir);
	for (int i = 0; i < 3; i++) {
		const char *name = i == 0 ? ".linux" : i == 1 ? ".initrd" : ".cmdline";

		snprintf(path, sizeof(path), "%s/%s", workdir, name + 1);
		r = probe_vm_write_section(&pe, name, path, inner, sizeof(inner));
		if (r < 0)
			return sc_why(r, why, why_size, "extracting %s from the UKI: %s", name, inner);
	}
	snprintf(path, sizeof(path), "%s/cmdline", workdir);
	r = sc_read_file_capped(path, sizeof(d->cmdline) - 1, &cmd, &len);
	if (r < 0)
		return sc_why(r, why, why_size, "the UKI's .cmdline: %s", strerror(-r));
	len = strcspn(cmd, "\n");
	memcpy(d->cmdline, cmd, len);
	d->cmdline[len] = '\0';
	return 0;
}

struct qemu_drives {
	char *code, *vars, *esp, *root, *attest, *console, *tpm;
};

static void qemu_drives_done(struct qemu_drives *d)
{
	free(d->code);
	free(d->vars);
	free(d->esp);
	free(d->root);
	free(d->attest);
	free(d->console);
	free(d->tpm);
}

static int spawn_qemu(struct probe_vm *vm, const char *accel, const char *cpu, const struct qemu_drives *d,
		      const char *log, const struct direct_boot *direct)
{
	/*
	 * -nodefaults: no NIC (a user-mode NIC would reach the host's loopback
	 * services), no CD-ROM, no default serial, parallel or monitor; only what
	 * the boot needs is added. The sandbox denies QEMU spawning, privilege
	 * changes and obsolete system calls.
	 */
	/* The TPM, when asked for: without it the list ends at the NULL in its place. */
#define QEMU_TPM d->tpm ? "-chardev" : NULL, d->tpm, "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0"
#define QEMU_COMMON                                                                                          \
	"qemu-system-x86_64", "-nodefaults", "-no-user-config", "-sandbox",                                  \
		"on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny", "-nic", "none",  \
		"-accel", accel, "-cpu", cpu, "-smp", "1", "-m", "1024", "-display", "none", "-no-reboot",  \
		"-monitor", "none", "-chardev", d->console, "-serial", "chardev:con"
	const char *uefi_argv[] = {
		QEMU_COMMON, "-machine", "q35,smm=on",
		"-global", "driver=cfi.pflash01,property=secure,value=on",
		"-drive", d->code, "-drive", d->vars,
		"-drive", d->esp, "-device", "virtio-blk-pci,drive=esp,bootindex=0",
		"-drive", d->root, "-device", "virtio-blk-pci,drive=root",
		"-device", "virtio-serial-pci", "-chardev", d->attest,
		"-device", "virtserialport,chardev=attest,name=" SC_VIRTIO_PORT_DEFAULT, QEMU_TPM, NULL,
	};
	/* --disk: the user's one disk, the ESP and the root on it. */
	const char *disk_argv[] = {
		QEMU_COMMON, "-machine", "q35,smm=on",
		"-global", "driver=cfi.pflash01,property=secure,value=on",
		"-drive", d->code, "-drive", d->vars,
		"-drive", d->esp, "-device", "virtio-blk-pci,drive=esp,bootindex=0",
		"-device", "virtio-serial-pci", "-chardev", d->attest,
		"-device", "virtserialport,chardev=attest,name=" SC_VIRTIO_PORT_DEFAULT, QEMU_TPM, NULL,
	};
	const char *bios_argv[] = {
		QEMU_COMMON, "-machine", "q35",
		"-kernel", direct ? direct->kernel : "", "-initrd", direct ? direct->initrd : "",
		"-append", direct ? direct->cmdline : "",
		"-drive", d->esp, "-device", "virtio-blk-pci,drive=esp",
		"-drive", d->root, "-device", "virtio-blk-pci,drive=root",
		"-device", "virtio-serial-pci", "-chardev", d->attest,
		"-device", "virtserialport,chardev=attest,name=" SC_VIRTIO_PORT_DEFAULT, QEMU_TPM, NULL,
	};
#undef QEMU_COMMON
#undef QEMU_TPM
	_cleanup_close_ int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	int r;

	if (out < 0)
		return -errno;
	r = probe_spawn(direct ? bios_argv : vm->disk ? disk_argv : uefi_argv, out, !vm->keep, &vm->pid, &vm->pidfd);
	if (r < 0)
		return r;
	/* QEMU connects to the console socket while it starts. */
	for (int i = 0; i < 100 && vm->console.fd < 0 && probe_vm_running(vm); i++) {
		struct pollfd p = { .fd = vm->console.listen_fd, .events = POLLIN };

		if (poll(&p, 1, 100) > 0)
			(void)probe_console_accept(&vm->console);
	}
	return 0;
}

/* Under KVM the firmware writes to the console within a second; give it five. */
static int kvm_started(struct probe_vm *vm, const char *log, char *why, size_t why_size)
{
	long long deadline = sc_now_ms() + 5000;

	while (sc_now_ms() < deadline) {
		struct pollfd p = { .fd = vm->console.fd, .events = POLLIN };

		if (!probe_vm_running(vm)) {
			_cleanup_free_ char *buf = NULL;
			size_t len;
			const char *line;

			/* QEMU's own "error: ..." line says most. */
			if (sc_read_file_capped(log, 64 * 1024, &buf, &len) < 0)
				buf = NULL;
			line = buf ? strstr(buf, "error: ") : NULL;
			snprintf(why, why_size, "qemu exited: %.120s", line ? line + 7 : buf ? buf : "?");
			why[strcspn(why, "\n")] = '\0';
			return -ECHILD;
		}
		if (vm->console.fd >= 0 && poll(&p, 1, 100) > 0 && probe_console_read(&vm->console, sc_now_ms()) > 0)
			return 0;
		if (vm->console.fd < 0)
			(void)poll(NULL, 0, 100);
	}
	snprintf(why, why_size, "no firmware output within 5 s");
	return -ETIMEDOUT;
}

static int make_drives(struct probe_vm *vm, const char *code, const char *vars, const char *esp, const char *root,
		       struct qemu_drives *d)
{
	_cleanup_free_ char *c = probe_qemu_escape(code), *v = probe_qemu_escape(vars), *e = probe_qemu_escape(esp),
			    *ro = probe_qemu_escape(root ?: ""), *s = probe_qemu_escape(vm->socket_path),
			    *cs = probe_qemu_escape(vm->console_sock);

	if (!c || !v || !e || !ro || !s || !cs)
		return -ENOMEM;
	if (asprintf(&d->code, "if=pflash,format=raw,unit=0,file=%s,readonly=on", c) < 0 ||
	    asprintf(&d->vars, "if=pflash,format=raw,unit=1,file=%s", v) < 0 ||
	    (vm->disk ? asprintf(&d->esp, "if=none,id=esp,file=%s,format=%s,snapshot=on", e, vm->disk_info.format)
		      : asprintf(&d->esp, "if=none,id=esp,file=%s,format=raw,readonly=on", e)) < 0 ||
	    (!vm->disk && asprintf(&d->root, "if=none,id=root,file=%s,format=raw,snapshot=on", ro) < 0) ||
	    asprintf(&d->attest, "socket,id=attest,path=%s,server=on,wait=off", s) < 0 ||
	    asprintf(&d->console, "socket,id=con,path=%s,server=off", cs) < 0)
		return -ENOMEM;
	if (vm->tpm) {
		_cleanup_free_ char *t = probe_qemu_escape(vm->swtpm.ctrl_sock);

		if (!t || asprintf(&d->tpm, "socket,id=chrtpm,path=%s", t) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int prepare_vars(struct probe_vm *vm, const char *vars, const char *log, const char **ret_code, char *why,
			size_t why_size)
{
	int r;

	/* Every boot from a FRESH copy of the store: a used one keeps boot entries tied to PCI slots. */
	switch (vm->firmware) {
	case PROBE_FW_UEFI_SECURE:
		*ret_code = OVMF_CODE_SECURE;
		return probe_vm_enroll_keys(vm->keys_used, vars, log, why, why_size);
	case PROBE_FW_UEFI_SETUP:
		*ret_code = OVMF_CODE_SECURE;
		break;
	case PROBE_FW_BIOS:
		*ret_code = OVMF_CODE; /* not used: no pflash in a BIOS boot */
		return 0;
	default:
		*ret_code = OVMF_CODE;
		break;
	}
	r = copy_file(OVMF_VARS_EMPTY, vars);
	if (r < 0)
		snprintf(why, why_size, "%s: %s", OVMF_VARS_EMPTY, strerror(-r));
	return r;
}

int probe_vm_esp_path(const struct probe_vm *vm, const char *image_dir, char **ret, char *why, size_t why_size)
{
	char esp_buf[160];
	const char *name;

	if (vm->esp && strchr(vm->esp, '/')) {
		/* A file the operator names by path: absolute, as libvirt wants it. */
		*ret = realpath(vm->esp, NULL);
		if (!*ret)
			return sc_why(-errno, why, why_size, "--esp %s: %s", vm->esp, strerror(errno));
		return 0;
	}
	name = vm->esp ? (probe_plain_name(vm->esp) && strstr(vm->esp, ".img")
				  ? vm->esp
				  : probe_manifest_esp(&vm->manifest, vm->esp, esp_buf, sizeof(esp_buf)))
		       : vm->manifest.esp;
	if (!name)
		return sc_why(-EINVAL, why, why_size, "--esp %.60s: not a variant of the image or a plain file name",
		              vm->esp);
	return probe_image_file(image_dir, name, ret, why, why_size);
}

int probe_vm_start(struct probe_vm *vm, char *why, size_t why_size)
{
	_cleanup_(qemu_drives_done) struct qemu_drives d = { 0 };
	_cleanup_free_ char *vars = NULL, *esp = NULL, *root = NULL, *log = NULL;
	const char *code = OVMF_CODE;
	char kvm_why[200] = "";
	struct direct_boot direct;
	int r;

	if (vm->disk && vm->firmware == PROBE_FW_BIOS)
		return sc_why(-EINVAL, why, why_size, "--disk boots through UEFI (its systemd-boot): not with --firmware bios");
	if (vm->disk && (!vm->keys_dir || !vm->keys_dir[0]))
		return sc_why(-EINVAL, why, why_size, "--disk needs --secure-boot-keys DIR: the keys to enroll, and what the disk's boot chain must be signed by");
	if (!vm->disk) {
		r = probe_manifest_load(vm->image_dir, &vm->manifest, why, why_size);
		if (r < 0)
			return r;
	}
	/* Owned unless --keep: a later probe removes it if this one is killed outright (probe-workdir.h). */
	r = probe_workdir_create(vm->workdir, sizeof(vm->workdir), NULL, 100, !vm->keep, why, why_size);
	if (r < 0)
		return r;
	snprintf(vm->socket_path, sizeof(vm->socket_path), "%s/attest.sock", vm->workdir);
	snprintf(vm->console_sock, sizeof(vm->console_sock), "%s/console.sock", vm->workdir);
	snprintf(vm->console_log, sizeof(vm->console_log), "%s/console.log", vm->workdir);
	if (asprintf(&vars, "%s/vars.fd", vm->workdir) < 0 || asprintf(&log, "%s/qemu.log", vm->workdir) < 0)
		return -ENOMEM;
	r = probe_console_open(&vm->console, vm->console_sock, vm->console_log, PROBE_CONSOLE_LOG_MAX);
	if (r < 0)
		return sc_why(r, why, why_size, "the console socket %s: %s", vm->console_sock, strerror(-r));

	snprintf(vm->keys_used, sizeof(vm->keys_used), "%s",
		 vm->keys_dir ?: json_string_value(json_object_get(vm->manifest.doc, "keys")) ?: "");
	if (vm->disk) {
		/* What the host expects comes from the disk's ESP, and only once its signatures are the keys'. */
		r = probe_vm_disk_read(vm->disk, vm->workdir, log, &vm->disk_info, why, why_size);
		if (r >= 0)
			r = probe_vm_disk_verify(&vm->disk_info, vm->keys_used, why, why_size);
		if (r < 0)
			return r;
		if (!vm->disk_info.chain_signed && vm->firmware == PROBE_FW_UEFI_SECURE)
			return sc_why(-EKEYREJECTED, why, why_size, "%s: Secure Boot with the keys of %s refuses to start it: not booted",
				      vm->disk_info.chain_why, vm->keys_used);
	}
	r = prepare_vars(vm, vars, log, &code, why, why_size);
	if (r < 0)
		return r;

	if (vm->disk) {
		/* Never written: QEMU's snapshot=on puts the guest's writes in a temporary overlay. */
		if (!(esp = strdup(vm->disk)))
			return -ENOMEM;
	} else {
		/* The ESP: a variant of the manifest (plain names only), or a file the operator names by path. */
		r = probe_vm_esp_path(vm, vm->image_dir, &esp, why, why_size);
		if (r < 0)
			return r;
		if (access(esp, R_OK) < 0)
			return sc_why(-errno, why, why_size, "%s: %s", esp, strerror(errno));
		r = probe_image_file(vm->image_dir, vm->manifest.root, &root, why, why_size);
		if (r < 0)
			return r;
	}
	if (vm->tpm) {
		char state[300];

		/* Per VM when the operator names the state, else a TPM of this run's own. */
		snprintf(state, sizeof(state), "%s/tpm", vm->workdir);
		r = probe_swtpm_prepare(&vm->swtpm, vm->tpm_state ?: state, log, why, why_size);
		if (r >= 0 && !vm->tpm_ak_activate)
			r = probe_swtpm_ak_name(&vm->swtpm, vm->workdir, log, vm->ak_name, &vm->ak_name_len, why, why_size);
		if (r >= 0) {
			/* PCR 11 must be the UKI the host built as sealed (the manifest's), whatever ESP boots;
			 * with --disk, the one its boot entry names (signed by db: checked above). */
			_cleanup_free_ char *sealed = NULL;

			if (vm->disk)
				snprintf(vm->uki_path, sizeof(vm->uki_path), "%s", vm->disk_info.uki);
			else {
				r = probe_image_file(vm->image_dir, vm->manifest.esp, &sealed, why, why_size);
				if (r >= 0)
					r = copy_uki(sealed, vm->workdir, log, vm->uki_path, sizeof(vm->uki_path), why,
						     why_size);
			}
		}
		if (r >= 0)
			r = probe_swtpm_start(&vm->swtpm, vm->workdir, log, !vm->keep, why, why_size);
		if (r < 0)
			return r;
	}
	r = make_drives(vm, code, vars, esp, root, &d);
	if (r < 0)
		return r;

	if (vm->firmware == PROBE_FW_BIOS) {
		r = extract_uki(esp, vm->workdir, log, &direct, why, why_size);
		if (r < 0)
			return r;
	}
	if (strcmp(vm->accel, "tcg") != 0) {
		r = probe_kvm_usable(kvm_why, sizeof(kvm_why));
		if (r == 0) {
			/* A vCPU that runs is not yet a guest that boots: start it and watch the firmware. */
			r = spawn_qemu(vm, "kvm", "host", &d, log, vm->firmware == PROBE_FW_BIOS ? &direct : NULL);
			if (r == 0)
				r = kvm_started(vm, log, kvm_why, sizeof(kvm_why));
			if (r == 0) {
				snprintf(vm->accel_used, sizeof(vm->accel_used), "kvm");
				return 0;
			}
			probe_vm_stop(vm);
			/* The store may hold what the failed start wrote: start over from a fresh copy. */
			r = prepare_vars(vm, vars, log, &code, why, why_size);
			if (r < 0)
				return r;
			probe_console_reset(&vm->console);
		}
		if (strcmp(vm->accel, "kvm") == 0)
			return sc_why(-ENODEV, why, why_size, "KVM requested but unusable: %s", kvm_why);
	}
	snprintf(vm->accel_used, sizeof(vm->accel_used), "tcg%s%s%s", kvm_why[0] ? " (kvm unusable: " : "", kvm_why,
		 kvm_why[0] ? ")" : "");
	r = spawn_qemu(vm, "tcg", "qemu64,-cx16", &d, log, vm->firmware == PROBE_FW_BIOS ? &direct : NULL);
	if (r < 0)
		return sc_why(r, why, why_size, "starting qemu-system-x86_64: %s", strerror(-r));
	return 0;
}

bool probe_vm_running(struct probe_vm *vm)
{
	int status;

	if (vm->pid <= 0)
		return false;
	if (waitpid(vm->pid, &status, WNOHANG) == vm->pid) {
		vm->pid = -1;
		if (vm->pidfd >= 0)
			close(TAKE_FD(vm->pidfd));
		return false;
	}
	return true;
}

void probe_vm_stop(struct probe_vm *vm)
{
	if (!probe_vm_running(vm))
		return;
	kill(vm->pid, SIGTERM);
	if (probe_child_wait(vm->pid, vm->pidfd, 3000, NULL) < 0) {
		kill(vm->pid, SIGKILL);
		waitpid(vm->pid, NULL, 0);
	}
	vm->pid = -1;
	if (vm->pidfd >= 0)
		close(TAKE_FD(vm->pidfd));
}

void probe_vm_done(struct probe_vm *vm, bool keep)
{
	if (!keep) {
		probe_vm_stop(vm);
		probe_swtpm_stop(&vm->swtpm);
	}
	probe_console_close(&vm->console);
	if (!keep && vm->workdir[0])
		probe_workdir_remove(vm->workdir);
	probe_manifest_done(&vm->manifest);
	if (vm->pidfd >= 0)
		close(TAKE_FD(vm->pidfd));
}
