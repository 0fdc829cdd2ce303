# Shared harness for the VM tests: a guest kernel, initramfs assembly and a
# QEMU runner with a deadline. Sourced by tests/vm/test-*.sh.
#
# Environment:
#   SEALCHECK_CACHE   cache folder (kernel downloads), default ~/.cache/sealcheck
#   VM_TIMEOUT        seconds a guest may run, default 180
set -euo pipefail

vm_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_TIMEOUT=${VM_TIMEOUT:-180}

# sealcheck-probe run enrols the key directory with virt-fw-vars at every boot (as bcvk does):
# python3-virt-firmware from the cache where the system has no virt-fw-vars (Debian 12).
if ! command -v virt-fw-vars >/dev/null; then
	PYTHONPATH=$("$vm_srcdir/scripts/fetch-guest-kernel.sh" --virt-firmware)${PYTHONPATH:+:$PYTHONPATH}
	export PYTHONPATH
fi

vm_say() { printf '%s: %s\n' "${VM_TEST_NAME:-vm}" "$*" >&2; }

# vm_kernel_dir: the guest kernel tree (fetched once into the cache).
vm_kernel_dir() {
	"$vm_srcdir/scripts/fetch-guest-kernel.sh"
}

# vm_initramfs_add_binary ROOT BINARY...: copy binaries with their shared libraries.
vm_initramfs_add_binary() {
	local root=$1 bin lib
	shift
	for bin in "$@"; do
		install -D -m 0755 "$bin" "$root/bin/$(basename "$bin")"
		for lib in $(ldd "$bin" 2>/dev/null | awk '/=> \// {print $3} /^\t\/lib/ {print $1}'); do
			[ -e "$root$lib" ] || install -D -m 0755 "$lib" "$root$lib"
		done
	done
	# The dynamic loader at the path binaries ask for.
	for lib in /lib64/ld-linux-x86-64.so.2; do
		[ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
	done
}

# vm_initramfs_add_module ROOT KERNEL_DIR NAME...: decompressed .ko files into ROOT/lib/modules.
vm_initramfs_add_module() {
	local root=$1 kdir=$2 name path
	shift 2
	mkdir -p "$root/lib/modules"
	for name in "$@"; do
		path=$(find "$kdir/lib/modules" -name "$name.ko.xz" | head -n 1)
		[ -n "$path" ] || { vm_say "module $name not found in $kdir"; return 1; }
		xz -dc "$path" >"$root/lib/modules/$name.ko"
	done
}

# vm_initramfs_base ROOT: busybox and the mount points an init needs.
vm_initramfs_base() {
	local root=$1
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,mnt,run,etc}
	install -m 0755 /bin/busybox "$root/bin/busybox"
}

# vm_initramfs_pack ROOT OUT: a newc cpio, gzip-compressed.
vm_initramfs_pack() {
	(cd "$1" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$2"
}

# vm_run_direct KERNEL_DIR INITRD LOG [QEMU ARGS...]: boot with -kernel/-initrd
# under TCG until the guest powers off or VM_TIMEOUT passes. Returns QEMU's
# status (124 on timeout). The serial console goes to LOG; VM_APPEND adds to
# the kernel command line.
vm_run_direct() {
	local kdir=$1 initrd=$2 log=$3
	shift 3
	timeout --foreground -k 5 "$VM_TIMEOUT" qemu-system-x86_64 \
		-machine q35 -cpu qemu64,-cx16 -smp 1 -m 1024 \
		-display none -no-reboot -monitor none -serial "file:$log" \
		-kernel "$kdir/boot/vmlinuz" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 loglevel=4${VM_APPEND:+ $VM_APPEND}" \
		"$@"
}

# vm_block_of DISK PATH LBLK: the 4 KiB block of the ext4 image DISK holding
# logical block LBLK of PATH; fails, saying so, when there is none.
vm_block_of() {
	local b
	b=$(debugfs -R "bmap $2 $3" "$1" 2>/dev/null)
	[ "$b" -gt 0 ] 2>/dev/null || { vm_say "no block $3 of $2 in $1"; return 1; }
	echo "$b"
}

# vm_damage DISK PATH BYTE: write BYTE (printf form, e.g. '\xff') at byte 100 of
# PATH's 11th block on DISK, under the filesystem: fs-verity must catch it.
vm_damage() {
	local b
	b=$(vm_block_of "$1" "$2" 10) || return 1
	printf "$3" | dd of="$1" bs=1 seek=$((b * 4096 + 100)) conv=notrunc status=none
}

# vm_need CMD...: fail (not skip) with the package to install when a tool is missing.
# vm_wait_for SECONDS CMD...: run CMD every 0.2 s until it succeeds; 1 when the deadline passes.
vm_wait_for() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# vm_entries DIR: the names in DIR, sorted, one a line; nothing (and status 0) when DIR does
# not exist, as on a machine that was just booted (/run is a tmpfs).
vm_entries() {
	[ -d "$1" ] || return 0
	find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort
}

vm_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || { vm_say "missing $c: run scripts/install-deps.sh"; exit 1; }
	done
}
