/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <spawn.h>
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

#include "probe.h"
#include "sc-fileio.h"
#include "sc-json.h"
#include "sc-macro.h"

extern char **environ;

#define OVMF_CODE_SECURE "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
#define OVMF_CODE "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define OVMF_VARS_EMPTY "/usr/share/OVMF/OVMF_VARS_4M.fd"
#define PORT_NAME "org.sealcheck.attest.0"

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
		return snprintf(why, why_size, "/dev/kvm: %s", strerror(errno)), -errno;
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != 12)
		return snprintf(why, why_size, "unexpected KVM API version"), -ENOTSUP;
	vmfd = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vmfd < 0)
		return snprintf(why, why_size, "KVM_CREATE_VM: %s", strerror(errno)), -errno;
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

static int copy_file(const char *from, const char *to)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	size_t len;
	int r = sc_read_file_capped(from, 64u << 20, &buf, &len);

	if (r < 0)
		return r;
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		return -errno ?: -EIO;
	return 0;
}

/* posix_spawn takes char *const[]; it does not write to the strings. */
#define SPAWN_ARGV(a) ((char *const *)(uintptr_t)(a))

static int spawn_wait(const char *const argv[], const char *log)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, SPAWN_ARGV(argv), environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
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
		return snprintf(why, why_size, "%s: %s", gpath, strerror(-r)), r;
	guid[strcspn(guid, "\r\n")] = '\0';
	{
		/* virt-fw-vars where installed (Fedora), else python3-virt-firmware from the cache. */
		const char *argv_bin[] = { "virt-fw-vars", "-i", OVMF_VARS_EMPTY, "-o", vars, "--set-pk", guid, pk,
				     "--add-kek", guid, kek, "--add-db", guid, db, "--sb", NULL };
		const char *argv_py[] = { "python3", "-m", "virt.firmware.vars", "-i", OVMF_VARS_EMPTY, "-o", vars,
				    "--set-pk", guid, pk, "--add-kek", guid, kek, "--add-db", guid, db, "--sb", NULL };

		r = spawn_wait(argv_bin, log);
		if (r < 0)
			r = spawn_wait(argv_py, log);
	}
	if (r < 0)
		snprintf(why, why_size, "enrolling the keys of %s with virt-fw-vars failed (see %s)", keys, log);
	return r;
}

static json_t *load_manifest(const char *dir, char *why, size_t why_size)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	json_error_t err;
	size_t len;
	json_t *m;

	if (asprintf(&path, "%s/manifest.json", dir) < 0)
		return NULL;
	if (sc_read_file_capped(path, SC_MANIFEST_MAX, &buf, &len) < 0) {
		snprintf(why, why_size, "%s: cannot read (is %s an image made by the builder?)", path, dir);
		return NULL;
	}
	m = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (!json_is_object(m)) {
		snprintf(why, why_size, "%s: %s", path, err.text);
		json_decref(m);
		return NULL;
	}
	return m;
}

/* BIOS boots: the UKI's own sections, so the same signed payload runs without UEFI. */
struct direct_boot {
	char kernel[320], initrd[320], cmdline[4096];
};

