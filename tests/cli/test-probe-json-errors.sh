#!/usr/bin/env bash
# sealcheck-probe's exit status 2 said on stdout with --json (docs/sealcheck-probe.1, EXIT STATUS):
# a usage error or a missing digest policy is one sealcheck.probe.v1 object,
#   {"schema": "sealcheck.probe.v1", "verdict": null, "error": "usage" | "no-policy", "message": ...},
# the message the one said on stderr; without --json nothing is on stdout.
#   test-probe-json-errors.sh PROBE
set -uo pipefail
probe=$1
digest=$(printf 'a%.0s' {1..128})
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/socks"
fails=0
ok() { local m="$*"; echo "ok - ${m//[$'\001'-$'\037']/?}"; }
bad() { local m="$*"; echo "not ok - ${m//[$'\001'-$'\037']/?}"; fails=$((fails + 1)); }

# expect_json KIND ARGS...: exit 2, stdout exactly one object of that kind whose message is stderr's first line.
expect_json() {
	local kind=$1
	shift
	timeout 20 "$probe" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ $rc -ne 2 ]; then
		bad "$*: exit $rc, want 2 ($(head -c 300 "$tmp/err"))"
		return
	fi
	if python3 -c '
import json, sys
kind, out, err = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read()
doc = json.loads(out)  # the whole of stdout: one document, nothing before or after it
assert isinstance(doc, dict), doc
assert set(doc) == {"schema", "verdict", "error", "message"}, sorted(doc)
assert doc["schema"] == "sealcheck.probe.v1", doc
assert doc["verdict"] is None, doc
assert doc["error"] == kind, doc
first = err.splitlines()[0]
prefix = first.split(": ", 1)[0]
assert prefix.startswith("sealcheck-probe "), first
assert doc["message"] and first == prefix + ": " + doc["message"], (first, doc["message"])
' "$kind" "$tmp/out" "$tmp/err"; then
		ok "$* -> error $kind: $(head -n 1 "$tmp/err" | head -c 160)"
	else
		bad "$*: stdout $(head -c 400 "$tmp/out"), stderr $(head -c 300 "$tmp/err")"
	fi
}

# expect_quiet ARGS...: exit 2, nothing on stdout, a message on stderr.
expect_quiet() {
	timeout 20 "$probe" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ $rc -eq 2 ] && [ ! -s "$tmp/out" ] && [ -s "$tmp/err" ]; then
		ok "$* -> nothing on stdout"
	else
		bad "$*: exit $rc, stdout $(head -c 300 "$tmp/out"), stderr $(head -c 300 "$tmp/err")"
	fi
}

sock=$tmp/vm.sock
# Usage errors.
expect_json usage attest --json
expect_json usage attest --json --socket "$sock" --bogus
expect_json usage attest --socket "$sock" --expect-digest "$digest" --interval 5 --json
expect_json usage attest --socket "$sock" --expect-digest abc --json
expect_json usage attest --socket "$sock" --expect-digest "$digest" --tpm-ak sometimes --json
expect_json usage attest --socket "$sock" --expect-digest "$digest" --timeout 0 --json
expect_json usage run --json
expect_json usage run --json --firmware floppy "$tmp/img"
expect_json usage run --json --tpm-ek-ca "$tmp/ca.pem" "$tmp/img"
expect_json usage run --json --disk "$tmp/img" "$tmp/img"
expect_json usage run --json --disk /nonexistent/disk.raw --secure-boot-keys "$tmp"
expect_json usage run --json --disk "$tmp/img" --esp insecure
expect_json usage run --json --disk "$tmp/img" --libvirt=test:///default
expect_json usage watch --json --expect-digest "$digest"
expect_json usage watch --json --socket-dir "$tmp/socks" --expect-digest "$digest" --vm x
expect_json usage watch --json --socket-dir "$tmp/socks" --expect-digest "$digest" --events some
expect_json usage watch --json --socket-dir "$tmp/socks" --expect-digest "$digest" extra
# No policy.
expect_json no-policy attest --json --socket "$sock"
expect_json no-policy attest --socket "$sock" --policy "$tmp/missing.json" --json
expect_json no-policy attest --socket "$sock" --policy "$tmp/missing.json" --expect-digest "$digest" --json
expect_json no-policy watch --json --socket-dir "$tmp/socks"
expect_json no-policy watch --json --socket-dir "$tmp/socks" --policy "$tmp/missing.json"
expect_json no-policy watch --json --socket-dir "$tmp/socks" --policy "$tmp/missing.json" --expect-digest "$digest"
# A name with a terminal escape: escaped in the message, the document still valid JSON.
expect_json no-policy attest --socket "$sock" --policy "$tmp/bad$(printf '\033')]0;x$(printf '\a').json" --json
grep -qF '\\x1b]0;x\\x07' "$tmp/out" && ! grep -q "$(printf '\033')" "$tmp/out" "$tmp/err" &&
	ok "the escape is escaped in the message" || bad "the escape: $(od -c "$tmp/out" | head -5)"
# --json before the verb, and abbreviated as getopt_long() takes it.
expect_json no-policy --json attest --socket "$sock"
expect_json no-policy attest --socket "$sock" --js
# The same without --json: nothing on stdout.
expect_quiet attest
expect_quiet attest --socket "$sock" --bogus
expect_quiet attest --socket "$sock"
expect_quiet run
expect_quiet watch --socket-dir "$tmp/socks"
expect_quiet watch --expect-digest "$digest"
# "--json" as the argument of --policy is a file name, not the option.
expect_quiet attest --socket "$sock" --policy --json
# predict-pcr11's --json is systemd-measure's document: its errors print nothing on stdout.
expect_quiet predict-pcr11 --json --bank sha3 "$tmp/uki.efi"
expect_quiet predict-pcr11 --json

# --help is no error, with or without --json: the verb's usage, exit 0.
for verb in run attest watch; do
	"$probe" "$verb" --json --help >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ $rc -eq 0 ] && grep -q "^Usage: sealcheck-probe $verb" "$tmp/out" && grep -q "^Exit status:" "$tmp/out" &&
		ok "$verb --json --help" || bad "$verb --json --help: exit $rc, $(head -c 200 "$tmp/out")"
done
[ $fails -eq 0 ]
