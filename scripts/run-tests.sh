#!/usr/bin/env bash
# Every test of the project, from a fresh checkout:
#   1. the main build (gcc): unit, whole-program (cli), fuzz corpus replay, VM tests;
#   2. an ASan+UBSan build: unit, cli, probe (without the fleet bench and soak smokes) and fuzz replay
#      under sanitizers;
#   3. a build without libvirt and libmicrohttpd (meson -Dlibvirt=disabled -Dmetrics=disabled): the probe
#      builds, its libraries keep their prefixes, and it refuses --libvirt and --metrics-listen by name;
#   4. a clang libFuzzer build: each fuzzer runs FUZZ_SECONDS (default 20) from its corpus;
#   5. the main job (tests/e2e/main-job.sh): scripts/demo.sh from a fresh clone of HEAD must say SEALED.
# Ends with one line "N passed, N failed, N skipped" over all of them; exit status 0 only if none
# failed. A skipped test is not a passed one: the count says how many did not run.
#   scripts/run-tests.sh
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
export SEALCHECK_CACHE=${SEALCHECK_CACHE:-$HOME/.cache/sealcheck}

step() { printf '\n== %s\n' "$*"; }
passed=0 failed=0 skipped=0
summary() { echo "$passed passed, $failed failed, $skipped skipped"; }

count_meson() { # count_meson BUILDDIR: add its testlog.json results to the totals
	local p f s
	read -r p f s < <(python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
ok = bad = skip = 0
try:
    for line in open(sys.argv[1]):
        t = json.loads(line)
        r = t["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            ok += 1
        elif r == "SKIP":
            skip += 1
            print("skipped:", t["name"], file=sys.stderr)
        else:
            bad += 1
except FileNotFoundError:
    bad += 1
print(ok, bad, skip)
PY
)
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

step "dependencies"
scripts/install-deps.sh || { failed=1; summary; exit 1; }
step "guest kernel (for the VM tests)"
scripts/fetch-guest-kernel.sh >/dev/null || echo "fetching the guest kernel failed: the VM tests will fail"
# sealcheck-probe run enrols the Secure Boot key directory with virt-fw-vars at every boot.
scripts/fetch-guest-kernel.sh --virt-firmware >/dev/null || echo "fetching python3-virt-firmware failed: run's tests will fail"

step "main build (gcc): unit, cli, fuzz replay, vm"
rm -rf build-ci
if meson setup build-ci -Dvm_tests=enabled >build-ci.log 2>&1 && ninja -C build-ci >>build-ci.log 2>&1; then
	meson test -C build-ci --print-errorlogs --num-processes 2
	count_meson build-ci
else
	tail -n 40 build-ci.log; failed=$((failed + 1))
fi

step "ASan+UBSan build: unit, cli, probe (but the fleet bench and soak smokes), fuzz replay"
rm -rf build-asan
if meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dvm_tests=disabled \
	>build-asan.log 2>&1 && ninja -C build-asan >>build-asan.log 2>&1; then
	# The cli tests preload the fake fs-verity shim, which comes after the ASan runtime.
	# Suite bench (fleet-bench-smoke, fleet-soak-smoke: a fixed 20 s soak and three bench scenarios of
	# the main build's probe suite) is left out: under the sanitizers they rerun the watch's paths the
	# watch-* cases already drive here (every hostile class, churn, stale, reconnect), only longer.
	ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --print-errorlogs --num-processes 2 --suite unit --suite cli --suite probe --suite fuzz \
		--no-suite bench
	count_meson build-asan
else
	tail -n 40 build-asan.log; failed=$((failed + 1))
fi

step "without libvirt and libmicrohttpd: run, attest and watch build, and refuse what they lack by name"
rm -rf build-min
if meson setup build-min -Dlibvirt=disabled -Dmetrics=disabled -Dvm_tests=disabled >build-min.log 2>&1 &&
	ninja -C build-min >>build-min.log 2>&1; then
	meson test -C build-min --print-errorlogs --num-processes 2 library-symbols probe-features predict-pcr11 \
		probe-good probe-other-digest
	count_meson build-min
else
	tail -n 40 build-min.log; failed=$((failed + 1))
fi

step "libFuzzer (clang): ${FUZZ_SECONDS}s per target"
# The targets are every fuzz-* executable meson defines (tests/fuzz/meson.build), never a copy of
# that list: a new fuzzer is fuzzed here as soon as it is registered there.
fuzz_names() { # fuzz_names BUILDDIR: the names after "fuzz-", one a line
	meson introspect --targets "$1" | python3 -c '
import json, sys
names = [t["name"][len("fuzz-"):] for t in json.load(sys.stdin)
         if t["type"] == "executable" and t["name"].startswith("fuzz-")]
print("\n".join(sorted(names)))
sys.exit(0 if names else 1)'
}
fuzz_targets=()
rm -rf build-fuzz
if CC=clang meson setup build-fuzz -Dfuzzers=enabled -Dvm_tests=disabled -Db_lundef=false >build-fuzz.log 2>&1 &&
	fuzz_list=$(fuzz_names build-fuzz 2>>build-fuzz.log) && mapfile -t fuzz_targets <<<"$fuzz_list" &&
	echo "fuzz targets (${#fuzz_targets[@]}): ${fuzz_targets[*]}" &&
	ninja -C build-fuzz "${fuzz_targets[@]/#/tests/fuzz/fuzz-}" >>build-fuzz.log 2>&1; then
	for t in "${fuzz_targets[@]}"; do
		work=$(mktemp -d)
		# EROFS images are made of 4 KiB blocks: room for a few.
		# A session's input carries whole reports (a few KiB each, in pieces).
		case $t in erofs | verify) max_len=65536 ;; session | evidence) max_len=32768 ;; *) max_len=8192 ;; esac
		if build-fuzz/tests/fuzz/fuzz-$t -max_total_time="$FUZZ_SECONDS" -max_len="$max_len" -print_final_stats=1 \
			"$work" "tests/fuzz/corpus/$t" >"build-fuzz/fuzz-$t.log" 2>&1; then
			echo "ok - fuzz-$t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/fuzz-$t.log" | awk '{print $2}') runs, no crash"
			passed=$((passed + 1))
		else
			echo "not ok - fuzz-$t crashed:"; tail -n 30 "build-fuzz/fuzz-$t.log"
			failed=$((failed + 1))
		fi
		rm -rf "$work"
	done
else
	tail -n 40 build-fuzz.log; failed=$((failed + 1))
fi

step "the main job from a fresh clone: scripts/demo.sh must say SEALED"
if tests/e2e/main-job.sh; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi

echo
summary
[ "$failed" -eq 0 ]
