#!/bin/sh
# /sbin/init of the sealed demo root (busybox): mount the API filesystems the
# checks read, print the verdict on the console, then run the agent, whose
# reports also account for every object of the image, read in full.
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /var
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
# The Secure Boot lie test (tests/vm/test-tpm.sh tpm-secure-boot-lie): booted
# from esp-sblie.img (the sealed UKI, on an ESP whose FAT label nothing
# measures), this guest shows its agent forged EFI variables, SecureBoot=1 with
# the image's keys, instead of efivarfs: the guest's report then claims Secure
# Boot whatever the firmware did, as a patched agent would. Only the TPM's PCR 7
# can expose it. Every other boot mounts the real efivarfs.
if [ -d /sys/firmware/efi ]; then
	if findfs LABEL=SEALTESTLIE >/dev/null 2>&1; then
		mount -t tmpfs -o mode=0755 tmpfs /sys/firmware/efi/efivars
		cp /usr/lib/sealcheck-test/forged-efivars/* /sys/firmware/efi/efivars/
		echo "sealcheck-guest: efivars: FORGED (SecureBoot=1 whatever the firmware did; test ESP)"
	else
		mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
	fi
fi
# What the guest could reach the host through (tests/vm/test-probe.sh reads
# these lines): its network interfaces, and every network controller on the PCI
# bus, driver or not (the guest kernel has no driver for QEMU's default NIC).
# The probe gives it none: "net: lo" and "pci-net: none".
echo "sealcheck-guest: net: $(echo $(ls /sys/class/net))"
nics=
for d in /sys/bus/pci/devices/*; do
	case $(cat "$d/class" 2>/dev/null) in
	0x02*) nics="$nics ${d##*/}=$(cat "$d/vendor"):$(cat "$d/device")" ;;
	esac
done
echo "sealcheck-guest: pci-net:${nics:- none}"
# With a vTPM: the firmware event log and the sha256 PCRs, base64 between
# marker lines (tests/fixtures/tpm/boot-eventlog.sh extracts them).
if [ -r /sys/kernel/security/tpm0/binary_bios_measurements ]; then
	echo "sealcheck-guest: eventlog-begin"
	base64 /sys/kernel/security/tpm0/binary_bios_measurements
	echo "sealcheck-guest: eventlog-end"
	echo "sealcheck-guest: pcrs-begin"
	for p in /sys/class/tpm/tpm0/pcr-sha256/*; do
		[ -r "$p" ] && echo "${p##*/}=$(cat "$p")"
	done
	echo "sealcheck-guest: pcrs-end"
fi
echo "sealcheck-guest: sealed root is up; verdict follows"
sealcheck status
while :; do
	sealcheck agent --verify-objects --deep --wait-port 30
	sleep 2
done
