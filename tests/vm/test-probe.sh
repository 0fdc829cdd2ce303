#!/usr/bin/env bash
# End-to-end: sealcheck-probe boots the sealed image (OVMF, signed UKI, real
# kernel enforcing verity=require) and must reach the expected verdict,
# naming the failed link.
#   tests/vm/test-probe.sh SEALCHECK SEALCHECK_PROBE IMAGE_CACHE_DIR CASE
VM_TEST_NAME=test-probe
. "$(dirname "$0")/lib.sh"
sealcheck=$1 probe=$(readlink -f "$2") cache=$3 case=$4
vm_need qemu-system-x86_64 jq debugfs

guest=busybox
[ "$case" = systemd-sealed ] && guest=systemd cache=$cache-systemd
img=$("$vm_srcdir/tests/vm/sealed-image.sh" "$sealcheck" "$cache" "$guest")
work=$(mktemp -d "${TMPDIR:-/tmp}/sealcheck-probe-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

want_rc=0 want_link= want_console= want_console_line= want_listed= args=() timeout=150
case $case in
sealed) ;;
systemd-sealed) timeout=300 ;;  # systemd as init: the agent runs as units/sealcheck-agent.service
no-secure-boot) want_rc=1 want_link=secure_boot args=(--firmware uefi-insecure) ;;
setup-mode) want_rc=1 want_link=secure_boot args=(--firmware uefi-setup) ;;
bios) want_rc=1 want_link=secure_boot args=(--firmware bios) ;;  # the same UKI's parts, no UEFI
insecure-cmdline) want_rc=1 want_link=cmdline args=(--esp insecure) ;;
no-verity) want_rc=1 want_link=root_mount args=(--esp noverity) ;;
wrong-digest)
	want_rc=2 want_console="fs-verity content mismatch|no composefs image" args=(--esp wrongdigest) ;;
corrupted-object)
	# Change one byte of the object behind libcrypto (the agent's library) on a copy of the
	# installed disk: the kernel must refuse to read it (EIO), and no sealed verdict may come.
	cp -r "$img" "$work/img"
	img=$work/img
	vm_damage "$img/root.img" /composefs/objects/$(jq -r '.backing_objects | to_entries[] | select(.key | test("/libcrypto")) | .value' "$img/manifest.json") '\xff' ||
		{ echo "not ok - $case: nothing to damage"; exit 1; }
	want_rc=2 want_console="Input/output error|FILE CORRUPTED|verity"
	;;
corrupted-unread-object)
	# One byte of an object nothing reads at boot: the guest comes up, and only
	# the agent's deep walk (--verify-objects --deep) can see it; the probe must
	# name the objects link and the file.
	cp -r "$img" "$work/img"
	img=$work/img
	vm_damage "$img/root.img" /composefs/objects/$(jq -r '.backing_objects["/usr/share/sealcheck-demo/payload.bin"]' "$img/manifest.json") '\x00' ||
		{ echo "not ok - $case: nothing to damage"; exit 1; }
	want_rc=1 want_link=objects want_listed=/usr/share/sealcheck-demo/payload.bin
	;;
bad-key)
	# The firmware itself must refuse the UKI, not any later failure: DxeImageVerificationLib
	# (edk2 SecurityPkg) denies an image whose signer is not in db with EFI_ACCESS_DENIED, and
	# OVMF's boot manager prints the failed load (edk2 OvmfPkg/Library/PlatformBmPrintScLib/
	# StatusCodeHandler.c: "%a: failed to %a %s \"%s\" from %s: %r"; edk2 since 2025 adds
	# " -- rejected probably by Secure Boot"). Debian 12's OVMF (edk2 2022.11) prints e.g.
	#   BdsDxe: failed to load Boot0001 "UEFI Non-Block Boot Device" from PciRoot(0x0)/Pci(0x1,0x0): Access Denied
	want_rc=2 want_console="Access Denied|Security Violation|denied|Failed|fail" args=(--esp badkey) timeout=45
	want_console_line='BdsDxe: failed to load Boot[0-9A-F]{4} "[^"]*" from [^ ]+: Access Denied( -- rejected probably by Secure Boot)?'
	;;
*) echo "unknown case $case"; exit 2 ;;
esac

# The sealed case reads the guest's console after the probe is done: --keep
# keeps the probe's work folder (and today the VM); both are ended below.
[ "$case" = sealed ] && args+=(--keep)
rc=0
# The probe's work folder goes below $work, which the trap removes.
XDG_RUNTIME_DIR=$work "$probe" run --json --timeout "$timeout" "${args[@]}" "$img" >"$work/out.json" 2>"$work/err" || rc=$?
# A VM --keep left running: stop it by the pid the probe names, if it is QEMU.
vm_pid=$(sed -n 's/.*VM left running (pid \([0-9]*\),.*/\1/p' "$work/err" | head -n 1)
if [ -n "$vm_pid" ] && [ "$(cat "/proc/$vm_pid/comm" 2>/dev/null)" = qemu-system-x86 ]; then
	kill "$vm_pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$vm_pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$vm_pid" 2>/dev/null || true
