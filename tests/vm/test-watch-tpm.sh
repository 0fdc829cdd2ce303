#!/usr/bin/env bash
# `sealcheck-probe watch` with a real TPM: a sealed VM left running by
# `run --keep --tpm-state STATE/vm1` (real swtpm, OVMF, signed UKI, agent with
# tpm2-tss) is watched through a socket directory, its TPM evidence verified
# round after round from the state directory.
#   tests/vm/test-watch-tpm.sh SEALCHECK SEALCHECK_PROBE IMAGE_CACHE_DIR CASE
# Cases:
#   watch-tpm-pinned    ak.name as run left it: two consecutive rounds sealed, evidence
#                       "tpm", all 10 TPM links proven, the second round's counters link
#                       saying they moved forward (per VM, kept in STATE/vm1/quote-counters)
#   watch-tpm-activate  ak.name removed (as for a TPM libvirt made), --tpm-ek-ca the
#                       state's local CA: the first round binds the AK to the EK by
#                       credential activation and pins it in STATE/vm1/ak.name, the second
#                       compares the pinned Name; both sealed with every link proven
#   watch-tpm-wrong-ak  ak.name holds another key's Name: NOT SEALED naming tpm:quote,
#                       evidence self-reported, on every round
#   watch-tpm-unbound   ak.name removed: without --tpm-ek-ca the AK cannot be trusted
#                       (NOT SEALED, tpm:quote says to give --tpm-ek-ca); with a CA that
#                       certified nothing of this TPM, activation refuses the EK (tpm:quote:
#                       does not chain) and nothing is pinned
# The socket directory holds a hard link to the VM's socket (the same socket
# inode: watch takes only sockets, never symlinks, docs/fleet.md). Bounded: the
# VM boot by run's --timeout, watch by `timeout`; the VM, its swtpm and watch are
# stopped by pid at the end and no process of the test may be left.
VM_TEST_NAME=test-watch-tpm
. "$(dirname "$0")/lib.sh"
sealcheck=$1 probe=$(readlink -f "$2") cache=$3 case=$4
vm_need qemu-system-x86_64 jq swtpm swtpm_setup tpm2_createprimary mcopy pgrep
case $case in
watch-tpm-pinned | watch-tpm-activate | watch-tpm-wrong-ak | watch-tpm-unbound) ;;
*) echo "unknown case $case"; exit 2 ;;
esac

img=$("$vm_srcdir/tests/vm/sealed-image.sh" "$sealcheck" "$cache" busybox)
work=$(mktemp -d "${TMPDIR:-/tmp}/sealcheck-watch-tpm.XXXXXX")
states=$work/state state=$work/state/vm1 socks=$work/socks
mkdir -p "$states" "$socks"
vm_pid= swtpm_pid= watch_pid=
cleanup() {
	[ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
	[ -n "$vm_pid" ] && [ "$(cat "/proc/$vm_pid/comm" 2>/dev/null)" = qemu-system-x86 ] && kill "$vm_pid" 2>/dev/null
	[ -n "$swtpm_pid" ] && [ "$(cat "/proc/$swtpm_pid/comm" 2>/dev/null)" = swtpm ] && kill "$swtpm_pid" 2>/dev/null
	for _ in $(seq 50); do
		[ -n "$vm_pid" ] && [ -e "/proc/$vm_pid" ] && { sleep 0.1; continue; }
		[ -n "$swtpm_pid" ] && [ -e "/proc/$swtpm_pid" ] && { sleep 0.1; continue; }
		break
	done
	rm -rf "$work"
}
trap cleanup EXIT

fail=0
ok() { echo "ok - $case: $*"; }
bad() { echo "not ok - $case: $*"; fail=1; }

XDG_RUNTIME_DIR=$work "$probe" run --keep --tpm-state "$state" --timeout 150 "$img" >"$work/run.out" 2>"$work/run.err" ||
	{ echo "not ok - $case: run --keep did not say sealed"; cat "$work/run.out" "$work/run.err"; exit 1; }
vm_pid=$(sed -n 's/.*VM left running (pid \([0-9]*\),.*/\1/p' "$work/run.err" | head -n 1)
sock=$(sed -n 's/.*VM left running (pid [0-9]*, socket \([^,]*\),.*/\1/p' "$work/run.err" | head -n 1)
vmwork=$(sed -n 's/.*VM left running (.*, work directory \(.*\))$/\1/p' "$work/run.err" | head -n 1)
# run's swtpm, by its control socket in run's own work directory (stopped by this pid at the end).
swtpm_pid=$(pgrep -f "path=$vmwork/swtpm.sock" | head -n 1 || true)
[ -n "$vm_pid" ] && [ -S "$sock" ] && [ -n "$swtpm_pid" ] && [ -s "$state/ak.name" ] ||
	{ echo "not ok - $case: no running VM, socket, swtpm or ak.name from run --keep"; cat "$work/run.err"; exit 1; }
ln "$sock" "$socks/vm1.sock"
mcopy -o -i "$img/$(jq -r .esps.sealed.esp "$img/manifest.json")" ::/EFI/BOOT/BOOTX64.EFI "$work/sealed-uki.efi"

extra=()
case $case in
watch-tpm-pinned) extra=(--textfile "$work/sealcheck.prom") ;;
watch-tpm-activate)
	rm -f "$state/ak.name"
	cat "$state/localca/swtpm-localca-rootca-cert.pem" "$state/localca/issuercert.pem" >"$work/ek-ca.pem"
	extra=(--tpm-ek-ca "$work/ek-ca.pem")
	;;
