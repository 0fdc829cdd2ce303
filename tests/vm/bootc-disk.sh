#!/usr/bin/env bash
# The bootc-shaped disk the bootc VM tests share, built once per sealcheck build
# (under a lock, so tests running in parallel wait for one build):
#   tests/vm/bootc-disk.sh BUILD_DIR OUT_DIR   -> prints OUT_DIR when ready
# First the container image (host-probe/builder/build-bootc-image.py: a Debian
# trixie root, systemd 257, the agent meson-installed), as an OCI layout in
# OUT_DIR/oci; then the disk installed from it by reference
# (host-probe/builder/build-bootc-disk.py): OUT_DIR/disk/{disk.raw,disk.qcow2,...}.
# Each step's seconds go to OUT_DIR/build-times.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(readlink -f "$1")
out=$2
mkdir -p "$out"
exec 9>"$out.lock"
flock 9
stamp=$( (sha256sum "$build/agent/sealcheck" "$build/host-probe/enable-verity" "$src/host-probe/builder/"* \
	$(find "$src/units" -type f | sort)) | sha256sum | cut -c1-16)
if [ ! -e "$out/disk/bootc-disk.json" ] || [ "$(cat "$out/.stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$out/oci" "$out/disk" "$out/.stamp"
	t0=$(date +%s.%N)
	ref=$(/usr/bin/python3 "$src/host-probe/builder/build-bootc-image.py" --build "$build" --layout "$out/oci" --name sealed-host:latest)
	t1=$(date +%s.%N)
	SEALCHECK_ENABLE_VERITY=$build/host-probe/enable-verity \
		/usr/bin/python3 "$src/host-probe/builder/build-bootc-disk.py" --image "$ref" --out "$out/disk" >/dev/null
	t2=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "image %.1f\ndisk %.1f\n", b - a, c - b }' >"$out/build-times"
	echo "$stamp" >"$out/.stamp"
fi
echo "$out"
