#!/bin/busybox sh
# The initramfs inside the signed UKI: set up the root as bootc's does.
# Measure the composefs image, require its digest to equal the cmdline's,
# mount the EROFS image and the overlay with verity=require, switch into it.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

fail() {
	echo "sealcheck-initramfs: $*"
	echo "sealcheck-initramfs: refusing to boot"
	sleep 1
	poweroff -f
}

for m in virtio_blk loop libcrc32c erofs overlay efivarfs; do
	insmod /lib/modules/$m.ko 2>/dev/null
done

digest= insecure= verity=require
for tok in $(cat /proc/cmdline); do
	case $tok in
	composefs=\?*) digest=${tok#composefs=?}; insecure=1 ;;
	composefs=*) digest=${tok#composefs=} ;;
	sealtest.verity=off) verity= ;;  # only the negative-test UKI carries this
	esac
done
[ -n "$digest" ] || fail "No composefs image in cmdline"

for i in $(seq 1 100); do
	dev=$(findfs LABEL=sealroot 2>/dev/null || findfs LABEL=root 2>/dev/null) && break
	sleep 0.1
done
[ -n "$dev" ] || fail "root disk (LABEL=sealroot or LABEL=root, as bootc labels it) not found"
mkdir -p /sysroot /run/img /newroot
mount -t ext4 -o ro "$dev" /sysroot || fail "cannot mount $dev"

img=/sysroot/composefs/images/$digest
[ -e "$img" ] || fail "no composefs image $digest in the repository"
measured=$(sealcheck measure "$img") || fail "cannot measure $img"
measured=${measured%% *}
case $measured in
sha512:$digest | sha256:$digest) ;;
*) fail "fs-verity content mismatch: image measures $measured, cmdline names $digest" ;;
esac
mount -t erofs -o ro,loop "$img" /run/img || fail "cannot mount the EROFS image"
opts=ro,lowerdir=/run/img::/sysroot/composefs/objects,redirect_dir=on,metacopy=on
[ -n "$verity" ] && [ -z "$insecure" ] && opts=$opts,verity=require
mount -t overlay "composefs:$digest" -o "$opts" /newroot || fail "cannot mount the composefs overlay"
# A read-only root: its /run and /var are tmpfs, as bootc's initramfs does.
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /newroot/run
mount -t tmpfs -o mode=0755 tmpfs /newroot/var
mount --move /sysroot /newroot/sysroot
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
