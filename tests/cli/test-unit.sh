#!/usr/bin/env bash
# The agent's unit must pass systemd-analyze verify, and stay hardened:
# an exposure score of 2.0 or less (systemd-analyze security; 10 is worst).
#   tests/cli/test-unit.sh UNIT_FILE SEALCHECK_BINARY
set -uo pipefail
unit=$1 sealcheck=$(readlink -f "$2")
if ! command -v systemd-analyze >/dev/null; then
	echo "not ok - systemd-analyze is missing (install systemd)"; exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s|^ExecStart=[^ ]*|ExecStart=$sealcheck|" "$unit" >"$work/sealcheck-agent.service"
fail=0
if out=$(systemd-analyze verify --man=no "$work/sealcheck-agent.service" 2>&1); then
	echo "ok - systemd-analyze verify"
else
	echo "not ok - systemd-analyze verify: $out"; fail=1
fi
score=$(systemd-analyze security --offline=yes "$work/sealcheck-agent.service" 2>/dev/null |
	sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
	echo "ok - exposure $score <= 2.0"
else
	echo "not ok - exposure '${score:-?}' (want <= 2.0)"; fail=1
fi
# DevicePolicy=closed: the TPM must be allowed, or the agent sends no evidence under systemd.
if grep -qx 'DeviceAllow=/dev/tpmrm0 rw' "$unit" && grep -qx 'DevicePolicy=closed' "$unit"; then
	echo "ok - the TPM resource manager is the one extra device allowed"
else
	echo "not ok - DeviceAllow=/dev/tpmrm0 rw missing (the agent's TPM evidence needs it)"; fail=1
fi
exit $fail
