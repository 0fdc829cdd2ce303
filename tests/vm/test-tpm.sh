#!/usr/bin/env bash
# End-to-end with the VM's TPM: sealcheck-probe run --tpm boots the sealed
# image with a swtpm the host owns, and must prove (not take the guest's word
# for) Secure Boot, the UKI and its composefs= digest, or name the link that
# failed. Real swtpm, OVMF, signed UKI, kernel and agent (tpm2-tss ESAPI).
#   tests/vm/test-tpm.sh SEALCHECK SEALCHECK_PROBE IMAGE_CACHE_DIR CASE [FIXTURE_OUT]
# Cases:
#   tpm-sealed          every TPM link proven, verdict SEALED with evidence "tpm"
#   tpm-no-secure-boot  OVMF without Secure Boot: PCR 7 exposes it (tpm:secure_boot)
#   tpm-secure-boot-lie OVMF without Secure Boot boots the sealed UKI itself from esp-sblie.img,
#                       whose guest forges its EFI variables (SecureBoot=1, the image's keys)
#                       as a patched agent would: the report claims Secure Boot, and PCR 7's
#                       log exposes the lie (tpm:secure_boot, the only link that fails)
#   tpm-other-uki       a UKI other than the sealed one boots (composefs=? on its
#                       cmdline): PCR 11 differs from the host's prediction (tpm:pcr11)
#   tpm-untrusted-ak    the VM's TPM state pins another AK: the quote is refused (tpm:quote)
#   tpm-attest-running  `attest` of a VM already running (started by `run --keep --tpm-state`):
#                       the same proof from the recorded TPM state, counters moved forward
#   tpm-counter-back    the VM's last recorded quote had a higher resetCount: the TPM's
#                       counters went back (a reset or a replayed state: tpm:counters)
#   tpm-systemd-sealed  the systemd guest (Debian 12, systemd 252 as init): every link
#                       proven, PCR 11 event by event then the boot phase path systemd-pcrphase
#                       reached (no userspace log in 252: one of systemd's fixed paths, named)
#   tpm-ak-activate     no AK derived before boot (run --tpm-ak activate): the guest's AK is
#                       bound to the EK (certified by the state's local CA) by credential
#                       activation, every link proven and the AK pinned; a second boot of
#                       the same state compares the pinned Name, with no activation
#   tpm-ek-other-ca     the same, but the host trusts another CA (--tpm-ek-ca): the EK
#                       certificate does not chain, the AK is not trusted (tpm:quote)
#   tpm-attest-activate `attest` of a running VM whose TPM state pins no AK (as a TPM libvirt
#                       made): --tpm-ek-ca with the state's local CA binds the AK by
#                       activation and pins it; a second attest compares the pinned Name
#   tpm-ak-unbound      the cuckoo attack: `attest` of a running VM (no AK pinned) through
#                       tests/vm/cuckoo-proxy.py, which swaps the agent's EK document for
#                       another TPM's genuine EK and certificate (both CAs trusted): the host
#                       seals its challenge to that EK, the VM's TPM cannot answer, the AK is
#                       not bound to the EK (tpm:quote) and nothing is pinned; the same
#                       proxy passing the EK through (the control) binds and pins the AK
#   tpm-other-db-key    a VM whose firmware db holds another key than the host's (an edited store)
#                       boots a UKI signed by that key, with the sealed cmdline, and reports as the
#                       sealed guest does; `attest` with the host's key directory: NOT SEALED,
#                       tpm:secure_boot naming the db certificate, tpm:pcr4 the application's digest,
#                       tpm:cmdline not proven, while the quote itself verifies
# With FIXTURE_OUT, tpm-sealed also writes the probe's JSON there (the evidence
# and the exact report bytes), for tests/fixtures/evidence/.
VM_TEST_NAME=test-tpm
. "$(dirname "$0")/lib.sh"
sealcheck=$1 probe=$(readlink -f "$2") cache=$3 case=$4 fixture_out=${5:-}
vm_need qemu-system-x86_64 jq swtpm swtpm_setup tpm2_createprimary

