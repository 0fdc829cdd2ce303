#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# promtool on what the fleet exports (docs/metrics.md):
#   promtool-check.sh metrics TEST-METRICS N   N synthetic VMs rendered by test-metrics --dump: parsed and linted
#   promtool-check.sh rules FILE               the alert rules: promtool check rules
#   promtool-check.sh test-rules FILE          their unit tests: promtool test rules
# Exit 77 (skip) only when promtool itself is missing, and it says so.
set -eu
if ! command -v promtool >/dev/null 2>&1; then
	echo "SKIP: promtool not installed (Debian package prometheus, scripts/install-deps.sh)"
	exit 77
fi
case "$1" in
metrics)
	tmp=$(mktemp)
	trap 'rm -f "$tmp"' EXIT
	"$2" --dump "$3" >"$tmp"
	echo "$(wc -l <"$tmp") lines, $(wc -c <"$tmp") bytes for $3 VMs"
	# promtool exits 1 on a parse error and 3 on a lint problem; either fails the test.
	out=$(promtool check metrics <"$tmp" 2>&1) || { echo "$out"; exit 1; }
	if [ -n "$out" ]; then echo "$out"; exit 1; fi
	echo "promtool check metrics: no problem"
	;;
rules)
	promtool check rules "$2"
	;;
test-rules)
	cd "$(dirname "$2")"
	promtool test rules "$(basename "$2")"
	;;
*)
	echo "usage: $0 metrics TEST-METRICS N | rules FILE | test-rules FILE" >&2
	exit 2
	;;
esac
