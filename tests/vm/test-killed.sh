#!/usr/bin/env bash
# A probe killed outright (SIGKILL: no handler runs) while its VM boots:
# its QEMU and swtpm must die with it (parent-death signal), and the work
# directory it cannot remove (the vars copy, the UKI, a TPM state) names its
# owner; the next run removes it before making its own (host-probe/vm/probe-workdir.h).
#   tests/vm/test-killed.sh SEALCHECK SEALCHECK_PROBE IMAGE_CACHE_DIR
VM_TEST_NAME=test-killed
. "$(dirname "$0")/lib.sh"
sealcheck=$1 probe=$(readlink -f "$2") cache=$3 case=killed
vm_need qemu-system-x86_64 jq swtpm pgrep
img=$("$vm_srcdir/tests/vm/sealed-image.sh" "$sealcheck" "$cache" busybox)
work=$(mktemp -d "${TMPDIR:-/tmp}/sealcheck-killed-test.XXXXXX")
run_pid=
cleanup() {
	[ -n "$run_pid" ] && kill -KILL "$run_pid" 2>/dev/null
	pkill -KILL -f "$work/sealcheck-probe\." 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
fail=0
ok() { echo "ok - $case: $*"; }
bad() { echo "not ok - $case: $*"; fail=1; }

# procs DIR: the processes whose command line names DIR (QEMU's drives, swtpm's state), as "pid comm".
procs() {
	local p out=
	for p in $(pgrep -f "$1"); do
		[ "$p" = $$ ] && continue
		out+="$p:$(cat "/proc/$p/comm" 2>/dev/null) "
	done
	echo "$out"
}
has_qemu_and_swtpm() { local p; p=$(procs "$wd"); [[ $p == *qemu-system* && $p == *swtpm* ]]; }
none_left() { [ -z "$(procs "$wd")" ]; }
one_workdir() { local d=("$work"/sealcheck-probe.*); [ -d "${d[0]}" ]; }

XDG_RUNTIME_DIR=$work "$probe" run --tpm --timeout 150 "$img" >"$work/run.out" 2>"$work/run.err" &
run_pid=$!
vm_wait_for 30 one_workdir || { bad "no work directory appeared"; exit 1; }
wds=("$work"/sealcheck-probe.*)
wd=${wds[0]}
if vm_wait_for 60 has_qemu_and_swtpm; then
	ok "the VM boots: $(procs "$wd")"
else
	bad "no QEMU and swtpm of $wd within 60 s: $(procs "$wd")"; cat "$work/run.err"; exit 1
fi
kill -KILL "$run_pid"
wait "$run_pid" 2>/dev/null || true
run_pid=
vm_wait_for 10 none_left && ok "SIGKILL: QEMU and swtpm died with the probe" || bad "left running: $(procs "$wd")"
[ -d "$wd" ] && [ -s "$wd/owner" ] && ok "SIGKILL: the work directory stays, naming its owner: $(cat "$wd/owner")" ||
	bad "no work directory with an owner record left to test with"
rc=0
XDG_RUNTIME_DIR=$work "$probe" run --timeout 150 "$img" >"$work/next.out" 2>"$work/next.err" || rc=$?
[ "$rc" = 0 ] && grep -q '^Verdict: SEALED' "$work/next.out" && ok "the next run: SEALED" ||
	{ bad "the next run: exit $rc"; cat "$work/next.out" "$work/next.err"; }
[ -e "$wd" ] && bad "the killed run's work directory is left: $(ls "$wd")" || ok "the next run removed the killed run's work directory"
left=("$work"/sealcheck-probe.*)
[ ! -e "${left[0]}" ] && ok "no work directory left" || bad "left: ${left[*]}"
exit $fail
