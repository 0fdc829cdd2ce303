#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sealcheck-probe predict-pcr11 as a whole program on the fixture UKIs (tests/fixtures/uki):
# it prints exactly what systemd-measure calculate prints (live when systemd-measure is
# installed, else the value recorded by make-fixtures.sh), signed or not; exit 2 with a
# message naming the file and the problem for anything else.
set -u
probe=$1
fixtures=$2
measure=/usr/lib/systemd/systemd-measure
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# expect_ok WANT ARGS...: stdout exactly WANT, exit 0, nothing on stderr.
expect_ok() {
	local want=$1 out rc
	shift
	out=$("$probe" predict-pcr11 "$@" 2>"$work/err")
	rc=$?
	[ "$rc" -eq 0 ] || fail "predict-pcr11 $*: exit $rc ($(cat "$work/err"))"
	[ "$out" = "$want" ] || fail "predict-pcr11 $*: printed '$out', wanted '$want'"
	[ ! -s "$work/err" ] || fail "predict-pcr11 $*: stderr '$(cat "$work/err")'"
}

# expect_err MSG ARGS...: exit 2, nothing on stdout, MSG on stderr.
expect_err() {
	local msg=$1 out rc
	shift
	out=$("$probe" predict-pcr11 "$@" 2>"$work/err")
	rc=$?
	[ "$rc" -eq 2 ] || fail "predict-pcr11 $*: exit $rc, wanted 2"
	[ -z "$out" ] || fail "predict-pcr11 $*: printed '$out' on failure"
	grep -qF -- "$msg" "$work/err" || fail "predict-pcr11 $*: stderr '$(cat "$work/err")' lacks '$msg'"
}

uki=$fixtures/uki/uki-252.efi
newer=$fixtures/uki/uki-newer.efi

# The recorded values (real systemd-measure 252 for uki-252, the Python reference for uki-newer).
while read -r bank phases want; do
	p=$phases
	[ "$p" = - ] && p=
	expect_ok "$want" "$uki" --bank "$bank" --phase "$p"
done <"$fixtures/uki/uki-252.expect"
while read -r bank phases want; do
	p=$phases
	[ "$p" = - ] && p=
	expect_ok "$want" --phase="$p" --bank="$bank" "$newer"
done <"$fixtures/uki/uki-newer.expect"
# Defaults: sha256, no phase word.
expect_ok "$(awk '$1 == "sha256" && $2 == "-" { print $3 }' "$fixtures/uki/uki-252.expect")" "$uki"
expect_ok "$(awk '$1 == "sha256" && $2 == "-" { print $3 }' "$fixtures/uki/uki-252.expect")" "$newer" --stub 252

# Live: systemd-measure on the sections objcopy extracts from the same UKI.
if [ -x "$measure" ] && command -v objcopy >/dev/null; then
	args=()
	for s in linux osrel cmdline initrd; do
		objcopy -O binary --only-section=".$s" "$uki" "$work/$s" || fail "objcopy .$s"
		args+=("--$s=$work/$s")
	done
	for bank in sha1 sha256 sha384 sha512; do
		for phases in "" enter-initrd:leave-initrd sysinit:ready:shutdown:final; do
			want=$("$measure" calculate "${args[@]}" --bank="$bank" --phase="$phases" 2>/dev/null)
			expect_ok "$want" "$uki" --bank "$bank" --phase "$phases"
		done
	done
	want=$("$measure" calculate "${args[@]}" --bank=sha256 --phase= --json=short 2>/dev/null)
	expect_ok "$want" "$uki" --json
	echo "live systemd-measure: $("$measure" calculate "${args[@]}" --bank=sha256 --phase= 2>/dev/null)"
else
	echo "systemd-measure not installed: compared with the recorded values only"
fi

# Signed with sbsign (a certificate table at the end of the file): the same PCR 11.
if command -v sbsign >/dev/null && command -v openssl >/dev/null; then
	openssl req -new -x509 -newkey rsa:2048 -nodes -subj "/CN=sealcheck test/" -days 1 \
		-keyout "$work/db.key" -out "$work/db.crt" 2>/dev/null || fail "openssl req"
	sbsign --key "$work/db.key" --cert "$work/db.crt" --output "$work/signed.efi" "$uki" >/dev/null 2>&1 ||
		fail "sbsign"
	expect_ok "$(awk '$1 == "sha256" && $2 == "-" { print $3 }' "$fixtures/uki/uki-252.expect")" "$work/signed.efi"
fi

# Bad files: exit 2, the file and the problem named.
expect_err "$work/missing.efi: cannot read it: No such file or directory" "$work/missing.efi"
expect_err "$fixtures/uki/uki-252.expect: no DOS header" "$fixtures/uki/uki-252.expect"
head -c 400 "$uki" >"$work/short.efi"
expect_err "$work/short.efi: section table (12 sections) past the end of the file" "$work/short.efi"
head -c 80000 "$uki" >"$work/cut.efi"
expect_err "$work/cut.efi: COFF symbol table" "$work/cut.efi"
expect_err "linuxx64.efi.stub: no .linux section: not a UKI" /usr/lib/systemd/boot/efi/linuxx64.efi.stub
expect_err "$work: cannot read it" "$work"
# A file name with a control character is escaped, not sent to the terminal raw.
cp "$fixtures/uki/uki-252.expect" "$work/bad$(printf '\033')name"
expect_err '\x1b' "$work/bad$(printf '\033')name"

# Usage errors.
expect_err "give exactly one UKI file"
expect_err "give exactly one UKI file" "$uki" "$uki"
expect_err "--bank sha3: not sha1, sha256, sha384 or sha512" --bank sha3 "$uki"
expect_err "--bank sha1: given twice" --bank sha256 --bank sha1 "$uki"
expect_err 'phase word "bogus" is not one of' --phase enter-initrd:bogus "$uki"
expect_err 'phase word ""' --phase enter-initrd: "$uki"
expect_err "--phase given twice" --phase ready --phase ready "$uki"
expect_err "--stub 251: not auto or a systemd version from 252" --stub 251 "$uki"
expect_err "--expect-digest does not apply to predict-pcr11" --expect-digest 00 "$uki"
"$probe" predict-pcr11 --help >"$work/help" || fail "--help exit $?"
grep -q "^Usage: sealcheck-probe predict-pcr11 \[OPTIONS\] UKI" "$work/help" || fail "--help text"
"$probe" --help | grep -q "predict-pcr11" || fail "sealcheck-probe --help does not list predict-pcr11"

if [ "$failures" -ne 0 ]; then
	echo "$failures failure(s)"
	exit 1
fi
echo "predict-pcr11: all cases passed"
