#!/usr/bin/env bash
# The sealed demo image the VM tests share: built once per sealcheck binary
# (under a lock, so tests running in parallel wait for one build).
#   tests/vm/sealed-image.sh SEALCHECK_BINARY OUT_DIR [busybox|systemd]   -> prints OUT_DIR when ready
# The systemd guest (a Debian root, the agent's real unit and udev rule) has
# only the sealed UKI; the negative cases use the faster busybox guest.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
sealcheck=$(readlink -f "$1")
out=$2
guest=${3:-busybox}
variants=insecure,noverity,wrongdigest,badkey,sblie
[ "$guest" = systemd ] && variants=""
mkdir -p "$out"
exec 9>"$out.lock"
flock 9
stamp=$( (echo "$guest"; sha256sum "$sealcheck" "$src/host-probe/builder/"* $(find "$src/units" -type f | sort)) | sha256sum | cut -c1-16)
if [ ! -e "$out/manifest.json" ] || [ "$(cat "$out/.stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$out"
	/usr/bin/python3 "$src/host-probe/builder/build-sealed-image.py" --sealcheck "$sealcheck" --out "$out" \
		--guest "$guest" --variants "$variants" >/dev/null
	echo "$stamp" >"$out/.stamp"
fi
echo "$out"
