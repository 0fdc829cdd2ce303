#!/bin/busybox sh
# The one-time install boot (as bootc install does in its VM): enable
# fs-verity on every object of the repository. This host's kernel has none.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
insmod /lib/modules/virtio_blk.ko
for i in $(seq 1 100); do dev=$(findfs LABEL=sealroot 2>/dev/null || findfs LABEL=root 2>/dev/null) && break; sleep 0.1; done
mount -t ext4 "$dev" /mnt || { echo "@@install-failed: mount"; poweroff -f; }
alg=$(cat /mnt/composefs/.sealcheck-alg)
n=$(find /mnt/composefs/objects -type f | wc -l)
enable-verity "$alg" /mnt/composefs/objects || { echo "@@install-failed"; poweroff -f; }
rm -f /mnt/composefs/.sealcheck-alg
umount /mnt
echo "@@install-done objects=$n"
poweroff -f