guest=busybox timeout=150
[ "$case" = tpm-systemd-sealed ] && guest=systemd cache=$cache-systemd timeout=300
img=$("$vm_srcdir/tests/vm/sealed-image.sh" "$sealcheck" "$cache" "$guest")
work=$(mktemp -d "${TMPDIR:-/tmp}/sealcheck-tpm-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

want_rc=0 want_link= args=(--tpm)
case $case in
tpm-sealed | tpm-systemd-sealed) ;;
tpm-no-secure-boot) want_rc=1 want_link=tpm:secure_boot args+=(--firmware uefi-insecure) ;;
tpm-secure-boot-lie) want_rc=1 want_link=tpm:secure_boot args+=(--firmware uefi-insecure --esp sblie) ;;
tpm-other-uki) want_rc=1 want_link=tpm:pcr11 args+=(--esp insecure) ;;
tpm-untrusted-ak)
	# A TPM state made for this VM, whose recorded AK Name is another key's.
	state=$work/tpm-state
	XDG_RUNTIME_DIR=$work "$probe" run --tpm-state "$state" --timeout 1 "$img" >/dev/null 2>&1 || true
	[ -s "$state/ak.name" ] || { echo "not ok - $case: no AK Name recorded in $state"; exit 1; }
	printf '\x00\x0b%064d' 0 | head -c 34 >"$state/ak.name"
	want_rc=1 want_link=tpm:quote args=(--tpm-state "$state")
	;;
tpm-counter-back)
	state=$work/tpm-state
	XDG_RUNTIME_DIR=$work "$probe" run --tpm-state "$state" --timeout 1 "$img" >/dev/null 2>&1 || true
	[ -s "$state/ak.name" ] || { echo "not ok - $case: no TPM state made in $state"; exit 1; }
	echo "0 999999 0" >"$state/quote-counters"
	want_rc=1 want_link=tpm:counters args=(--tpm-state "$state")
	;;
tpm-attest-running | tpm-attest-activate) ;;
tpm-ak-unbound) want_rc=1 want_link=tpm:quote ;;
tpm-other-db-key) want_rc=1 want_link=tpm:pcr4 ;;
tpm-ak-activate) args=(--tpm-state "$work/tpm-state" --tpm-ak activate) ;;
tpm-ek-other-ca)
	# A CA of its own that certified nothing: the VM's EK certificate cannot chain to it.
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/other-ca.key" -out "$work/other-ca.pem" -days 2 \
		-subj "/CN=not the VM's CA" >/dev/null 2>&1
	want_rc=1 want_link=tpm:quote args=(--tpm --tpm-ak activate --tpm-ek-ca "$work/other-ca.pem")
	;;
*) echo "unknown case $case"; exit 2 ;;
esac

