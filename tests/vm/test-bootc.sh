#!/usr/bin/env bash
# End-to-end on the bootc-shaped disk (tests/vm/bootc-disk.sh): a container image
# installed as bootc lays it out, systemd-boot then a systemd 257 UKI, both signed;
# `sealcheck-probe run --disk` reads everything it expects from the disk's ESP
# once the signatures are the key directory's.
#   tests/vm/test-bootc.sh BUILD_DIR SEALCHECK_PROBE CACHE_DIR CASE
# Cases:
#   bootc-sealed     the qcow2 disk with a TPM: SEALED, every TPM link proven, PCR 4 the
#                    boot loader then the UKI; the report names the OCI image and its
#                    manifest digest; the disk file is not written
#   bootc-insecure   the raw disk whose UKI says composefs=?: NOT SEALED, naming cmdline
#   bootc-badkey     the UKI signed by a key not in db: NOT SEALED, the firmware would
#                    refuse it, nothing booted (exit 1, JSON "not-bootable")
#   bootc-bootloader-badkey  the same for systemd-boot
#   bootc-disk-refused       a qcow2 with a backing file, a GPT whose CRC is wrong, an ESP
#                    with two entries, or a UKI of its own in EFI/Linux/, a boot loader that
#                    is not systemd-boot, no key directory: exit 2, each named (no boot)
#   bootc-measure    predict-pcr11 on the disk's UKI equals trixie's systemd-measure 257
#                    (run in the image's own root); no boot
VM_TEST_NAME=test-bootc
. "$(dirname "$0")/lib.sh"
build=$(readlink -f "$1") probe=$(readlink -f "$2") cache=$3 case=$4
vm_need qemu-system-x86_64 jq qemu-img sfdisk mcopy

out=$("$vm_srcdir/tests/vm/bootc-disk.sh" "$build" "$cache")
disk=$out/disk
manifest=$disk/bootc-disk.json
keys=$(jq -r .keys "$manifest")
work=$(mktemp -d "${TMPDIR:-/tmp}/sealcheck-bootc-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "not ok - $case: $*"; [ -s "$work/err" ] && sed 's/^/# /' "$work/err" | tail -n 30; exit 1; }

run_probe() { # ARGS...: exit status in $rc, stdout in $work/out, stderr in $work/err
	rc=0
	timeout -k 10 500 "$probe" run "$@" >"$work/out" 2>"$work/err" || rc=$?
}

case $case in
bootc-sealed)
	before=$(sha256sum "$disk/disk.qcow2" | cut -d' ' -f1)
	run_probe --disk "$disk/disk.qcow2" --secure-boot-keys "$keys" --tpm --json
	[ "$rc" = 0 ] || fail "exit $rc, want 0 (SEALED)"
	[ "$(jq -r .verdict "$work/out")" = sealed ] || fail "verdict $(jq -r .verdict "$work/out")"
	[ "$(jq -r .evidence "$work/out")" = tpm ] || fail "evidence $(jq -r .evidence "$work/out"), want tpm"
	n=$(jq '[.tpm[] | select(.status != "proven")] | length' "$work/out")
	[ "$n" = 0 ] || fail "$n TPM link(s) not proven: $(jq -c '[.tpm[] | select(.status != "proven")]' "$work/out")"
	pcr4=$(jq -r '.tpm[] | select(.link == "tpm:pcr4") | .reason' "$work/out")
	case $pcr4 in
	*"the boot loader (Authenticode sha256 "*"), then the sealed UKI (Authenticode sha256 "*"in this order, and no other"*) ;;
	*) fail "tpm:pcr4 does not name the boot loader then the UKI: $pcr4" ;;
	esac
	# The PCR 4 prediction is the quoted PCR 4: the boot loader's and the UKI's Authenticode digests, as
	# the host computed them from the signed files, are the log's events that replay to the quote.
	pcr9=$(jq -r '.tpm[] | select(.link == "tpm:pcr9") | .reason' "$work/out")
	case $pcr9 in *"the initrd the stub makes of its sections"*) ;; *) fail "tpm:pcr9: $pcr9" ;; esac
	want_ref=$(jq -r .image_reference "$manifest") want_digest=$(jq -r .manifest_digest "$manifest")
	got_ref=$(jq -r .report.system.deployment.image.reference "$work/out")
	got_digest=$(jq -r .report.system.deployment.image_digest "$work/out")
	[ "$got_ref" = "$want_ref" ] || fail "the report names image $got_ref, the disk was installed from $want_ref"
	[ "$got_digest" = "$want_digest" ] || fail "the report names manifest $got_digest, the OCI image's is $want_digest"
	[ "$(jq -r .report.system.deployment.verity "$work/out")" = "$(jq -r .digest "$manifest")" ] ||
		fail "the deployment's verity is not the disk's composefs digest"
	[ "$(jq -r .report.system.deployment.bootloader "$work/out")" = systemd ] || fail "bootloader not systemd (LoaderInfo)"
	# The same run as people read it.
	after=$(sha256sum "$disk/disk.qcow2" | cut -d' ' -f1)
	[ "$before" = "$after" ] || fail "the disk file changed during the run"
	;;
