#!/usr/bin/env bash
# `sealcheck measure` on real fs-verity files, in a guest kernel that has
# fs-verity (this host's does not): SHA-512 and SHA-256 files must print the
# digests libfsverity computes on the host; a file without verity and a file
# on tmpfs must fail with their reasons and exit 1.
#   tests/vm/test-measure.sh SEALCHECK_BINARY
VM_TEST_NAME=test-measure
. "$(dirname "$0")/lib.sh"

sealcheck=$(readlink -f "$1")
vm_need qemu-system-x86_64 mkfs.ext4 fsverity cpio xz busybox

work=$(mktemp -d "${TMPDIR:-/tmp}/sealcheck-vm-measure.XXXXXX")
trap 'rm -rf "$work"' EXIT

kdir=$(vm_kernel_dir)

# The data disk: ext4 with the verity feature and 4 KiB blocks (1 KiB blocks make FS_IOC_ENABLE_VERITY fail).
mkdir "$work/data"
head -c 300000 /dev/urandom >"$work/data/big512.bin"
head -c 5000 /dev/urandom >"$work/data/small256.bin"
: >"$work/data/empty512.bin"
echo "no verity here" >"$work/data/plain.txt"
ln -s big512.bin "$work/data/link512"   # bootc's images/<digest> are symlinks into objects/
mkfs.ext4 -q -b 4096 -O verity -d "$work/data" "$work/data.img" 32M >/dev/null

want512=$(fsverity digest --hash-alg=sha512 --compact "$work/data/big512.bin")
want256=$(fsverity digest --hash-alg=sha256 --compact "$work/data/small256.bin")
wantempty=$(fsverity digest --hash-alg=sha512 --compact "$work/data/empty512.bin")

root="$work/initramfs"
vm_initramfs_base "$root"
vm_initramfs_add_binary "$root" "$sealcheck" "$(command -v fsverity)"
vm_initramfs_add_module "$root" "$kdir" virtio_blk
cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
insmod /lib/modules/virtio_blk.ko
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.2; done
mount -t ext4 /dev/vda /mnt
fsverity enable --hash-alg=sha512 /mnt/big512.bin
fsverity enable --hash-alg=sha256 /mnt/small256.bin
fsverity enable --hash-alg=sha512 /mnt/empty512.bin
echo tmpfs >/tmp/t.txt
echo "@@measure-begin"
sealcheck measure /mnt/big512.bin /mnt/small256.bin /mnt/empty512.bin /mnt/link512 2>&1
echo "@@rc-good=$?"
sealcheck measure /mnt/plain.txt 2>&1
echo "@@rc-plain=$?"
sealcheck measure /tmp/t.txt 2>&1
echo "@@rc-tmpfs=$?"
sealcheck measure /mnt/no-such-file 2>&1
echo "@@rc-missing=$?"
echo "@@measure-end"
umount /mnt
poweroff -f
INIT
chmod +x "$root/init"
vm_initramfs_pack "$root" "$work/initrd.gz"

vm_say "booting the guest (TCG) to measure real fs-verity files"
rc=0
vm_run_direct "$kdir" "$work/initrd.gz" "$work/console.log" \
	-drive "if=none,id=data,file=$work/data.img,format=raw" -device virtio-blk-pci,drive=data || rc=$?
log=$(tr -d '\r' <"$work/console.log")

fail=0
expect() { # expect DESCRIPTION PATTERN
	if grep -qxF -- "$2" <<<"$log"; then
		echo "ok - $1"
	else
		echo "not ok - $1: no line '$2'"
		fail=1
	fi
}
if ! grep -q '@@measure-end' <<<"$log"; then
	echo "not ok - guest did not finish (qemu status $rc); console:"
	tail -n 40 <<<"$log"
	exit 1
fi
expect "sha512 file measured as libfsverity computes" "sha512:$want512 /mnt/big512.bin"
expect "sha256 file measured as libfsverity computes" "sha256:$want256 /mnt/small256.bin"
expect "empty verity file measured" "sha512:$wantempty /mnt/empty512.bin"
expect "a symlink is followed, as fsverity measure does" "sha512:$want512 /mnt/link512"
expect "all verity files: exit 0" "@@rc-good=0"
expect "file without verity named with its reason" "sealcheck: /mnt/plain.txt: no fs-verity on this file"
expect "file without verity: exit 1" "@@rc-plain=1"
expect "tmpfs file: filesystem without fs-verity" \
	"sealcheck: /tmp/t.txt: filesystem without fs-verity (ENOTTY): fs-verity not available on this path"
expect "tmpfs: exit 1" "@@rc-tmpfs=1"
expect "missing file named" "sealcheck: /mnt/no-such-file: no such file"
exit $fail