watch-tpm-wrong-ak)
	printf '\x00\x0b%064d' 0 | head -c 34 >"$state/ak.name"
	;;
watch-tpm-unbound)
	rm -f "$state/ak.name"
	cp "$state/quote-counters" "$work/counters.before"
	# A CA of its own that certified nothing: the VM's EK certificate cannot chain to it.
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/other-ca.key" -out "$work/other-ca.pem" -days 2 \
		-subj "/CN=not the VM's CA" >/dev/null 2>&1
	;;
esac

# watch_rounds [ARGS...]: watch until vm1 had two rounds (within 120 s), then SIGTERM; r1 and r2 are its two
# round lines. Rounds every 5 s; a TPM round's deadline is 20 s by default (the quote, and the activation).
watch_rounds() {
	: >"$work/watch.out"
	timeout -k 5 150 "$probe" watch --json --socket-dir "$socks" --expect-digest "$(jq -r .digest "$img/manifest.json")" \
		--state-dir "$states" --tpm-uki "$work/sealed-uki.efi" --tpm-keys "$(jq -r .keys "$img/manifest.json")" \
		--interval 5 --events all "$@" >"$work/watch.out" 2>"$work/watch.err" &
	watch_pid=$!
	for _ in $(seq 240); do
		[ "$(jq -c 'select(.vm == "vm1" and (.rounds // 0) >= 2)' "$work/watch.out" 2>/dev/null | wc -l)" -ge 1 ] && break
		kill -0 "$watch_pid" 2>/dev/null || break
		sleep 0.5
	done
	kill -TERM "$watch_pid" 2>/dev/null
	wrc=0
	wait "$watch_pid" || wrc=$?
	watch_pid=
	[ "$wrc" = 0 ] && ok "watch${*:+ $*}: stopped by SIGTERM, exit 0" || bad "watch exit $wrc: $(tail -n 3 "$work/watch.err")"
	jq -e . "$work/watch.out" >/dev/null 2>&1 || { bad "watch printed invalid JSON"; cat "$work/watch.out"; exit 1; }
	r1=$(round 1) r2=$(round 2)
	[ -n "$r1" ] && [ -n "$r2" ] && ok "two rounds of vm1" ||
		{ bad "no two rounds: $(tail -c 2000 "$work/watch.out") $(tail -n 5 "$work/watch.err")"; exit 1; }
}
round() { jq -c --argjson n "$1" 'select(.vm == "vm1" and .rounds == $n)' "$work/watch.out" | sed -n 1p; }
link() { jq -r --arg l "$2" '.tpm_links[]? | select(.link == $l) | "\(.status): \(.reason)"' <<<"$1"; }
# unsealed_by_quote PATTERN: both rounds NOT SEALED, tpm:quote failed with a reason matching PATTERN.
unsealed_by_quote() {
	local n r
	for n in 1 2; do
		r=$(round $n)
		# shellcheck disable=SC2053
		[ "$(jq -r '"\(.tpm) \(.verdict) \(.evidence)"' <<<"$r")" = "true unsealed self-reported" ] &&
			jq -e '.failed_links | map(.link) | index("tpm:quote")' <<<"$r" >/dev/null &&
			[[ "$(link "$r" tpm:quote)" == $1 ]] &&
			ok "round $n: NOT SEALED by tpm:quote ($(link "$r" tpm:quote))" ||
			bad "round $n: $(jq -c '{verdict, evidence, failed_links}' <<<"$r")"
	done
}