bootc-insecure)
	run_probe --disk "$disk/disk-insecure.raw" --secure-boot-keys "$keys" --tpm
	[ "$rc" = 1 ] || fail "exit $rc, want 1 (NOT SEALED)"
	grep -q '^Verdict: NOT SEALED' "$work/out" || fail "no NOT SEALED verdict"
	grep -Eq '^  FAIL  cmdline .*(insecure|\?)' "$work/out" || fail "the guest's cmdline check does not fail on composefs=?"
	grep -q 'FAILED tpm:cmdline' "$work/out" || fail "tpm:cmdline does not fail"
	grep -q 'Disk: .*composefs=?' "$work/out" || fail "the Disk line does not show the ? marker"
	;;
bootc-badkey | bootc-bootloader-badkey)
	v=${case#bootc-}
	run_probe --disk "$disk/disk-$v.raw" --secure-boot-keys "$keys" --tpm
	[ "$rc" = 1 ] || fail "exit $rc, want 1 (NOT SEALED)"
	grep -q '^Verdict: NOT SEALED (the boot chain on the disk is not signed' "$work/out" || fail "no NOT SEALED verdict"
	what='the UKI /EFI/Linux/bootc/'
	[ "$v" = bootloader-badkey ] && what='the boot loader EFI/BOOT/BOOTX64.EFI'
	grep -q "$what.*is not signed by a certificate in the key directory's db: Secure Boot with the keys of .* refuses to start it: not booted" "$work/err" ||
		fail "stderr does not name $what and the firmware's refusal"
	run_probe --disk "$disk/disk-$v.raw" --secure-boot-keys "$keys" --json
	[ "$rc" = 1 ] || fail "--json: exit $rc"
	[ "$(jq -r '.verdict + " " + .error' "$work/out")" = "unsealed not-bootable" ] || fail "--json: $(cat "$work/out")"
	;;
bootc-disk-refused)
	# A qcow2 that takes its data from a backing file: the guest would read a file the user did not name.
	qemu-img create -q -f qcow2 -F qcow2 -b "$disk/disk.qcow2" "$work/overlay.qcow2"
	run_probe --disk "$work/overlay.qcow2" --secure-boot-keys "$keys"
	[ "$rc" = 2 ] || fail "backing file: exit $rc, want 2"
	grep -q 'a qcow2 image with a backing file' "$work/err" || fail "backing file not named"
	# A GPT header one byte off: its CRC32 no longer matches.
	cp --sparse=always "$disk/disk.raw" "$work/crc.raw"
	printf '\001' | dd of="$work/crc.raw" bs=1 seek=$((512 + 40)) conv=notrunc status=none
	run_probe --disk "$work/crc.raw" --secure-boot-keys "$keys"
	[ "$rc" = 2 ] || fail "bad GPT CRC: exit $rc, want 2"
	grep -q "the GPT header's CRC32 does not match" "$work/err" || fail "bad GPT CRC not named"
	# A second boot entry: which one systemd-boot starts is not for the host to guess.
	cp --sparse=always "$disk/disk.raw" "$work/two.raw"
	esp_off=$(sfdisk -d "$work/two.raw" | awk -F'[=,]' '/EFI-SYSTEM/ { gsub(/ /, "", $2); print $2 * 512 }')
	printf 'title other\nefi /EFI/Linux/other.efi\n' >"$work/other.conf"
	# (systemd-boot takes *.conf in any case: an upper-case one is an entry too)
	mcopy -i "$work/two.raw@@$esp_off" "$work/other.conf" ::/loader/entries/OTHER.CONF
	run_probe --disk "$work/two.raw" --secure-boot-keys "$keys"
	[ "$rc" = 2 ] || fail "two entries: exit $rc, want 2"
	grep -q 'more than one entry in loader/entries' "$work/err" || fail "two entries not named"
	# A UKI of its own in EFI/Linux/: systemd-boot lists it beside the entry.
	cp --sparse=always "$disk/disk.raw" "$work/type2.raw"
	mcopy -i "$work/type2.raw@@$esp_off" "$work/other.conf" ::/EFI/Linux/other.efi
	run_probe --disk "$work/type2.raw" --secure-boot-keys "$keys"
	[ "$rc" = 2 ] || fail "a type #2 UKI: exit $rc, want 2"
	grep -q 'EFI/Linux/other.efi, which systemd-boot offers as an entry of its own' "$work/err" || fail "the type #2 UKI not named"
	# A db-signed boot loader that is not systemd-boot (the signed UKI itself in its place).
	cp --sparse=always "$disk/disk.raw" "$work/notsdboot.raw"
	mcopy -n -i "$work/notsdboot.raw@@$esp_off" "::$(jq -r .uki "$manifest")" "$work/uki.efi"
	mcopy -o -i "$work/notsdboot.raw@@$esp_off" "$work/uki.efi" ::/EFI/BOOT/BOOTX64.EFI
	run_probe --disk "$work/notsdboot.raw" --secure-boot-keys "$keys"
	[ "$rc" = 2 ] || fail "not systemd-boot: exit $rc, want 2"
	grep -q 'is not systemd-boot' "$work/err" || fail "a boot loader that is not systemd-boot not named"
	# No key directory: nothing to verify the chain with.
	run_probe --disk "$disk/disk.raw"
	[ "$rc" = 2 ] || fail "no keys: exit $rc, want 2"
	grep -q -- '--disk needs --secure-boot-keys' "$work/err" || fail "missing keys not named"
	;;
