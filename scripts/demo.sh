#!/usr/bin/env bash
# The main job, for now: build sealcheck and check the seal of THIS machine,
# printing the verdict with the facts behind it. (Booting a sealed demo VM
# and attesting it from the host is the host-probe's job, still to come.)
#   scripts/demo.sh [sealcheck options, e.g. --json]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
scripts/install-deps.sh
if [ ! -e build/build.ninja ]; then
	meson setup build >/dev/null
fi
ninja -C build agent/sealcheck >/dev/null
rc=0
./build/agent/sealcheck "$@" || rc=$?
case $rc in
0) echo "(exit 0: sealed)" ;;
1) echo "(exit 1: not sealed; expected on a machine that is not a sealed bootc host)" ;;
*) echo "(exit $rc: could not determine)" ;;
esac
exit $rc
