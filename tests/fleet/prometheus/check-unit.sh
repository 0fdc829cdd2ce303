#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The watch's unit (units/sealcheck-probe-watch.service.in) must pass
# systemd-analyze verify and stay hardened: an exposure of 2.0 or less
# (systemd-analyze security; 10 is worst), CAP_DAC_OVERRIDE its only capability,
# SIGHUP for reload, the state directory for --state-dir.
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
	'ProtectSystem=strict'; do
	if grep -qxF "$line" "$unit"; then
		echo "ok - $line"
	else
		echo "not ok - $line missing"; fail=1
	fi
done
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