rc=0
fail=0
ok() { echo "ok - $case: $*"; }
bad() { echo "not ok - $case: $*"; fail=1; }
attest_mode=false
case $case in tpm-attest-running | tpm-attest-activate | tpm-ak-unbound | tpm-other-db-key) attest_mode=true ;; esac
# other_tpm_ek DIR: another VM's TPM state in DIR (made by run), and its EK as the agent would send it:
# DIR.pub (TPM2B_PUBLIC, template L-1, tpm2_createek) and DIR.der (the certificate in NV 0x01c00002).
other_tpm_ek() {
	local dir=$1 port tcti pid i
	XDG_RUNTIME_DIR=$work "$probe" run --tpm-state "$dir" --timeout 1 "$img" >/dev/null 2>&1 || true
	[ -s "$dir/tpm2-00.permall" ] || { echo "not ok - $case: no TPM state made in $dir"; return 1; }
	for i in $(seq 10); do
		port=$(python3 -c 'import random; print(random.randrange(20000, 60000, 2))')
		tcti=swtpm:host=127.0.0.1,port=$port
		swtpm socket --tpm2 --tpmstate dir="$dir" --server type=tcp,port="$port",bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 --flags not-need-init,startup-clear 2>>"$work/err" &
		pid=$!
		for _ in $(seq 30); do
			timeout 10 tpm2_createek -T "$tcti" -c "$work/other-ek.ctx" -G rsa -u "$dir.pub" 2>>"$work/err" && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		[ -s "$dir.pub" ] && timeout 10 tpm2_nvread -T "$tcti" -C o -o "$dir.der" 0x1c00002 2>>"$work/err"
		kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
		[ -s "$dir.pub" ] && [ -s "$dir.der" ] && return 0
	done
	echo "not ok - $case: could not read the other TPM's EK (see $work/err)"; return 1
}
# attest_through_proxy OUT [--pass-through]: attest the running VM through cuckoo-proxy.py.
attest_through_proxy() {
	local out=$1 prc=0 arc=0
	shift
	rm -f "$work/proxy.sock"
	python3 "$vm_srcdir/tests/vm/cuckoo-proxy.py" "$work/proxy.sock" "$sock" "$work/other-tpm.pub" "$work/other-tpm.der" \
		"$work/proxy.log" "$@" 2>>"$work/err" &
	proxy_pid=$!
	for _ in $(seq 50); do [ -S "$work/proxy.sock" ] && break; sleep 0.1; done
	"$probe" attest --json --timeout 120 --socket "$work/proxy.sock" --expect-digest "$(jq -r .digest "$img/manifest.json")" \
		--tpm-state "$state" --tpm-uki "$work/sealed-uki.efi" --tpm-keys "$(jq -r .keys "$img/manifest.json")" \
		--tpm-ek-ca "$work/ek-ca.pem" --tpm-ek-owner tpm-state >"$out" 2>>"$work/err" || arc=$?
	# The proxy ends when attest closes its side; one attest never reached stays in accept(): ended here.
	for _ in $(seq 50); do kill -0 "$proxy_pid" 2>/dev/null || break; sleep 0.1; done
	kill "$proxy_pid" 2>/dev/null
	wait "$proxy_pid" || prc=$?
	proxy_pid=
	[ "$prc" = 0 ] || echo "# the proxy exited $prc"
	return "$arc"
}
proxy_pid=
if $attest_mode; then
	state=$work/tpm-state
	if [ "$case" = tpm-other-db-key ]; then
		# The attacker's firmware store: the host's PK and KEK, but db holds another key (an edited
		# variable store, or a KEK that let someone replace db), and the VM boots a UKI signed by that
		# key (the image's badkey variant: the sealed cmdline, another build). Its guest reports as
		# the sealed guest does; the host, holding its own key directory, must see both links break.
		hostkeys=$(jq -r .keys "$img/manifest.json")
		mkdir -m 0755 "$work/attack-keys"
		cp "$hostkeys/PK.crt" "$hostkeys/KEK.crt" "$hostkeys/GUID.txt" "$work/attack-keys/"
		cp "$hostkeys/notindb.crt" "$work/attack-keys/db.crt"
		rrc=0
		XDG_RUNTIME_DIR=$work "$probe" run --keep --tpm-state "$state" --timeout "$timeout" --secure-boot-keys "$work/attack-keys" \
			--esp badkey "$img" >"$work/run.out" 2>"$work/err" || rrc=$?
		grep -q "VM left running" "$work/err" && grep -q "^Verdict: NOT SEALED" "$work/run.out" ||
			{ echo "not ok - $case: the attacker's VM did not come up and report (exit $rrc)"; cat "$work/run.out" "$work/err"; exit 1; }
	else
		XDG_RUNTIME_DIR=$work "$probe" run --keep --tpm-state "$state" --timeout "$timeout" "$img" >"$work/run.out" 2>"$work/err" ||
			{ echo "not ok - $case: run --keep did not say sealed"; cat "$work/run.out" "$work/err"; exit 1; }
	fi
	vm_pid=$(sed -n 's/.*VM left running (pid \([0-9]*\),.*/\1/p' "$work/err" | head -n 1)
	sock=$(sed -n 's/.*VM left running (pid [0-9]*, socket \([^,]*\),.*/\1/p' "$work/err" | head -n 1)
	stop_vm() {
		[ -n "$vm_pid" ] && [ "$(cat "/proc/$vm_pid/comm" 2>/dev/null)" = qemu-system-x86 ] && kill "$vm_pid" 2>/dev/null
		sleep 0.5
		pkill -f "tpmstate dir=$state" 2>/dev/null || true
		[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
		rm -rf "$work"
	}
	trap stop_vm EXIT
	mcopy -o -i "$img/$(jq -r .esps.sealed.esp "$img/manifest.json")" ::/EFI/BOOT/BOOTX64.EFI "$work/sealed-uki.efi"
	attest_args=()
	if [ "$case" = tpm-ak-unbound ]; then
		# Another TPM whose EK certificate names a VM of the same name (CN=tpm-state:<its uuid>), so the
		# owner check passes and credential activation alone must tell the TPMs apart.
		mkdir -p "$work/other"
		other_tpm_ek "$work/other/tpm-state" || exit 1
		cp "$work/other/tpm-state.pub" "$work/other-tpm.pub" && cp "$work/other/tpm-state.der" "$work/other-tpm.der"
		rm -f "$state/ak.name"
		# The host trusts the CAs of both TPMs (as a fleet trusts a manufacturer's CA that certified many).
		cat "$state/localca/swtpm-localca-rootca-cert.pem" "$state/localca/issuercert.pem" \
			"$work/other/tpm-state/localca/swtpm-localca-rootca-cert.pem" "$work/other/tpm-state/localca/issuercert.pem" >"$work/ek-ca.pem"
		cp "$state/quote-counters" "$work/counters.before"
		attest_through_proxy "$work/out.json" || rc=$?
		grep -q "swapped the EK document" "$work/proxy.log" && ok "the proxy swapped the agent's EK document for the other TPM's" ||
			{ echo "not ok - $case: the proxy swapped nothing: $(cat "$work/proxy.log")"; cat "$work/out.json" "$work/err"; exit 1; }
		reason=$(jq -r '.failed_links[]? | select(.link == "tpm:quote") | .reason' "$work/out.json")
		case $reason in
		"AK not bound to the EK: the agent sent no answer to the credential challenge"*) ok "tpm:quote: $reason" ;;
		*) bad "tpm:quote's reason: $reason" ;;
		esac
		[ ! -e "$state/ak.name" ] && ok "nothing pinned" || bad "an AK was pinned for another TPM's EK"
		cmp -s "$state/quote-counters" "$work/counters.before" && ok "the counters stay as run left them (no quote trusted)" ||
			bad "quote-counters changed: $(cat "$state/quote-counters")"
		# The control: the same proxy passing the EK through. The AK is bound and pinned, so the proxy breaks nothing.
		rc2=0
		attest_through_proxy "$work/out2.json" --pass-through || rc2=$?
		[ "$rc2" = 0 ] && grep -q "passed the EK document through" "$work/proxy.log" &&
			jq -e '.tpm[] | select(.link == "tpm:quote") | .reason | contains("by credential activation now (pinned in ak.name)")' \
				"$work/out2.json" >/dev/null && [ -s "$state/ak.name" ] &&
			ok "control: through the proxy with the VM's own EK the AK is bound and pinned" ||
			bad "control: exit $rc2, $(jq -c '.failed_links' "$work/out2.json")"
	elif [ "$case" = tpm-attest-activate ]; then
		# No AK pinned, as for a TPM libvirt made: only the EK's CA (here the state's local CA) is trusted.
		rm -f "$state/ak.name"
		cat "$state/localca/swtpm-localca-rootca-cert.pem" "$state/localca/issuercert.pem" >"$work/ek-ca.pem"
		# Without the VM's identity a CA-trusted EK could be any VM's: refused before anything is sent.
		orc=0
		"$probe" attest --json --socket "$sock" --expect-digest "$(jq -r .digest "$img/manifest.json")" --tpm-state "$state" \
			--tpm-uki "$work/sealed-uki.efi" --tpm-keys "$(jq -r .keys "$img/manifest.json")" --tpm-ek-ca "$work/ek-ca.pem" \
			>"$work/noowner.json" 2>"$work/noowner.err" || orc=$?
		[ "$orc" = 2 ] && grep -q -- "--tpm-ek-ca needs --tpm-ek-owner" "$work/noowner.err" &&
			ok "--tpm-ek-ca without --tpm-ek-owner: exit 2" || bad "--tpm-ek-ca without --tpm-ek-owner: exit $orc"
		# A neighbour's identity (the relay attack: this VM's EK presented as another VM's): not this VM's.
		orc=0
		"$probe" attest --json --socket "$sock" --expect-digest "$(jq -r .digest "$img/manifest.json")" --tpm-state "$state" \
			--tpm-uki "$work/sealed-uki.efi" --tpm-keys "$(jq -r .keys "$img/manifest.json")" --tpm-ek-ca "$work/ek-ca.pem" \
			--tpm-ek-owner web-02 >"$work/other-owner.json" 2>>"$work/err" || orc=$?
		reason=$(jq -r '.failed_links[]? | select(.link == "tpm:quote") | .reason' "$work/other-owner.json")
		[ "$orc" = 1 ] && [ ! -e "$state/ak.name" ] && case $reason in *"is not this VM's"*) true ;; *) false ;; esac &&
			ok "an EK certificate naming another VM: tpm:quote ($reason), nothing pinned" ||
			bad "an EK certificate naming another VM: exit $orc, $reason"
		# The exact identity its EK certificate names, as recorded when the TPM was made.
		[ "$(cut -d: -f1 "$state/vmid")" = tpm-state ] && ok "the TPM state records its identity: $(cat "$state/vmid")" ||
			bad "no vmid recorded in $state: $(cat "$state/vmid" 2>&1)"
		attest_args=(--tpm-ek-ca "$work/ek-ca.pem" --tpm-ek-owner "$(cat "$state/vmid")")
	fi
	if [ "$case" = tpm-other-db-key ]; then
		"$probe" attest --json --socket "$sock" --expect-digest "$(jq -r .digest "$img/manifest.json")" --tpm-state "$state" \
			--tpm-uki "$work/sealed-uki.efi" --tpm-keys "$(jq -r .keys "$img/manifest.json")" >"$work/out.json" 2>>"$work/err" || rc=$?
		reason() { jq -r --arg l "$1" '.failed_links[]? | select(.link == $l) | .reason' "$work/out.json"; }
		case $(reason tpm:secure_boot) in
		*"db entry 1 is the certificate \"CN=sealcheck key not in db\""*"which the host enrolled"*)
			ok "tpm:secure_boot names the db certificate the host did not enroll: $(reason tpm:secure_boot)" ;;
		*) bad "tpm:secure_boot: $(reason tpm:secure_boot)" ;;
		esac
		case $(reason tpm:pcr4) in
		*"EFI application the host did not build, sha256 "*"where the sealed UKI"*) ok "tpm:pcr4 names the UKI that ran: $(reason tpm:pcr4)" ;;
		*) bad "tpm:pcr4: $(reason tpm:pcr4)" ;;
		esac
		case $(reason tpm:cmdline) in
		"not proven: rests on tpm:secure_boot"*) ok "tpm:cmdline is not proven: $(reason tpm:cmdline)" ;;
		*) bad "tpm:cmdline: $(reason tpm:cmdline)" ;;
		esac
		[ "$(jq -r '.tpm[] | select(.link == "tpm:quote") | .status' "$work/out.json")" = proven ] &&
			ok "the quote itself is genuine (the real TPM signed it)" || bad "tpm:quote did not verify"
	fi
	if [ "$case" != tpm-ak-unbound ] && [ "$case" != tpm-other-db-key ]; then
		"$probe" attest --json --socket "$sock" --expect-digest "$(jq -r .digest "$img/manifest.json")" --tpm-state "$state" \
			--tpm-uki "$work/sealed-uki.efi" --tpm-keys "$(jq -r .keys "$img/manifest.json")" "${attest_args[@]}" >"$work/out.json" 2>>"$work/err" || rc=$?
		grep -q "moved forward" "$work/out.json" && echo "ok - $case: the counters moved forward since run's quote" ||
			{ echo "not ok - $case: the counters link does not say they moved forward"; exit 1; }
	fi
	if [ "$case" = tpm-attest-activate ]; then
		grep -q "by credential activation now (pinned in ak.name)" "$work/out.json" && [ -s "$state/ak.name" ] &&
			echo "ok - $case: the AK was bound to the EK by activation and pinned" ||
			{ echo "not ok - $case: no activation: $(jq -c '.tpm' "$work/out.json")"; exit 1; }
		"$probe" attest --json --socket "$sock" --expect-digest "$(jq -r .digest "$img/manifest.json")" --tpm-state "$state" \
			--tpm-uki "$work/sealed-uki.efi" --tpm-keys "$(jq -r .keys "$img/manifest.json")" >"$work/out2.json" 2>>"$work/err" &&
			jq -e '.tpm[] | select(.link == "tpm:quote") | .reason | startswith("signed by the pinned AK")' "$work/out2.json" >/dev/null &&
			echo "ok - $case: the second attest compares the pinned Name" ||
			{ echo "not ok - $case: second attest: $(jq -c '.failed_links' "$work/out2.json")"; exit 1; }
	fi
