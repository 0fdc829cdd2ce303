#!/usr/bin/env bash
# The main job: build sealcheck, build a sealed demo image (composefs root,
# signed UKI, Secure Boot keys enrolled), boot it under QEMU and print the
# attestation verdict the host probe reaches with a fresh nonce.
#   scripts/demo.sh [sealcheck-probe run options, e.g. --json or --firmware uefi-insecure]
# The VM gets a TPM the host owns (--tpm), as bcvk gives every VM one, so the
# verdict rests on the TPM's evidence; --no-tpm boots without it (self-reported).
# Exit status is the probe's: 0 sealed, 1 not sealed, 2 no valid report.
# It builds into build/ of this checkout (all of it: the image builder uses more
# than sealcheck and the probe) and puts the image in $SEALCHECK_DEMO_IMAGE
# (default $SEALCHECK_CACHE/demo-image). tests/e2e/main-job.sh runs it from a
# fresh clone as part of scripts/run-tests.sh.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
export SEALCHECK_CACHE=${SEALCHECK_CACHE:-$HOME/.cache/sealcheck}
tty=false
[ -t 1 ] && tty=true
say() { if $tty; then printf '\033[1m==> %s\033[0m\n' "$*"; fi; }

if [ "$(id -u)" != 0 ]; then
	echo "demo: run as root (building the image sets trusted.* xattrs; QEMU needs no more)" >&2
	exit 2
fi
say "installing missing packages"
scripts/install-deps.sh
say "building sealcheck"
# Quiet unless it fails; then the last lines say why.
quiet() {
	local log rc=0
	log=$(mktemp)
	"$@" >"$log" 2>&1 || rc=$?
	[ "$rc" = 0 ] || { tail -n 40 "$log" >&2; echo "demo: '$*' failed (exit $rc)" >&2; }
	rm -f "$log"
	[ "$rc" = 0 ] || exit 2
}
[ -e build/build.ninja ] || quiet meson setup build -Dvm_tests=enabled
# Everything: build-sealed-image.py also runs build/host-probe/enable-verity in the install boot.
quiet ninja -C build
say "fetching the guest kernel and virt-firmware (cached in $SEALCHECK_CACHE)"
scripts/fetch-guest-kernel.sh >/dev/null
export PYTHONPATH
PYTHONPATH=$(scripts/fetch-guest-kernel.sh --virt-firmware)${PYTHONPATH:+:$PYTHONPATH}
say "building the sealed demo image (install boot included; about 20 s)"
image=$(tests/vm/sealed-image.sh build/agent/sealcheck "${SEALCHECK_DEMO_IMAGE:-$SEALCHECK_CACHE/demo-image}")
say "booting it with Secure Boot and a TPM, and asking for a fresh attestation"
tpm=(--tpm)
args=()
for a in "$@"; do
	if [ "$a" = --no-tpm ]; then tpm=(); else args+=("$a"); fi
done
exec build/host-probe/sealcheck-probe run "${tpm[@]}" "${args[@]}" "$image"
