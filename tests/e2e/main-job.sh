#!/usr/bin/env bash
# The README's main job as a newcomer meets it: a fresh clone of this
# checkout's HEAD (committed state only), no build directory, scripts/demo.sh.
# It must exit 0 and print the probe's line "Verdict: SEALED". The clone and
# its demo image are removed afterwards.
#   tests/e2e/main-job.sh        (as root; scripts/run-tests.sh runs it)
# Prints "ok - main-job: ..." or "not ok - main-job: ..." and the demo's
# output; exit status 0 only when the verdict came.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
export SEALCHECK_CACHE=${SEALCHECK_CACHE:-$HOME/.cache/sealcheck}
work=$(mktemp -d "${TMPDIR:-/tmp}/sealcheck-main-job.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

bad() {
	echo "not ok - main-job: $*"
	[ -s "$work/out" ] && { echo "# scripts/demo.sh said (last 60 lines):"; tail -n 60 "$work/out" | sed 's/^/#   /'; }
	exit 1
}

commit=$(git -C "$src" rev-parse --short HEAD) || bad "$src is not a git checkout"
[ -z "$(git -C "$src" status --porcelain --untracked-files=no)" ] ||
	echo "# note: uncommitted changes in $src are not part of this run (it tests commit $commit)"
git clone --quiet --no-hardlinks "$src" "$work/sealcheck" || bad "git clone $src failed"
[ ! -e "$work/sealcheck/build" ] || bad "the fresh clone already has a build/ directory"

t0=$(date +%s)
rc=0
# Not a terminal: the demo prints no progress lines, only the probe's verdict.
# The probe's work folder (console log, vars copy) below $work too, so nothing is left behind.
mkdir -p "$work/run"
SEALCHECK_DEMO_IMAGE=$work/demo-image XDG_RUNTIME_DIR=$work/run "$work/sealcheck/scripts/demo.sh" </dev/null >"$work/out" 2>&1 || rc=$?
took=$(( $(date +%s) - t0 ))
[ "$rc" = 0 ] || bad "scripts/demo.sh exited $rc after ${took}s (want 0, sealed)"
# Exactly the probe's verdict line, not "Verdict: NOT SEALED" or a guest's echo.
n=$(grep -c -E '^Verdict: SEALED( |$)' "$work/out")
[ "$n" = 1 ] || bad "scripts/demo.sh exited 0 but printed $n lines 'Verdict: SEALED' (want exactly 1)"
echo "ok - main-job: fresh clone of $commit, scripts/demo.sh: $(grep -E '^Verdict: SEALED' "$work/out") in ${took}s"
sed 's/^/#   /' "$work/out"
