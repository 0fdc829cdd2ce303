#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The watch's unit (units/sealcheck-probe-watch.service.in) must pass
# systemd-analyze verify and stay hardened: an exposure of 2.0 or less
# (systemd-analyze security; 10 is worst), CAP_DAC_OVERRIDE its only capability,
# SIGHUP for reload, the state directory for --state-dir, IP with localhost only
# (IPAddressDeny=any, IPAddressAllow=localhost) and a MemoryMax= size.
#   check-unit.sh UNIT_FILE SEALCHECK_PROBE_BINARY
set -uo pipefail
unit=$1 probe=$(readlink -f "$2")
if ! command -v systemd-analyze >/dev/null; then
	echo "not ok - systemd-analyze is missing (install systemd)"; exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s|^ExecStart=[^ ]*|ExecStart=$probe|" "$unit" >"$work/sealcheck-probe-watch.service"
fail=0
if out=$(systemd-analyze verify --man=no "$work/sealcheck-probe-watch.service" 2>&1) && [ -z "$out" ]; then
	echo "ok - systemd-analyze verify"
else
	echo "not ok - systemd-analyze verify: $out"; fail=1
fi
score=$(systemd-analyze security --offline=yes "$work/sealcheck-probe-watch.service" 2>/dev/null |
	sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
	echo "ok - exposure $score <= 2.0"
else
	echo "not ok - exposure '${score:-?}' (want <= 2.0)"; fail=1
fi
for line in 'CapabilityBoundingSet=CAP_DAC_OVERRIDE' 'ExecReload=/bin/kill -HUP $MAINPID' 'StateDirectory=sealcheck' \
	'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'SystemCallFilter=@system-service' 'NoNewPrivileges=yes' \
	'ProtectSystem=strict' 'IPAddressDeny=any' 'IPAddressAllow=localhost'; do
	if grep -qxF "$line" "$unit"; then
		echo "ok - $line"
	else
		echo "not ok - $line missing"; fail=1
	fi
done
# A real memory bound: MemoryMax= a size (not infinity, not a percentage of whatever the host has).
if grep -qE '^MemoryMax=[0-9]+[KMG]$' "$unit"; then
	echo "ok - $(grep -E '^MemoryMax=' "$unit")"
else
	echo "not ok - MemoryMax= missing or not a size: $(grep -E '^MemoryMax=' "$unit" || echo none)"; fail=1
fi
# systemd's own reading of the file: what it would enforce.
props=$(systemd-analyze security --offline=yes "$work/sealcheck-probe-watch.service" 2>/dev/null)
if grep -q 'defines IP address allow list' <<<"$props"; then
	echo "ok - systemd-analyze security: IP address allow list"
else
	echo "not ok - systemd-analyze security does not see an IP allow list"; fail=1
fi
# The options the unit passes must be ones the probe takes: its --help names each.
help=$("$probe" watch --help)
for opt in --json --libvirt --policy --metrics-listen --textfile --state-dir; do
	if grep -q -- "$opt" <<<"$help"; then
		echo "ok - watch takes $opt"
	else
		echo "not ok - watch --help lacks $opt"; fail=1
	fi
done
exit $fail