static int extract_uki(const char *esp, const char *workdir, const char *log, struct direct_boot *d, char *why,
		       size_t why_size)
{
	char uki[320], sec[32];
	_cleanup_free_ char *cmd = NULL;
	size_t len;
	int r;

	snprintf(uki, sizeof(uki), "%s/uki.efi", workdir);
	{
		char src[400];
		const char *argv[] = { "mcopy", "-o", "-i", esp, src, uki, NULL };

		snprintf(src, sizeof(src), "::/EFI/BOOT/BOOTX64.EFI");
		r = spawn_wait(argv, log);
		if (r < 0)
			return snprintf(why, why_size, "extracting the UKI from %s (mcopy) failed", esp), r;
	}
	snprintf(d->kernel, sizeof(d->kernel), "%s/linux", workdir);
	snprintf(d->initrd, sizeof(d->initrd), "%s/initrd", workdir);
	for (int i = 0; i < 3; i++) {
		const char *name = i == 0 ? ".linux" : i == 1 ? ".initrd" : ".cmdline";
		char out[340];
		const char *argv[] = { "objcopy", "-O", "binary", sec, uki, out, NULL };

		snprintf(sec, sizeof(sec), "--only-section=%s", name);
		snprintf(out, sizeof(out), "%s/%s", workdir, name + 1);
		r = spawn_wait(argv, log);
		if (r < 0)
			return snprintf(why, why_size, "extracting %s from the UKI (objcopy) failed", name), r;
	}
	{
		char path[340];

		snprintf(path, sizeof(path), "%s/cmdline", workdir);
		r = sc_read_file_capped(path, sizeof(d->cmdline) - 1, &cmd, &len);
		if (r < 0)
			return snprintf(why, why_size, "the UKI's .cmdline: %s", strerror(-r)), r;
		len = strcspn(cmd, "\n");
		memcpy(d->cmdline, cmd, len);
		d->cmdline[len] = '\0';
	}
	return 0;
}

static int spawn_qemu(struct probe_vm *vm, const char *accel, const char *cpu, const char *code_drive,
		      const char *vars_drive, const char *esp_drive, const char *root_drive, const char *chardev,
		      const char *serial, const char *log, const struct direct_boot *direct)
{
	const char *uefi_argv[] = {
		"qemu-system-x86_64", "-machine", "q35,smm=on", "-accel", accel, "-cpu", cpu,
		"-smp", "1", "-m", "1024", "-display", "none", "-no-reboot", "-monitor", "none",
		"-global", "driver=cfi.pflash01,property=secure,value=on",
		"-drive", code_drive, "-drive", vars_drive,
		"-drive", esp_drive, "-device", "virtio-blk-pci,drive=esp,bootindex=0",
		"-drive", root_drive, "-device", "virtio-blk-pci,drive=root",
		"-device", "virtio-serial-pci", "-chardev", chardev,
		"-device", "virtserialport,chardev=attest,name=" PORT_NAME,
		"-serial", serial, NULL,
	};
	const char *bios_argv[] = {
		"qemu-system-x86_64", "-machine", "q35", "-accel", accel, "-cpu", cpu,
		"-smp", "1", "-m", "1024", "-display", "none", "-no-reboot", "-monitor", "none",
		"-kernel", direct ? direct->kernel : "", "-initrd", direct ? direct->initrd : "",
		"-append", direct ? direct->cmdline : "",
		"-drive", esp_drive, "-device", "virtio-blk-pci,drive=esp",
		"-drive", root_drive, "-device", "virtio-blk-pci,drive=root",
		"-device", "virtio-serial-pci", "-chardev", chardev,
		"-device", "virtserialport,chardev=attest,name=" PORT_NAME,
		"-serial", serial, NULL,
	};
	const char *const *argv = direct ? bios_argv : uefi_argv;
	posix_spawn_file_actions_t fa;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	r = posix_spawnp(&vm->pid, argv[0], &fa, NULL, SPAWN_ARGV(argv), environ);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
}

/* Under KVM the firmware writes to the console within a second; give it five. */
static int kvm_started(struct probe_vm *vm, const char *log, char *why, size_t why_size)
{
	struct stat st;

	for (int i = 0; i < 50; i++) {
		if (!probe_vm_running(vm)) {
			_cleanup_free_ char *tail = probe_console_tail(log, 3);
			const char *line = tail ? strstr(tail, "error: ") : NULL;

			/* QEMU's own "error: ..." line says most; else its last words. */
			snprintf(why, why_size, "qemu exited: %.*s", 120,
				 line ? line + 7 : tail ? tail : "?");
			why[strcspn(why, "\n")] = '\0';
			return -ECHILD;
		}
		if (stat(vm->console_path, &st) == 0 && st.st_size > 0)
			return 0;
		usleep(100 * 1000);
	}
	snprintf(why, why_size, "no firmware output within 5 s");
	return -ETIMEDOUT;
}