else
	XDG_RUNTIME_DIR=$work "$probe" run --json --timeout "$timeout" "${args[@]}" "$img" >"$work/out.json" 2>"$work/err" || rc=$?
fi
if ! jq -e . "$work/out.json" >/dev/null 2>&1; then
	bad "probe printed invalid JSON"; cat "$work/out.json" "$work/err"; exit 1
fi
[ "$rc" = "$want_rc" ] && ok "exit $rc" || bad "exit $rc, want $want_rc ($(jq -c '.reason // .failed_links' "$work/out.json"))"
links=$(jq -r '[.tpm[]? | "\(.link)=\(.status)"] | join(" ")' "$work/out.json")
if [ "$want_rc" = 0 ]; then
	[ "$(jq -r '[.tpm[] | select(.status != "proven")] | length' "$work/out.json")" = 0 ] &&
		[ "$(jq -r '[.tpm[].link] | join(" ")' "$work/out.json")" = "tpm:binding tpm:quote tpm:eventlog tpm:secure_boot tpm:pcr4 tpm:pcr11 tpm:pcr9 tpm:pcr12 tpm:cmdline tpm:counters" ] &&
		ok "all 10 TPM links proven: $links" || bad "TPM links: $links"
	for l in tpm:secure_boot tpm:pcr4 tpm:pcr11 tpm:pcr9; do
		echo "# $l: $(jq -r --arg l "$l" '.tpm[] | select(.link == $l) | .reason' "$work/out.json")"
	done
	pcr11=$(jq -r '.tpm[] | select(.link == "tpm:pcr11") | .reason' "$work/out.json")
	case $case in
	tpm-systemd-sealed)
		# The guest has the TSS libraries systemd 252 dlopens: systemd-pcrphase extended PCR 11 past the
		# stub's sections, with one of systemd's boot phase paths (whichever the agent quoted at).
		echo "# quoted PCR 11: $(jq -r '[.. | objects | select(has("pcrs")) | .pcrs.sha256["11"]?] | first // "?"' "$work/out.json")"
		path=$(sed -n 's/.*then the phase path "\([a-z:-]*\)".*/\1/p' <<<"$pcr11")
		case $path in
		enter-initrd | enter-initrd:leave-initrd | enter-initrd:leave-initrd:sysinit | \
			enter-initrd:leave-initrd:sysinit:ready | sysinit | sysinit:ready)
			ok "PCR 11 holds systemd-pcrphase's words: the phase path $path" ;;
		*) bad "PCR 11 names no systemd boot phase path: $pcr11" ;;
		esac
		;;
	tpm-sealed)
		[[ $pcr11 == *"no phase words"* ]] && ok "PCR 11: no phase words (busybox init)" || bad "PCR 11: $pcr11"
		;;
	esac
	[ "$(jq -r .evidence "$work/out.json")" = tpm ] && ok "evidence: tpm" || bad "evidence: $(jq -r .evidence "$work/out.json")"
	if [ -n "$fixture_out" ]; then
		cp "$work/out.json" "$fixture_out"
		ok "wrote $fixture_out"
	fi
