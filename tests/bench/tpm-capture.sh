#!/usr/bin/env bash
# A real TPM boot's evidence for the fleet benchmark's t1/t10 (tests/bench/fleet-bench.py --tpm-capture):
# the sealed demo image booted once under `sealcheck-probe run --tpm` (OVMF Secure Boot, swtpm, the
# signed UKI, the agent quoting through tpm2-tss: tests/vm/test-tpm.sh tpm-sealed), then into OUT_DIR
#   evidence.json  the E frame's document (event log, userspace log, quoted PCRs)
#   report.json    the report bytes that quote bound (its digest is the policy's)
#   uki.efi        the sealed UKI that boot ran (EFI/BOOT/BOOTX64.EFI of the image's ESP)
#   keys/          the key directory enrolled: PK.crt, KEK.crt, db.crt, GUID.txt (no private keys)
#   tests/bench/tpm-capture.sh SEALCHECK SEALCHECK_PROBE IMAGE_CACHE_DIR OUT_DIR
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
sealcheck=$1 probe=$2 cache=$3 out=$4
for t in jq mcopy; do
	command -v "$t" >/dev/null || { echo "tpm-capture: $t is missing (scripts/install-deps.sh)" >&2; exit 2; }
done
mkdir -p "$out/keys"
"$src/tests/vm/test-tpm.sh" "$sealcheck" "$probe" "$cache" tpm-sealed "$out/run.json" >"$out/boot.log" 2>&1 ||
	{ echo "tpm-capture: the sealed TPM boot failed:" >&2; cat "$out/boot.log" >&2; exit 1; }
jq -e .tpm_evidence "$out/run.json" >"$out/evidence.json"
jq -er .report_base64 "$out/run.json" | base64 -d >"$out/report.json"
img=$("$src/tests/vm/sealed-image.sh" "$sealcheck" "$cache")
mcopy -o -i "$img/esp.img" ::/EFI/BOOT/BOOTX64.EFI "$out/uki.efi"
keys=$(jq -r .keys "$img/manifest.json")
cp "$keys/PK.crt" "$keys/KEK.crt" "$keys/db.crt" "$keys/GUID.txt" "$out/keys/"
rm -f "$out/run.json"
echo "$out"
