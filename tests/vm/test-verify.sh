#!/usr/bin/env bash
# sealcheck verify on real fs-verity objects in a 6.12 guest: an intact store
# measures clean; bytes corrupted on the disk are found only by --deep (EIO);
# --max-files stops early and says so; an object without verity, one that
# measures to another digest and a missing one are each named.
#   tests/vm/test-verify.sh SEALCHECK ENABLE_VERITY IMAGE_CACHE_DIR
VM_TEST_NAME=test-verify
. "$(dirname "$0")/lib.sh"
sealcheck=$(readlink -f "$1") enable_verity=$(readlink -f "$2") cache=$3
vm_need qemu-system-x86_64 jq debugfs cpio xz

img=$("$vm_srcdir/tests/vm/sealed-image.sh" "$sealcheck" "$cache")
work=$(mktemp -d "${TMPDIR:-/tmp}/sealcheck-vm-verify.XXXXXX")
trap 'rm -rf "$work"' EXIT
kdir=$(vm_kernel_dir)

# A copy of the installed disk with one byte of libcrypto's object changed.
cp "$img/root.img" "$work/root.img"
objects() { jq -r ".backing_objects | to_entries[] | select(.key | test(\"$1\")) | .value" "$img/manifest.json" | head -n 1; }
corrupt=$(objects /libcrypto)
vm_damage "$work/root.img" "/composefs/objects/$corrupt" '\xff'
# And the block of the image file that holds its superblock, damaged from inside the guest last.
digest=$(jq -r .digest "$img/manifest.json")
image_block=$(vm_block_of "$work/root.img" "/composefs/objects/${digest:0:2}/${digest:2}" 0)
noverity=$(objects /bin/busybox) mismatch=$(objects /libjansson) missing=$(objects /libefivar) donor=$(objects /libmount)

root="$work/initramfs"
vm_initramfs_base "$root"
vm_initramfs_add_binary "$root" "$sealcheck" "$enable_verity"
vm_initramfs_add_module "$root" "$kdir" virtio_blk loop libcrc32c erofs
cat >"$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
for m in virtio_blk loop libcrc32c erofs; do insmod /lib/modules/\$m.ko; done
for i in \$(seq 1 50); do [ -b /dev/vda ] && break; sleep 0.1; done
mkdir -p /sysroot; mount -t ext4 -o ro /dev/vda /sysroot
R=/sysroot/composefs; I=\$(ls -d \$R/images/*); O=\$R/objects
run() { echo "@@\$1 \$(sealcheck verify --image \$I --objects \$O --json \$2 | tr -d '\n') rc=\$?"; }
run shallow ""
run deep --deep
run maxfiles "--max-files 3"
# The same walks through the kernel's mount of the image: the same answers.
run shallow_mount "--walk mount"
run deep_mount "--deep --walk mount"
# Without --image: the running system's image, found by the cmdline's composefs= digest and measured.
echo "@@running \$(sealcheck --sysroot /sysroot verify --json | tr -d '\n') rc=\$?"
mount -o remount,rw /sysroot 2>/dev/null || { umount /sysroot; mount -t ext4 /dev/vda /sysroot; }
cp \$O/$noverity /tmp/x && rm -f \$O/$noverity && cp /tmp/x \$O/$noverity
rm -f \$O/$mismatch && cp \$O/$donor \$O/$mismatch && enable-verity sha512 \$O/$mismatch >/dev/null
rm -f \$O/$missing
run broken ""
umount /sysroot
printf '\\377' | dd of=/dev/vda bs=1 seek=$((image_block * 4096 + 2048)) conv=notrunc 2>/dev/null
mount -t ext4 -o ro /dev/vda /sysroot
run imagebad ""
echo "@@end"
poweroff -f
INIT
chmod +x "$root/init"
vm_initramfs_pack "$root" "$work/initrd.gz"
vm_say "booting a guest to verify a real object store"
rc=0
VM_APPEND="composefs=$(jq -r .digest "$img/manifest.json")" vm_run_direct "$kdir" "$work/initrd.gz" "$work/console.log" \
	-drive "if=none,id=root,file=$work/root.img,format=raw" -device virtio-blk-pci,drive=root || rc=$?
log=$(tr -d '\r' <"$work/console.log")
if ! grep -q '@@end' <<<"$log"; then
	echo "not ok - the guest did not finish (qemu $rc):"; tail -n 30 <<<"$log"; exit 1
fi
fail=0
field() { grep "^@@$1 " <<<"$log" | sed -E "s/^@@$1 (.*) rc=[0-9]+$/\1/" | jq -r "$2"; }
rcof() { grep "^@@$1 " <<<"$log" | sed -E 's/.* rc=([0-9]+)$/\1/'; }
expect() { # expect DESCRIPTION ACTUAL WANTED
	if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1: got '$2', want '$3'"; fail=1; fi
}
# (rc is the exit status of the pipeline's last command; the JSON status says the verdict.)
expect "intact store, shallow: every object measured with real fs-verity" "$(field shallow .status)" pass
expect "shallow: every file with an object counted" "$(field shallow .objects)" "$(jq '.backing_objects | length' "$img/manifest.json")"
expect "corruption is invisible to a shallow walk (nothing was read)" "$(field shallow .problems.unreadable)" 0
expect "--deep finds the corrupted object (EIO)" "$(field deep .problems.unreadable)" 1
expect "--deep names libcrypto's object" "$(field deep '.listed[0].object')" "$corrupt"
expect "--deep verdict" "$(field deep .status)" fail
expect "the walk parsed the image" "$(field shallow .walker)" parsed
expect "the kernel's mount of the image: same objects" "$(field shallow_mount '.walker + " " + (.objects | tostring)')" "mounted $(field shallow .objects)"
expect "the kernel's mount of the image: --deep finds the same object" "$(field deep_mount '.listed[0].object')" "$corrupt"
expect "running system: the image measures to the cmdline's digest" "$(field running .image_digest)" "sha512:$(jq -r .digest "$img/manifest.json")"
expect "running system: the walk finds the corrupted object only with --deep (shallow: pass)" "$(field running .status)" pass
expect "--max-files stops early" "$(field maxfiles .stop_reason)" "--max-files reached"
expect "--max-files status" "$(field maxfiles .status)" error
expect "an object copied without fs-verity is named (ENODATA)" "$(field broken .problems.without_verity)" 1
expect "an object that measures to another digest is named" "$(field broken .problems.mismatched)" 1
expect "a missing object is named" "$(field broken .problems.missing)" 1
expect "broken store verdict" "$(field broken .status)" fail
expect "an image whose own block is damaged on disk: a verity violation, not a walk" "$(field imagebad '"\(.problems.unreadable) \(.listed[0].detail)"')" "1 verity violation: EIO reading the image's own metadata"
expect "damaged image verdict" "$(field imagebad .status)" fail
echo "# deep read $(field deep .bytes_read) bytes in $(field deep .seconds) s (TCG)"
exit $fail
