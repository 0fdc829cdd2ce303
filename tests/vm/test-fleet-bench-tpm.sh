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

# The UKI watch keeps (read once, again on SIGHUP): two simulated TPM guests SEALED with every link
# proven; the UKI file replaced by one that is no UKI, then SIGHUP: never trusted from memory, both
# NOT SEALED naming the UKI's links; a readable UKI back and SIGHUP: SEALED again.
SRC=$vm_srcdir /usr/bin/python3 - "$probe" "$work" <<'PY' || exit 1
import json, os, shutil, signal, subprocess, sys, time
probe, work = sys.argv[1], sys.argv[2]
cap = os.path.join(work, "capture")
run = os.path.join(work, "uki-sighup")
socks, state = os.path.join(run, "socks"), os.path.join(run, "state")
os.makedirs(socks); os.mkdir(state, 0o700)
uki = os.path.join(run, "sealed.efi")
shutil.copy(os.path.join(cap, "uki.efi"), uki)
digest = json.load(open(os.path.join(cap, "report.json")))["checks"]["root_mount"]["digest"]
sim = subprocess.Popen(["/usr/bin/python3", os.path.join(os.environ.get("SRC", "."), "tests/fleet/sim_guests.py"),
                        "--dir", socks, "--guests", "tpm:2", "--template", os.path.join(cap, "report.json"),
                        "--tpm-evidence", os.path.join(cap, "evidence.json"), "--tpm-state", state],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert sim.stdout.readline().startswith("ready"), "the simulator did not start"
out = open(os.path.join(run, "watch.out"), "w")
w = subprocess.Popen([probe, "watch", "--socket-dir", socks, "--expect-digest", digest, "--interval", "1",
                      "--events", "all", "--json", "--state-dir", state, "--tpm-uki", uki, "--tpm-keys",
                      os.path.join(cap, "keys")], stdout=out, stderr=subprocess.PIPE, text=True)
def rounds():
    with open(os.path.join(run, "watch.out")) as f:
        return [json.loads(l) for l in f if l.strip() and json.loads(l).get("event") in ("round", "change")]
def wait(what, pred, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = [d for d in rounds() if d.get("verdict")]
        if pred(r):
            return r
        time.sleep(0.2)
    print("not ok - %s" % what); w.kill(); sim.kill(); sys.exit(1)
fails = lambda d: {l["link"] for l in d.get("tpm_links") or () if l["status"] != "proven"}
try:
    r = wait("both TPM guests SEALED by the TPM", lambda r: {d["vm"] for d in r if d["verdict"] == "sealed" and d["evidence"] == "tpm"} == {"tpm-0000", "tpm-0001"})
    print("ok - two simulated TPM guests SEALED with every link proven")
    with open(uki, "wb") as f:
        f.write(b"revoked: not a UKI")
    n = len(r)
    w.send_signal(signal.SIGHUP)
    r = wait("NOT SEALED after the UKI broke", lambda r: {d["vm"] for d in r[n:] if d["verdict"] == "unsealed" and "tpm:pcr4" in fails(d)} == {"tpm-0000", "tpm-0001"})
    late = [d for d in r[n:] if d["verdict"] == "sealed"]
    bad = [d for d in r[n:] if d["verdict"] == "unsealed"][-1]
    want = {"tpm:secure_boot", "tpm:pcr4", "tpm:pcr11", "tpm:pcr9", "tpm:cmdline"}
    if not want <= fails(bad):
        print("not ok - the UKI's links did not all fail: %s" % sorted(fails(bad))); sys.exit(1)
    print("ok - the UKI broken and SIGHUP: NOT SEALED, failing %s (%d rounds SEALED before the reload took)" % (sorted(fails(bad)), len(late)))
    shutil.copy(os.path.join(cap, "uki.efi"), uki)
    n = len(r)
    w.send_signal(signal.SIGHUP)
    wait("SEALED again", lambda r: {d["vm"] for d in r[n:] if d["verdict"] == "sealed" and d["evidence"] == "tpm"} == {"tpm-0000", "tpm-0001"})
    print("ok - the UKI back and SIGHUP: SEALED again")
finally:
    w.send_signal(signal.SIGTERM)
    err = w.communicate(timeout=20)[1]
    sim.stdin.close(); sim.wait(timeout=20)
if "SIGHUP: the sealed UKI cannot be read: " + uki not in err:
    print("not ok - stderr does not say the UKI could not be read: %r" % err[-300:]); sys.exit(1)
PY