int probe_vm_start(struct probe_vm *vm, char *why, size_t why_size)
{
	_cleanup_json_ json_t *m = NULL;
	_cleanup_free_ char *vars = NULL, *esp = NULL, *root = NULL, *esp_drive = NULL, *root_drive = NULL,
			    *code_drive = NULL, *vars_drive = NULL, *chardev = NULL, *serial = NULL, *log = NULL;
	const char *code;
	char kvm_why[200] = "";
	struct direct_boot direct;
	int r;

	m = load_manifest(vm->image_dir, why, why_size);
	if (!m)
		return -EINVAL;
	if (!vm->workdir[0]) {
		const char *base = getenv("XDG_RUNTIME_DIR") ?: "/tmp";

		snprintf(vm->workdir, sizeof(vm->workdir), "%s/sealcheck-probe.XXXXXX", base);
		if (!mkdtemp(vm->workdir))
			return snprintf(why, why_size, "mkdtemp %s: %s", vm->workdir, strerror(errno)), -errno;
	}
	snprintf(vm->socket_path, sizeof(vm->socket_path), "%s/attest.sock", vm->workdir);
	snprintf(vm->console_path, sizeof(vm->console_path), "%s/console.log", vm->workdir);
	if (asprintf(&vars, "%s/vars.fd", vm->workdir) < 0 || asprintf(&log, "%s/probe.log", vm->workdir) < 0)
		return -ENOMEM;

	/* Every boot from a FRESH copy of the store: a used one keeps boot entries tied to PCI slots. */
	switch (vm->firmware) {
	case PROBE_FW_UEFI_SECURE:
		code = OVMF_CODE_SECURE;
		if (vm->keys_dir)
			r = enroll_keys(vm->keys_dir, vars, log, why, why_size);
		else {
			_cleanup_free_ char *src = NULL;

			if (asprintf(&src, "%s/%s", vm->image_dir,
				     json_string_value(json_object_get(m, "vars")) ?: "vars.fd") < 0)
				return -ENOMEM;
			r = copy_file(src, vars);
			if (r < 0)
				snprintf(why, why_size, "%s: %s", src, strerror(-r));
		}
		break;
	case PROBE_FW_UEFI_SETUP:
		code = OVMF_CODE_SECURE;
		r = copy_file(OVMF_VARS_EMPTY, vars);
		break;
	case PROBE_FW_BIOS:
		code = OVMF_CODE; /* not used: no pflash in a BIOS boot */
		r = 0;
		break;
	default:
		code = OVMF_CODE;
		r = copy_file(OVMF_VARS_EMPTY, vars);
		break;
	}
	if (r < 0) {
		if (!why[0])
			snprintf(why, why_size, "preparing the variable store: %s", strerror(-r));
		return r;
	}

	if (vm->esp && strchr(vm->esp, '/'))
		esp = strdup(vm->esp);
	else if (asprintf(&esp, "%s/%s", vm->image_dir,
			  vm->esp ?: json_string_value(json_object_get(
					      json_object_get(json_object_get(m, "esps"), "sealed"), "esp")) ?: "esp.img") < 0)
		esp = NULL;
	if (!esp || asprintf(&root, "%s/%s", vm->image_dir, json_string_value(json_object_get(m, "root")) ?: "root.img") < 0)
		return -ENOMEM;
	if (access(esp, R_OK) < 0 || access(root, R_OK) < 0)
		return snprintf(why, why_size, "%s: %s", access(esp, R_OK) < 0 ? esp : root, strerror(errno)), -errno;

	if (asprintf(&code_drive, "if=pflash,format=raw,unit=0,file=%s,readonly=on", code) < 0 ||
	    asprintf(&vars_drive, "if=pflash,format=raw,unit=1,file=%s", vars) < 0 ||
	    asprintf(&esp_drive, "if=none,id=esp,file=%s,format=raw,readonly=on", esp) < 0 ||
	    asprintf(&root_drive, "if=none,id=root,file=%s,format=raw,snapshot=on", root) < 0 ||
	    asprintf(&chardev, "socket,id=attest,path=%s,server=on,wait=off", vm->socket_path) < 0 ||
	    asprintf(&serial, "file:%s", vm->console_path) < 0)
		return -ENOMEM;

	if (vm->firmware == PROBE_FW_BIOS) {
		r = extract_uki(esp, vm->workdir, log, &direct, why, why_size);
		if (r < 0)
			return r;
	}
	if (strcmp(vm->accel, "tcg") != 0) {
		r = probe_kvm_usable(kvm_why, sizeof(kvm_why));
		if (r == 0) {
			/* A vCPU that runs is not yet a guest that boots: start it and watch the firmware. */
			r = spawn_qemu(vm, "kvm", "host", code_drive, vars_drive, esp_drive, root_drive, chardev, serial, log,
				       vm->firmware == PROBE_FW_BIOS ? &direct : NULL);
			if (r == 0)
				r = kvm_started(vm, log, kvm_why, sizeof(kvm_why));
			if (r == 0) {
				snprintf(vm->accel_used, sizeof(vm->accel_used), "kvm");
				return 0;
			}
			probe_vm_stop(vm);
			/* The store may hold what the failed start wrote: start over from a fresh copy. */
			if (vm->firmware == PROBE_FW_UEFI_SECURE && !vm->keys_dir) {
				_cleanup_free_ char *src = NULL;

				if (asprintf(&src, "%s/%s", vm->image_dir,
					     json_string_value(json_object_get(m, "vars")) ?: "vars.fd") < 0)
					return -ENOMEM;
				(void)copy_file(src, vars);
			}
			unlink(vm->console_path);
		}
		if (strcmp(vm->accel, "kvm") == 0)
			return snprintf(why, why_size, "KVM requested but unusable: %s", kvm_why), -ENODEV;
	}
	snprintf(vm->accel_used, sizeof(vm->accel_used), "tcg%s%s%s", kvm_why[0] ? " (kvm unusable: " : "", kvm_why,
		 kvm_why[0] ? ")" : "");
	r = spawn_qemu(vm, "tcg", "qemu64,-cx16", code_drive, vars_drive, esp_drive, root_drive, chardev, serial, log,
		       vm->firmware == PROBE_FW_BIOS ? &direct : NULL);
	if (r < 0)
		return snprintf(why, why_size, "starting qemu-system-x86_64: %s", strerror(-r)), r;
	return 0;
}