fi
fail=0
ok() { echo "ok - $case: $*"; }
bad() { echo "not ok - $case: $*"; fail=1; }
if ! jq -e . "$work/out.json" >/dev/null 2>&1; then
	bad "probe printed invalid JSON"; cat "$work/out.json" "$work/err"; exit 1
fi
[ "$rc" = "$want_rc" ] && ok "exit $rc" || bad "exit $rc, want $want_rc ($(jq -r '.reason // .failed_links' "$work/out.json"))"
nonce=$(jq -r .nonce "$work/out.json")
if [ "$want_rc" != 2 ]; then
	[ "$(jq -r .report.nonce "$work/out.json")" = "$nonce" ] && ok "report echoes the nonce" || bad "nonce not echoed"
fi
if [ "$want_rc" = 0 ]; then
	[ "$(jq -r '[.report.checks[] | .status] | map(select(. != "pass")) | length' "$work/out.json")" = 0 ] &&
		ok "every check passed" || bad "a check did not pass"
fi
if [ "$case" = systemd-sealed ]; then
	unit=$(jq -r .report.agent.unit "$work/out.json")
	[ "$unit" = sealcheck-agent.service ] && ok "the agent ran as $unit (udev + the hardened unit)" ||
		bad "the agent ran as '$unit', not sealcheck-agent.service"
fi
if [ -n "$want_link" ]; then
	jq -e --arg l "$want_link" '.failed_links | map(.link) | index($l)' "$work/out.json" >/dev/null &&
		ok "names the broken link $want_link: $(jq -r --arg l "$want_link" '.failed_links[] | select(.link == $l) | .reason' "$work/out.json")" ||
		bad "failed links $(jq -c '[.failed_links[].link]' "$work/out.json") lack $want_link"
fi
if [ -n "$want_listed" ]; then
	listed=$(jq -r '.report.checks.objects.listed[0] | "\(.path) \(.problem)"' "$work/out.json")
	[ "$listed" = "$want_listed unreadable" ] && ok "the report names $listed" || bad "objects.listed[0] is '$listed'"
fi
if [ "$want_rc" = 0 ] && [ "$guest" = busybox ]; then
	[ "$(jq -r '.report.checks.objects | "\(.status) \(.deep) \(.walker)"' "$work/out.json")" = "pass true parsed" ] &&
		ok "every object read in full: $(jq -r .report.checks.objects.reason "$work/out.json")" || bad "no passing deep objects check"
fi
if [ "$case" = sealed ]; then
	# No way out but the port: the guest (host-probe/builder/guest-init.sh) lists
	# its network interfaces and PCI network controllers on the console.
	console=$(jq -r '.vm.console_log // (.vm.work_dir // empty | . + "/console.log")' "$work/out.json")
	if [ -z "$console" ] || [ ! -r "$console" ]; then
		bad "no console log to read (vm.console_log '$console' after --keep)"
	else
		net=$(tr -d '\r' <"$console" | grep -a '^sealcheck-guest: net:' | head -n 1)
		pci=$(tr -d '\r' <"$console" | grep -a '^sealcheck-guest: pci-net:' | head -n 1)
		[ "$net" = "sealcheck-guest: net: lo" ] && ok "the guest has no network interface but lo" ||
			bad "the guest's interfaces: '${net#sealcheck-guest: net: }' (want exactly 'lo')"
		[ "$pci" = "sealcheck-guest: pci-net: none" ] && ok "the guest has no network controller" ||
			bad "the guest sees network controllers: '${pci#sealcheck-guest: pci-net:}' (want none)"
	fi
fi
if [ -n "$want_console" ]; then
	if jq -r '.console_tail // ""' "$work/out.json" | grep -iE "$want_console" >/dev/null; then  # not -q: jq would die of SIGPIPE (pipefail)
		ok "console excerpt shows: $(jq -r .console_tail "$work/out.json" | grep -iE "$want_console" | head -n 1)"
	else
		bad "console excerpt lacks /$want_console/:"; jq -r .console_tail "$work/out.json"
	fi
fi
if [ -n "$want_console_line" ]; then
	# A whole line of the console excerpt, not a word anywhere in it.
	line=$(jq -r '.console_tail // ""' "$work/out.json" | grep -xE "$want_console_line" | head -n 1) || true
	[ -n "$line" ] && ok "the firmware refused it: $line" || bad "no console line matches /^$want_console_line\$/"
fi
echo "# $case: $(jq -r '.seconds' "$work/out.json") s to the report or deadline, accel $(jq -r .vm.accel "$work/out.json")"
exit $fail
