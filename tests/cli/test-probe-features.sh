#!/usr/bin/env bash
# sealcheck-probe built with or without its optional rooms (meson options libvirt and metrics):
# without one, the options that need it are refused by name, exit 2, before anything starts;
# with it, they are accepted as far as parsing goes.
#   test-probe-features.sh PROBE HAVE_LIBVIRT HAVE_METRICS_HTTP   (each "true" or "false")
set -uo pipefail
probe=$1 have_libvirt=$2 have_metrics=$3
digest=$(printf 'a%.0s' {1..128})
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }

expect_refused() { # expect_refused WHAT MESSAGE ARGS...
	local what=$1 msg=$2
	shift 2
	timeout 20 "$probe" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ $rc -eq 2 ] && grep -qF "$msg" "$tmp/err" && [ ! -s "$tmp/out" ]; then
		ok "$what refused: $(head -c 200 "$tmp/err")"
	else
		bad "$what: exit $rc, stderr $(head -c 300 "$tmp/err"), stdout $(head -c 100 "$tmp/out")"
	fi
}
expect_not_refused() { # expect_not_refused WHAT MESSAGE ARGS...: whatever else happens, not for lack of the room
	local what=$1 msg=$2
	shift 2
	timeout 20 "$probe" "$@" >"$tmp/out" 2>"$tmp/err"
	if grep -qF "$msg" "$tmp/err"; then
		bad "$what refused though built in: $(head -c 200 "$tmp/err")"
	else
		ok "$what is built in"
	fi
}

if [ "$have_libvirt" = false ]; then
	expect_refused "run --libvirt" "built without libvirt" run --libvirt "$tmp/no-image"
	expect_refused "run --libvirt-uri" "built without libvirt" run --libvirt-uri qemu:///system "$tmp/no-image"
	expect_refused "watch --libvirt" "built without libvirt" watch --libvirt --expect-digest "$digest"
else
	expect_not_refused "run --libvirt" "built without libvirt" run --libvirt "$tmp/no-image"
	# --libvirt's optional argument: the next word when it is a URI (then no IMAGE_DIR is left),
	# --libvirt=URI, also before the verb; --tpm-state is refused once --libvirt was read.
	expect_refused "run --libvirt URI (two words)" "give one IMAGE_DIR" run --libvirt qemu:///system
	expect_refused "run --libvirt=URI" "is not offered with --libvirt" \
		run --libvirt=qemu:///system --tpm-state "$tmp/tpm" "$tmp/no-image"
	expect_refused "--libvirt=URI before the verb" "is not offered with --libvirt" \
		--libvirt=qemu:///system run --tpm-state "$tmp/tpm" "$tmp/no-image"
	expect_refused "run --libvirt IMAGE_DIR (not a URI)" "is not offered with --libvirt" \
		run --libvirt --tpm-state "$tmp/tpm" "$tmp/no-image"
fi
if [ "$have_metrics" = false ]; then
	expect_refused "watch --metrics-listen" "built without libmicrohttpd" \
		watch --socket-dir "$tmp" --expect-digest "$digest" --metrics-listen 127.0.0.1:0
else
	expect_not_refused "watch --metrics-listen" "built without libmicrohttpd" \
		watch --socket-dir "$tmp/missing" --expect-digest "$digest" --metrics-listen 127.0.0.1:0
fi
# attest and run are there either way.
for verb in attest run watch predict-pcr11; do
	"$probe" "$verb" --help >"$tmp/out" 2>&1 && grep -q "Usage: sealcheck-probe $verb" "$tmp/out" &&
		ok "$verb --help" || bad "$verb --help: $(head -c 200 "$tmp/out")"
done
[ $fails -eq 0 ]