fi
if [ -n "$want_link" ]; then
	jq -e --arg l "$want_link" '.failed_links | map(.link) | index($l)' "$work/out.json" >/dev/null &&
		ok "names the broken link $want_link: $(jq -r --arg l "$want_link" '.failed_links[] | select(.link == $l) | .reason' "$work/out.json")" ||
		bad "failed links $(jq -c '[.failed_links[].link]' "$work/out.json") lack $want_link"
	[ "$(jq -r .evidence "$work/out.json")" = self-reported ] || bad "evidence is '$(jq -r .evidence "$work/out.json")' on a broken chain"
fi
if [ "$case" = tpm-ak-activate ]; then
	reason=$(jq -r '.tpm[] | select(.link == "tpm:quote") | .reason' "$work/out.json")
	case $reason in
	*"by credential activation now (pinned in ak.name)"*) ok "the AK was bound to the EK by activation: $reason" ;;
	*) bad "tpm:quote does not say the AK was activated: $reason" ;;
	esac
	[ "$(stat -c %s "$work/tpm-state/ak.name" 2>/dev/null)" = 34 ] && ok "the AK Name is pinned in ak.name" ||
		bad "no 34-byte ak.name pinned"
	# The second boot of this TPM state: the pinned Name, no activation.
	rc2=0
	XDG_RUNTIME_DIR=$work "$probe" run --json --timeout "$timeout" --tpm-state "$work/tpm-state" "$img" >"$work/out2.json" 2>>"$work/err" || rc2=$?
	reason2=$(jq -r '.tpm[]? | select(.link == "tpm:quote") | .reason' "$work/out2.json")
	[ "$rc2" = 0 ] && [ "$(jq -r '[.tpm[] | select(.status != "proven")] | length' "$work/out2.json")" = 0 ] &&
		ok "second boot: every link proven" || bad "second boot: exit $rc2, $(jq -c '.failed_links' "$work/out2.json")"
	case $reason2 in
	"signed by the pinned AK"*) ok "second boot compares the pinned Name: $reason2" ;;
	*) bad "second boot's tpm:quote: $reason2" ;;
	esac
