#!/usr/bin/env bash
# The main job: build sealcheck, build a sealed bootc system as its users have
# one (a container image, Debian trixie with systemd 257 and the agent, made an
# OCI image, then installed on one GPT disk as bootc install lays it out:
# systemd-boot and a signed systemd 257 UKI on the ESP, the composefs
# repository and the deployment's .origin on the root), boot it with Secure
# Boot keys enrolled and a TPM, and print the verdict the host probe reaches
# with a fresh nonce (`sealcheck-probe run --disk`).
#   scripts/demo.sh [--demo-image] [--no-tpm] [sealcheck-probe run options, e.g. --json]
# --demo-image boots the older, smaller demo image instead (a Debian 12 guest whose
# UKI is BOOTX64.EFI; its broken variants: --esp insecure, noverity, badkey, ...).
# The VM gets a TPM the host owns (--tpm), as bcvk gives every VM one, so the
# verdict rests on the TPM's evidence; --no-tpm boots without it (self-reported).
# Exit status is the probe's: 0 sealed, 1 not sealed, 2 no valid report.
# It builds into build/ of this checkout (all of it: the image builders use more
# than sealcheck and the probe) and puts the image and disk in $SEALCHECK_DEMO_IMAGE
# (default $SEALCHECK_CACHE/demo-bootc, or demo-image with --demo-image).
# tests/e2e/main-job.sh runs it from a fresh clone as part of scripts/run-tests.sh.
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
tpm=(--tpm)
args=()
mode=bootc
for a in "$@"; do
	case $a in
	--no-tpm) tpm=() ;;
	--demo-image) mode=demo ;;
	*) args+=("$a") ;;
	esac
done
if [ "$mode" = demo ]; then
	say "building the sealed demo image (install boot included; about 20 s)"
	image=$(tests/vm/sealed-image.sh build/agent/sealcheck "${SEALCHECK_DEMO_IMAGE:-$SEALCHECK_CACHE/demo-image}")
	say "booting it with Secure Boot and a TPM, and asking for a fresh attestation"
	exec build/host-probe/sealcheck-probe run "${tpm[@]}" "${args[@]}" "$image"
fi
say "building the container image and installing it on a bootc-shaped disk (the first time: a Debian trixie root, about 2 minutes)"
out=$(tests/vm/bootc-disk.sh build "${SEALCHECK_DEMO_IMAGE:-$SEALCHECK_CACHE/demo-bootc}")
keys=$(jq -r .keys "$out/disk/bootc-disk.json")
say "booting $out/disk/disk.qcow2 with Secure Boot (keys $keys) and a TPM, and asking for a fresh attestation"
exec build/host-probe/sealcheck-probe run --disk "$out/disk/disk.qcow2" --secure-boot-keys "$keys" "${tpm[@]}" "${args[@]}"
