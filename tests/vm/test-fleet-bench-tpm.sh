#!/usr/bin/env bash
# The fleet benchmark's TPM rows, small (fleet-bench.py --smoke --check --scenarios t1,t10): one real
# sealed TPM boot captured (tests/bench/tpm-capture.sh), then simulated guests answering every nonce
# with a fresh quote over that boot's event log and PCRs, each verified link by link by watch
# (--state-dir, --tpm-uki, --tpm-keys). Fails only on correctness (an honest report lost, a TPM round
# SEALED without every link proven, output that does not parse), never on timing.
#   tests/vm/test-fleet-bench-tpm.sh SEALCHECK SEALCHECK_PROBE IMAGE_CACHE_DIR
VM_TEST_NAME=test-fleet-bench-tpm
. "$(dirname "$0")/lib.sh"
sealcheck=$1 probe=$(readlink -f "$2") cache=$3
vm_need qemu-system-x86_64 jq swtpm swtpm_setup tpm2_createprimary mcopy
work=$(mktemp -d "${TMPDIR:-/tmp}/sealcheck-fleet-tpm.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$vm_srcdir/tests/bench/tpm-capture.sh" "$sealcheck" "$probe" "$cache" "$work/capture" >/dev/null ||
	{ echo "not ok - the TPM capture"; exit 1; }
echo "ok - a sealed TPM boot captured"
if /usr/bin/python3 "$vm_srcdir/tests/bench/fleet-bench.py" --probe "$probe" --smoke --check --scenarios t1,t10 \
	--tpm-capture "$work/capture" --tmp "$work" >"$work/out" 2>&1; then
	echo "ok - t1 and t10: every TPM round of every simulated guest SEALED with every link proven, none lost"
	sed 's/^/# /' "$work/out"
else
	echo "not ok - fleet-bench t1,t10"
	cat "$work/out"
	exit 1
fi