fi
if [ "$case" = tpm-secure-boot-lie ]; then
	# The guest lied and its report says so. PCR 7 exposes it, and PCR 4 too: without Secure Boot,
	# OVMF measured a second EFI application after the sealed UKI: the stub started its embedded
	# kernel as an EFI image (its Authenticode digest is the .linux section's), which it does not
	# under Secure Boot (observed here with systemd-stub 252), and tpm:cmdline,
	# resting on both, is not proven. PCRs 9 and 11 are the sealed boot's.
	claim=$(jq -r '.report.checks.secure_boot | "\(.status): \(.reason)"' "$work/out.json")
	case $claim in
	pass:*) ok "the guest's report claims Secure Boot: $claim" ;;
	*) bad "the guest did not claim Secure Boot (the forged variables were not used): $claim" ;;
	esac
	failed=$(jq -r '[.failed_links[].link] | join(" ")' "$work/out.json")
	[ "$failed" = "tpm:secure_boot tpm:pcr4 tpm:cmdline" ] && ok "tpm:secure_boot, tpm:pcr4 and tpm:cmdline (its premise) fail, nothing else" ||
		bad "failed links: $failed (want tpm:secure_boot tpm:pcr4 tpm:cmdline)"
	case $(jq -r '.failed_links[]? | select(.link == "tpm:pcr4") | .reason' "$work/out.json") in
	*"did not expect ran after the sealed UKI"*"the sealed UKI's own .linux (its kernel) started as an EFI image") ok "tpm:pcr4 names the application after the sealed UKI: its own kernel" ;;
	*) bad "tpm:pcr4's reason: $(jq -r '.failed_links[]? | select(.link == "tpm:pcr4") | .reason' "$work/out.json")" ;;
	esac
	case $(jq -r '.failed_links[]? | select(.link == "tpm:cmdline") | .reason' "$work/out.json") in
	"not proven: rests on tpm:secure_boot"*) ok "tpm:cmdline is not proven, resting on tpm:secure_boot" ;;
	*) bad "tpm:cmdline's reason does not name its failed premise" ;;
	esac
	for l in tpm:quote tpm:eventlog tpm:pcr11 tpm:pcr9; do
		[ "$(jq -r --arg l "$l" '.tpm[] | select(.link == $l) | .status' "$work/out.json")" = proven ] ||
			bad "$l is not proven: the sealed UKI should boot unchanged"
	done
	case $(jq -r '.failed_links[]? | select(.link == "tpm:secure_boot") | .reason' "$work/out.json") in
	*SecureBoot*) ok "the reason names the SecureBoot variable the firmware measured" ;;
	*) bad "tpm:secure_boot's reason does not name SecureBoot" ;;
	esac
	# The same lie to a probe without the TPM: only the guest's word is left, and the verdict says so.
	XDG_RUNTIME_DIR=$work "$probe" run --json --timeout "$timeout" --firmware uefi-insecure --esp sblie "$img" \
		>"$work/plain.json" 2>>"$work/err" || true
	[ "$(jq -r '"\(.verdict) \(.evidence)"' "$work/plain.json")" = "sealed self-reported" ] &&
		ok "without the TPM the lie passes, labelled: verdict sealed, evidence self-reported (why --tpm matters)" ||
		bad "without the TPM: $(jq -c '{verdict, evidence, reason}' "$work/plain.json")"
fi
if [ "$case" = tpm-ek-other-ca ]; then
	case $(jq -r '.failed_links[]? | select(.link == "tpm:quote") | .reason' "$work/out.json") in
	*"does not chain"*) ok "the reason is the EK certificate's chain" ;;
	*) bad "tpm:quote fails for another reason than the chain" ;;
	esac
fi
# (run --keep keeps its work directory on purpose: stop_vm removes it.)
$attest_mode || { [ -z "$(ls -A "$work" | grep sealcheck-probe)" ] && ok "no work directory left" || bad "left behind: $(ls "$work")"; }
echo "# $case: $(jq -r '.seconds' "$work/out.json") s from connect to verdict; TPM links: $links"
exit $fail