bool probe_vm_running(struct probe_vm *vm)
{
	int status;

	if (vm->pid <= 0)
		return false;
	if (waitpid(vm->pid, &status, WNOHANG) == vm->pid) {
		vm->pid = -1;
		return false;
	}
	return true;
}

void probe_vm_stop(struct probe_vm *vm)
{
	if (!probe_vm_running(vm))
		return;
	kill(vm->pid, SIGTERM);
	for (int i = 0; i < 30 && probe_vm_running(vm); i++)
		usleep(100 * 1000);
	if (probe_vm_running(vm)) {
		kill(vm->pid, SIGKILL);
		waitpid(vm->pid, NULL, 0);
	}
	vm->pid = -1;
}

char *probe_console_tail(const char *path, unsigned lines)
{
	_cleanup_free_ char *buf = NULL;
	char *out, *o, *start;
	size_t len;
	unsigned seen = 0;

	if (sc_read_file_capped(path, 16u << 20, &buf, &len) < 0)
		return strdup("(no console log)");
	/* Strip terminal escapes and carriage returns; keep printable text and newlines. */
	out = malloc(len + 1);
	if (!out)
		return NULL;
	o = out;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == 0x1b) {
			while (i + 1 < len && !((buf[i + 1] >= 'A' && buf[i + 1] <= 'Z') ||
						(buf[i + 1] >= 'a' && buf[i + 1] <= 'z')))
				i++;
			i++;
			continue;
		}
		if (c == '\n' || (c >= 0x20 && c != 0x7f))
			*o++ = (char)c;
	}
	*o = '\0';
	while (o > out && o[-1] == '\n')
		*--o = '\0';
	for (start = o; start > out; start--)
		if (start[-1] == '\n' && ++seen >= lines)
			break;
	memmove(out, start, strlen(start) + 1);
	return out;
}
