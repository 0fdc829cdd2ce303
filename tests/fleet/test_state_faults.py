#!/usr/bin/env python3
"""sealcheck-probe watch with faults planted in its TPM state dir (--state-dir), one case a run.

    test_state_faults.py --probe BIN CASE      (--list: the cases)

The probe runs as root: a symlink planted as a VM's folder or its ak.name, or a
folder someone else may write to, must make that VM's TPM link fail (tpm:evidence,
with the reason, and a log line), never be followed: what it points at keeps its
content and mtime, and nothing is made beside it. A --state-dir that is itself a
symlink is refused at startup (exit 2). The watch and the simulated guests are
test_watch.py's; every wait is a condition with a deadline.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_watch import DIGEST, FIXTURES, Fail, Sim, Watch, check, links, run_cases  # noqa: E402

PAST = 1000000000  # an mtime long past: a write, truncation or touch shows


def victim(tmp):
    """OUT/ with files a planted symlink points at: (dir, {name: bytes})."""
    out = os.path.join(tmp, "elsewhere")
    os.makedirs(out)
    files = {"ak.name": b"\x00\x0b" + bytes(range(32)), "quote-counters": b"5 0 0\n", "victim": b"keep me\n"}
    for name, data in files.items():
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (PAST, PAST))
    return out, files


def untouched(out, files):
    check(sorted(os.listdir(out)) == sorted(files), "%s holds %s, expected only %s" % (out, os.listdir(out),
                                                                                      sorted(files)))
    for name, data in files.items():
        path = os.path.join(out, name)
        with open(path, "rb") as f:
            check(f.read() == data, "%s was written" % path)
        check(int(os.lstat(path).st_mtime) == PAST, "%s was touched (mtime %s)" % (path, os.lstat(path).st_mtime))


def watch_args(sim, state):
    return ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1", "--timeout", "2", "--events", "all",
            "--state-dir", state, "--tpm-uki", os.path.join(FIXTURES, "uki", "uki-252.efi"),
            "--tpm-keys", os.path.join(FIXTURES, "evidence")]


def refused(probe, tmp, plant, expect):
    """honest-0001's state planted by plant(state, out); its TPM link fails saying expect; honest-0000 (no
    folder) stays self-reported SEALED; the planted target is untouched."""
    sim = Sim(tmp, "honest:2")
    state = os.path.join(tmp, "state")
    os.makedirs(state, mode=0o700)
    out, files = victim(tmp)
    plant(state, out)
    w = Watch(probe, watch_args(sim, state))
    try:
        w.wait("both judged", lambda: all("honest-%04d" % i in w.latest() for i in range(2)), timeout=20)
        # Two rounds of the faulty VM at least: every round refuses, none writes.
        w.wait("a second round", lambda: sum(1 for d in w.snapshot() if d.get("vm") == "honest-0001" and
                                             d["event"] in ("change", "round")) >= 2, timeout=20)
        plain, tpm = w.latest()["honest-0000"], w.latest()["honest-0001"]
        check(plain["verdict"] == "sealed" and not plain["tpm"] and plain["evidence"] == "self-reported",
              "plain: %s" % json.dumps(plain)[:300])
        reasons = [x.get("reason", "") for x in tpm.get("failed_links", []) if x["link"] == "tpm:evidence"]
        check(tpm["tpm"] and tpm["verdict"] == "unsealed" and "tpm:evidence" in links(tpm) and
              any(expect in r for r in reasons), "the refused VM: %s" % json.dumps(tpm)[:500])
        w.wait("the log says it", lambda: "honest-0001: the VM's TPM state is refused" in w.stderr() and
               expect in w.stderr(), timeout=10)
        check(w.stderr().count("honest-0001: the VM's TPM state is refused") == 1,
              "said once, not every round: %s" % w.stderr()[-600:])
    finally:
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s" % rc)
    untouched(out, files)


def case_vm_symlink(probe, tmp):
    """DIR/<vm> a symlink to a folder holding an ak.name and quote-counters: not followed."""
    refused(probe, tmp, lambda state, out: os.symlink(out, os.path.join(state, "honest-0001")),
            "honest-0001: a symbolic link")


def case_pin_symlink(probe, tmp):
    """DIR/<vm>/ak.name a symlink to a Name elsewhere: never read as the pin, never pinned through."""
    def plant(state, out):
        os.makedirs(os.path.join(state, "honest-0001"), mode=0o700)
        os.symlink(os.path.join(out, "ak.name"), os.path.join(state, "honest-0001", "ak.name"))
        os.symlink(os.path.join(out, "quote-counters"), os.path.join(state, "honest-0001", "quote-counters"))
        os.symlink(os.path.join(out, "victim"), os.path.join(state, "honest-0001", "quote-counters.new"))
    refused(probe, tmp, plant, "ak.name: a symbolic link")


def case_vm_writable(probe, tmp):
    """DIR/<vm> writable by others (anyone could have planted its files): refused."""
    def plant(state, out):
        vm = os.path.join(state, "honest-0001")
        os.makedirs(vm)
        with open(os.path.join(vm, "ak.name"), "wb") as f:
            f.write(b"\x00\x0b" + bytes(range(32)))
        os.chmod(vm, 0o777)
    refused(probe, tmp, plant, "writable by group or others")


def case_dir_symlink(probe, tmp):
    """--state-dir itself a symlink: refused at startup, exit 2, naming it; nothing made at its target."""
    sim = Sim(tmp, "honest:1")
    out, files = victim(tmp)
    state = os.path.join(tmp, "state")
    os.symlink(out, state)
    try:
        p = subprocess.run([probe, "watch"] + watch_args(sim, state), capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        raise Fail("watch ran on with --state-dir a symlink (no exit within 20 s)")
    finally:
        sim.stop()
    check(p.returncode == 2, "exit %s, expected 2; stderr %s" % (p.returncode, p.stderr))
    check(state + ": a symbolic link" in p.stderr, "stderr %r" % p.stderr)
    untouched(out, files)


CASES = {
    "vm-symlink": case_vm_symlink,
    "pin-symlink": case_pin_symlink,
    "vm-writable": case_vm_writable,
    "dir-symlink": case_dir_symlink,
}


if __name__ == "__main__":
    sys.exit(run_cases(CASES, "state-faults-"))