if [ "$case" = watch-tpm-unbound ]; then
	watch_rounds
	unsealed_by_quote "failed: no AK is pinned for this VM*--tpm-ek-ca*"
	watch_rounds --tpm-ek-ca "$work/other-ca.pem"
	unsealed_by_quote "failed: *does not chain*"
	[ ! -e "$state/ak.name" ] && ok "nothing pinned" || bad "an AK was pinned with an untrusted EK"
	cmp -s "$state/quote-counters" "$work/counters.before" && ok "the counters stay as run left them (no quote verified)" ||
		bad "quote-counters changed: $(cat "$state/quote-counters")"
	r1=$(round 1) r2=$(round 2)
else
	watch_rounds "${extra[@]}"
fi
if [ "$case" = watch-tpm-unbound ]; then
	:
elif [ "$case" = watch-tpm-wrong-ak ]; then
	unsealed_by_quote "failed: ak-name: *"
	[ "$(od -An -tx1 -N2 "$state/ak.name" | tr -d ' ')" = 000b ] && [ "$(tail -c 32 "$state/ak.name" | tr -d 0)" = "" ] &&
		ok "the pinned Name was not replaced" || bad "ak.name changed"
else
	for n in 1 2; do
		r=$(round $n)
		[ "$(jq -r '"\(.tpm) \(.verdict) \(.evidence) \(.failed_links | length)"' <<<"$r")" = "true sealed tpm 0" ] &&
			ok "round $n: sealed, evidence tpm" || bad "round $n: $(jq -c '{verdict, evidence, failed_links, reason}' <<<"$r")"
		[ "$(jq -r '[.tpm_links[] | select(.status == "proven")] | length' <<<"$r")" = 10 ] &&
			[ "$(jq -r '.tpm_links | length' <<<"$r")" = 10 ] &&
			jq -e '[.tpm_links[].link] | index("tpm:pcr4")' <<<"$r" >/dev/null &&
			ok "round $n: all 10 TPM links proven: $(jq -r '[.tpm_links[].link] | join(" ")' <<<"$r")" ||
			bad "round $n: TPM links $(jq -c '[.tpm_links[]? | "\(.link)=\(.status)"]' <<<"$r")"
	done
	case $(link "$r2" tpm:counters) in
	"proven: clock and counters moved forward"*) ok "round 2: the counters moved forward since round 1" ;;
	*) bad "round 2's counters link: $(link "$r2" tpm:counters)" ;;
	esac
	grep -q . "$state/quote-counters" && ok "counters kept in the VM's state folder" || bad "no $state/quote-counters"
	if [ "$case" = watch-tpm-activate ]; then
		case $(link "$r1" tpm:quote) in
		*"by credential activation now (pinned in ak.name)"*) ok "round 1: the AK bound to the EK by activation and pinned" ;;
		*) bad "round 1's tpm:quote: $(link "$r1" tpm:quote)" ;;
		esac
		[ "$(stat -c %s "$state/ak.name" 2>/dev/null)" = 34 ] && ok "a 34-byte AK Name pinned in $(basename "$states")/vm1/ak.name" ||
			bad "no AK Name pinned"
		case $(link "$r2" tpm:quote) in
		"proven: signed by the pinned AK"*) ok "round 2 compares the pinned Name" ;;
		*) bad "round 2's tpm:quote: $(link "$r2" tpm:quote)" ;;
		esac
	else
		case $(link "$r1" tpm:quote) in
		"proven: signed by the pinned AK"*) ok "round 1: signed by the pinned AK" ;;
		*) bad "round 1's tpm:quote: $(link "$r1" tpm:quote)" ;;
		esac
		# The metrics carry the verified quote's resetCount (sealcheck_vm_tpm_resets, docs/metrics.md).
		want=$(sed -n 's/.*(reset \([0-9]*\), restart [0-9]*).*/\1/p' <<<"$(link "$r2" tpm:quote)")
		got=$(sed -n 's/^sealcheck_vm_tpm_resets{vm="vm1"} \([0-9]*\)$/\1/p' "$work/sealcheck.prom" 2>/dev/null)
		[ -n "$want" ] && [ "$got" = "$want" ] && ok "textfile: sealcheck_vm_tpm_resets{vm=\"vm1\"} $got, the quote's resetCount" ||
			bad "textfile: sealcheck_vm_tpm_resets '$got', the quote says reset '$want'"
	fi
fi
echo "# $case: round_ms $(jq -r .round_ms <<<"$r1") and $(jq -r .round_ms <<<"$r2")"

# Nothing of the test left running.
cleanup_pids="$vm_pid $swtpm_pid"
trap - EXIT
cleanup
left=$(pgrep -f "$work" || true)
[ -z "$left" ] && ok "no process left (VM pid $vm_pid, swtpm pid $swtpm_pid stopped)" || bad "left running: $left (of $cleanup_pids)"
[ ! -e "$work" ] && ok "work directory removed" || bad "$work left behind"
exit $fail