bootc-measure)
	# systemd-measure 257 from the image's own root (trixie), on the sections of the disk's UKI.
	root=$(ls -d "${SEALCHECK_CACHE:-$HOME/.cache/sealcheck}"/debootstrap-trixie-* | head -n 1)
	[ -x "$root/usr/lib/systemd/systemd-measure" ] || fail "no trixie root with systemd-measure in the cache"
	esp_off=$(sfdisk -d "$disk/disk.raw" | awk -F'[=,]' '/EFI-SYSTEM/ { gsub(/ /, "", $2); print $2 * 512 }')
	mcopy -n -i "$disk/disk.raw@@$esp_off" "::$(jq -r .uki "$manifest")" "$work/uki.efi"
	# A folder of this run's own inside the cached root (it is shared: nothing else is written there).
	m=$(mktemp -d "$root/run/sealcheck-measure.XXXXXX")
	trap 'rm -rf "$work" "$m"' EXIT
	# Each section as the stub measures it: VirtualSize bytes, the raw data zero-filled (src/boot/pe.c).
	/usr/bin/python3 - "$work/uki.efi" "$m" <<'PY' || fail "cannot read the UKI's sections"
import os, sys, pefile
pe = pefile.PE(sys.argv[1])
for s in pe.sections:
    name = s.Name.rstrip(b"\0").decode()
    if name in (".linux", ".osrel", ".cmdline", ".initrd", ".uname", ".sbat"):
        raw = s.get_data()[:min(s.Misc_VirtualSize, s.SizeOfRawData)]
        with open(os.path.join(sys.argv[2], name[1:]), "wb") as f:
            f.write(raw + b"\0" * (s.Misc_VirtualSize - len(raw)))
PY
	args=()
	for s in linux osrel cmdline initrd uname sbat; do
		[ -e "$m/$s" ] || fail "the UKI has no .$s"
		args+=("--$s=/run/${m##*/}/$s")
	done
	for bank in sha1 sha256 sha384 sha512; do
		for phase in "" enter-initrd:leave-initrd:sysinit:ready; do
			# --phase= (empty): the sections alone; without it systemd-measure prints its default phases.
			want=$(chroot "$root" /usr/lib/systemd/systemd-measure calculate "${args[@]}" --bank="$bank" \
				--phase="$phase" 2>/dev/null)
			got=$("$probe" predict-pcr11 --bank "$bank" ${phase:+--phase "$phase"} "$work/uki.efi")
			[ "$got" = "$want" ] || fail "$bank ${phase:-(no phase)}: predict-pcr11 $got, systemd-measure 257 $want"
		done
	done
	;;
*) echo "not ok - unknown case $case"; exit 1 ;;
esac
echo "ok - $case"
