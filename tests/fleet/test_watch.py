#!/usr/bin/env python3
"""sealcheck-probe watch against many simulated guests (sim_guests.py), one case a run.

    test_watch.py --probe BIN CASE      (--list: the cases)

No sleeps as assertions: each case waits for a condition on the probe's JSON
lines (or its exit) with a deadline, and the deadline failing is the failure.
"""
import argparse
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "..", "probe", "sealed-report.json")
FIXTURES = os.path.join(HERE, "..", "fixtures")
with open(TEMPLATE) as _f:
    DIGEST = json.load(_f)["checks"]["root_mount"]["digest"]
OTHER = "5eed" * (len(DIGEST) // 4)
HOSTILE_CLASSES = ["silent", "slow", "flood", "oversized", "malformed", "replay", "liar", "otherdigest", "dead",
                   "hostile", "longreason"]


class Fail(Exception):
    pass


try:
    import jsonschema  # Debian's python3-jsonschema, a test dependency (README)
    with open(os.path.join(HERE, "..", "..", "docs", "watch.schema.json")) as _f:
        LINE_SCHEMA = jsonschema.Draft7Validator(json.load(_f))
except ImportError:
    LINE_SCHEMA = None


class Sim:
    def __init__(self, tmp, guests, slow_ms=4000, log=None, template=None):
        self.dir = os.path.join(tmp, "sockets")
        os.makedirs(self.dir, exist_ok=True)
        args = [sys.executable, os.path.join(HERE, "sim_guests.py"), "--dir", self.dir, "--guests", guests,
                "--slow-ms", str(slow_ms)]
        if log:
            args += ["--log", log]
        if template:
            args += ["--template", template]
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        line = self.p.stdout.readline()
        if not line.startswith("ready"):
            raise Fail("simulator did not start: %r" % line)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        answer = self.p.stdout.readline().strip()
        if not answer.startswith("ok"):
            raise Fail("simulator: %s -> %r" % (line, answer))
        return answer

    def stop(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
            except BrokenPipeError:
                pass
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class Watch:
    """The probe, its JSON lines collected by a thread."""

    def __init__(self, probe, args):
        self.p = subprocess.Popen([probe, "watch"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines, self.err, self.bad_lines = [], b"", []
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.te = threading.Thread(target=self._read_err, daemon=True)
        self.te.start()

    def _read(self):
        for raw in self.p.stdout:
            doc = json.loads(raw)  # every line must be valid JSON
            errors = sorted(LINE_SCHEMA.iter_errors(doc), key=str) if LINE_SCHEMA else []
            with self.lock:
                if errors:
                    self.bad_lines.append("%s: %s" % (raw[:200], errors[0].message))
                self.lines.append(doc)

    def _read_err(self):
        for raw in self.p.stderr:
            with self.lock:
                self.err += raw

    def snapshot(self):
        with self.lock:
            return list(self.lines)

    def stderr(self):
        with self.lock:
            return self.err.decode("utf-8", "replace")

    def latest(self):
        """vm -> its last verdict-bearing line; removed VMs dropped."""
        out = {}
        for d in self.snapshot():
            if d["event"] == "removed":
                out.pop(d["vm"], None)
            elif d["event"] in ("change", "round"):
                out[d["vm"]] = d
        return out

    def wait(self, what, cond, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None and not self.t.is_alive():
                if cond():
                    return
                raise Fail("the probe exited (%s) while waiting for %s; stderr:\n%s" % (self.p.returncode, what,
                                                                                        self.stderr()))
            if cond():
                return
            time.sleep(0.05)
        raise Fail("timed out waiting for %s; stderr:\n%s\nlast lines:\n%s" % (
            what, self.stderr(), "\n".join(json.dumps(x)[:300] for x in self.snapshot()[-15:])))

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise Fail("the probe did not stop on %s" % signal.Signals(sig).name)
        self.t.join(5)
        self.te.join(5)
        if self.bad_lines:
            raise Fail("%d line(s) not as docs/watch.schema.json says, the first: %s" % (len(self.bad_lines),
                                                                                     self.bad_lines[0]))
        return rc


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def links(d):
    return [x["link"] for x in d.get("failed_links", [])]


# What each hostile class must come to: (verdict, a failed link or None, text in the reason or None, extra check)
EXPECT = {
    "silent": ("no-report", None, "no valid report within the deadline", None),
    "slow": ("no-report", None, "no valid report within the deadline", None),
    "flood": ("unsealed", "protocol", None, None),
    "oversized": ("no-report", None, "no valid report", lambda d: d["frames"]["oversized"] >= 1),
    "malformed": ("no-report", None, "report rejected: not valid JSON", None),
    "replay": ("no-report", None, "stale or foreign nonce", lambda d: d["frames"]["stale"] >= 1),
    "liar": ("unsealed", "root_mount", None, None),
    "otherdigest": ("unsealed", "policy:digest", None, None),
    "dead": ("no-report", None, "could not connect", None),
    "hostile": ("unsealed", "root_mount", None, None),
    # A reason the policy cuts mid-character: still NOT SEALED by root_mount, never "out of memory".
    "longreason": ("unsealed", "root_mount", None, None),
}


def case_hostile(probe, tmp):
    """Every hostile class flagged for what it is, round after round, while the
    honest guests beside them stay SEALED in every round."""
    spec = "honest:8," + ",".join("%s:2" % c for c in HOSTILE_CLASSES)
    sim = Sim(tmp, spec, slow_ms=4000)
    w = Watch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "2", "--timeout", "2",
                      "--events", "all"])
    try:
        names = ["honest-%04d" % i for i in range(8)] + ["%s-%04d" % (c, i) for c in HOSTILE_CLASSES for i in range(2)]

        def rounds(name):
            return [d for d in w.snapshot() if d["vm"] == name and d["event"] in ("change", "round")]

        # Two rounds each, so the honest ones are seen to keep their verdict while the others misbehave.
        w.wait("two rounds of every guest", lambda: all(len(rounds(n)) >= 2 for n in names), timeout=40)
        for n in names:
            for d in rounds(n)[:2]:
                cls = n.rsplit("-", 1)[0]
                if cls == "honest":
                    check(d["verdict"] == "sealed" and d["up"] and not d["failed_links"] and d["digest"] ==
                          "sha512:" + DIGEST, "%s: not SEALED: %s" % (n, json.dumps(d)[:400]))
                    check(d["checks"]["root_mount"] == "pass", "%s: checks %s" % (n, d["checks"]))
                    continue
                verdict, link, reason, extra = EXPECT[cls]
                check(d["verdict"] == verdict, "%s: verdict %s, expected %s: %s" % (n, d["verdict"], verdict,
                                                                                    json.dumps(d)[:400]))
                check(not d["up"] or verdict != "no-report", "%s: up without a report" % n)
                if link:
                    check(link in links(d), "%s: no failed link %s: %s" % (n, link, links(d)))
                if reason:
                    check(reason in (d["reason"] or ""), "%s: reason %r lacks %r" % (n, d["reason"], reason))
                if extra:
                    check(extra(d), "%s: %s" % (n, json.dumps(d)[:400]))
        # The guest's escapes stay escaped in the JSON (ASCII only, valid).
        hostile = rounds("hostile-0000")[0]
        check(any("\x1b[2K\rVerdict: SEALED" in x["reason"] for x in hostile["failed_links"]),
              "the hostile reason lost its text: %s" % hostile["failed_links"])
        check(w.p.poll() is None, "the probe died")
    finally:
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s after SIGTERM" % rc)


def case_churn(probe, tmp):
    """A new socket is discovered and judged; a vanished one is removed; a
    restarted guest is found again; a cut connection is reconnected."""
    sim = Sim(tmp, "honest:3")
    w = Watch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1", "--events", "all"])
    try:
        w.wait("3 sealed", lambda: len([d for d in w.latest().values() if d["verdict"] == "sealed"]) == 3)
        sim.cmd("add newcomer honest")
        w.wait("newcomer added and sealed", lambda: w.latest().get("newcomer", {}).get("verdict") == "sealed")
        check(any(d["event"] == "added" and d["vm"] == "newcomer" for d in w.snapshot()), "no added line")
        sim.cmd("remove honest-0001")
        w.wait("honest-0001 removed", lambda: any(d["event"] == "removed" and d["vm"] == "honest-0001"
                                                  for d in w.snapshot()))
        check("honest-0001" not in w.latest(), "removed VM still listed")
        n_before = len(w.snapshot())
        sim.cmd("restart honest-0002")
        w.wait("honest-0002 back and sealed", lambda: any(
            d["vm"] == "honest-0002" and d["event"] in ("change", "round") and d["verdict"] == "sealed"
            for d in w.snapshot()[n_before:]))
        # A cut connection: the next round connects again and the verdict holds.
        n_before = len(w.snapshot())
        sim.cmd("close honest-0000")
        w.wait("honest-0000 sealed after its connection was cut", lambda: len([
            d for d in w.snapshot()[n_before:] if d["vm"] == "honest-0000" and d["event"] == "round"
            and d["verdict"] == "sealed"]) >= 2)
        # A socket that is not *.sock, or not a socket, is no VM.
        open(os.path.join(sim.dir, "notes.txt"), "w").close()
        open(os.path.join(sim.dir, "file.sock"), "w").close()
        sim.cmd("add last honest")
        w.wait("last sealed", lambda: w.latest().get("last", {}).get("verdict") == "sealed")
        check(not any(d["vm"] in ("notes.txt", "file", "notes") for d in w.snapshot()), "a non-socket became a VM")
    finally:
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s" % rc)


def case_sim_churn(probe, tmp):
    """Guests vanishing, coming back and restarting, fast: once the churn stops
    the probe's VMs are exactly the sockets there are, each judged SEALED again."""
    sim = Sim(tmp, "honest:20")
    w = Watch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1", "--events", "all"])
    try:
        w.wait("20 sealed", lambda: len([d for d in w.latest().values() if d["verdict"] == "sealed"]) == 20)
        sim.cmd("churn 50")
        w.wait("churn seen", lambda: len([d for d in w.snapshot() if d["event"] in ("added", "removed")]) >= 60,
               timeout=30)
        sim.cmd("churn 0")
        mark = len(w.snapshot())
        want = set(sim.cmd("list").split()[1:])
        check(want, "the churn left no guest")

        def settled():
            lines = w.snapshot()
            present = {}
            for d in lines:
                if d["event"] == "added":
                    present[d["vm"]] = None
                elif d["event"] == "removed":
                    present.pop(d["vm"], None)
            if set(present) != want:
                return False
            # Each present VM has a sealed round after the churn stopped.
            return all(any(d["vm"] == n and d["event"] in ("change", "round") and d["verdict"] == "sealed"
                           for d in lines[mark:]) for n in want)
        w.wait("the VMs the sockets are, sealed", settled, timeout=30)
    finally:
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s" % rc)


def case_two_dirs(probe, tmp):
    """--socket-dir twice: the VMs of both, one name in both is watched once (the first dir's)."""
    a = Sim(os.path.join(tmp, "a"), "honest:2,liar:1")
    b = Sim(os.path.join(tmp, "b"), "honest:3")
    w = Watch(probe, ["--socket-dir", a.dir, "--socket-dir", b.dir, "--expect-digest", DIGEST, "--interval", "1"])
    try:
        w.wait("four VMs judged", lambda: len(w.latest()) == 4)
        got = {n: d["verdict"] for n, d in w.latest().items()}
        check(got == {"honest-0000": "sealed", "honest-0001": "sealed", "honest-0002": "sealed",
                      "liar-0000": "unsealed"}, "verdicts %s" % got)
        b.cmd("add only-in-b honest")
        w.wait("only-in-b judged", lambda: w.latest().get("only-in-b", {}).get("verdict") == "sealed")
        b.cmd("remove honest-0002")
        w.wait("honest-0002 removed", lambda: "honest-0002" not in w.latest())
        # b's honest-0000 going away leaves a's, which the probe watches.
        b.cmd("remove honest-0000")
        b.cmd("add later-one honest")
        w.wait("later-one judged", lambda: w.latest().get("later-one", {}).get("verdict") == "sealed")
        check("honest-0000" in w.latest(), "a's honest-0000 went with b's socket")
    finally:
        rc = w.stop()
        a.stop()
        b.stop()
    check(rc == 0, "exit %s" % rc)


def case_stale(probe, tmp):
    """A VM that stops answering is stale after --stale; one that never
    answered too; answering again clears it."""
    sim = Sim(tmp, "honest:2,silent:1")
    w = Watch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1", "--timeout", "1",
                      "--stale", "3"])
    try:
        w.wait("honest sealed", lambda: all(w.latest().get("honest-%04d" % i, {}).get("verdict") == "sealed"
                                            for i in range(2)))
        w.wait("silent stale", lambda: w.latest().get("silent-0000", {}).get("stale") is True, timeout=15)
        check(not w.latest()["honest-0000"]["stale"], "honest stale")
        t0 = time.monotonic()
        sim.cmd("become honest-0001 silent")
        w.wait("honest-0001 down", lambda: w.latest()["honest-0001"]["up"] is False, timeout=15)
        w.wait("honest-0001 stale", lambda: w.latest()["honest-0001"]["stale"] is True, timeout=15)
        # Not before --stale (3 s) has passed since its last report, which came at most then.
        check(time.monotonic() - t0 > 1.0, "stale too early")
        d = w.latest()["honest-0001"]
        check("stale" in d["changed"], "the line does not say stale changed: %s" % d["changed"])
        check(d["last_report"] is not None, "no last report time")
        sim.cmd("become honest-0001 honest")
        w.wait("honest-0001 fresh again", lambda: w.latest()["honest-0001"]["stale"] is False and
               w.latest()["honest-0001"]["up"] is True, timeout=15)
        check(not w.latest()["honest-0000"]["stale"], "the other honest one went stale")
    finally:
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s" % rc)


def write_policy(path, names, digest):
    with open(path + ".tmp", "w") as f:
        json.dump({"schema": "sealcheck.policy.v1", "vms": {n: {"digests": ["sha512:" + digest]} for n in names}}, f)
    os.rename(path + ".tmp", path)


def case_sighup(probe, tmp):
    """SIGHUP reloads the policy: a digest denied turns a VM NOT SEALED, a
    broken file is refused and the old policy stays, allowing it again seals it."""
    sim = Sim(tmp, "honest:2")
    policy = os.path.join(tmp, "policy.json")
    write_policy(policy, ["honest-0000", "honest-0001"], DIGEST)
    w = Watch(probe, ["--socket-dir", sim.dir, "--policy", policy, "--interval", "1"])
    try:
        w.wait("both sealed", lambda: all(w.latest().get("honest-%04d" % i, {}).get("verdict") == "sealed"
                                          for i in range(2)))
        write_policy(policy, ["honest-0000", "honest-0001"], OTHER)
        w.p.send_signal(signal.SIGHUP)
        w.wait("NOT SEALED by the new policy", lambda: all(
            w.latest()["honest-%04d" % i]["verdict"] == "unsealed" and
            "policy:digest" in links(w.latest()["honest-%04d" % i]) for i in range(2)))
        with open(policy, "w") as f:
            f.write('{"schema": "sealcheck.policy.v1", "vms": {"x": {"digests": []}}}')
        n_before = len(w.snapshot())
        w.p.send_signal(signal.SIGHUP)
        w.wait("the refusal on stderr", lambda: "the new policy is refused, the old one stays" in w.stderr())
        check(policy in w.stderr(), "the refusal does not name the file")
        check(not any(d.get("verdict") == "sealed" for d in w.snapshot()[n_before:]), "a broken policy sealed a VM")
        # Only honest-0000 allowed now: honest-0001 has no entry and is NOT SEALED, never passed.
        with open(policy + ".tmp", "w") as f:
            json.dump({"schema": "sealcheck.policy.v1", "vms": {"honest-0000": {"digests": [DIGEST]}}}, f)
        os.rename(policy + ".tmp", policy)
        w.p.send_signal(signal.SIGHUP)
        w.wait("honest-0000 sealed again", lambda: w.latest()["honest-0000"]["verdict"] == "sealed")
        check(w.latest()["honest-0001"]["verdict"] == "unsealed", "a VM without an entry is not NOT SEALED")
        check(w.p.poll() is None, "SIGHUP stopped the probe")
    finally:
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s" % rc)


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def case_signals(probe, tmp):
    """SIGTERM and SIGINT stop the probe cleanly (exit 0) mid-round, with no
    child left behind and every queued line written whole."""
    sim = Sim(tmp, "honest:3,silent:3,flood:1")
    for sig in (signal.SIGTERM, signal.SIGINT):
        w = Watch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1", "--timeout", "5"])
        w.wait("sealed ones", lambda: len([d for d in w.latest().values() if d["verdict"] == "sealed"]) == 3)
        check(children(w.p.pid) == [], "the probe has children: %s" % children(w.p.pid))
        pid = w.p.pid
        rc = w.stop(sig)
        check(rc == 0, "exit %s on %s" % (rc, signal.Signals(sig).name))
        check(not os.path.exists("/proc/%d" % pid) or children(pid) == [], "left a child")
    sim.stop()


def run_usage(probe, args, expect, tmp):
    p = subprocess.run([probe, "watch"] + args, capture_output=True, text=True, timeout=20)
    check(p.returncode == 2, "%s: exit %s, expected 2; stderr %s" % (args, p.returncode, p.stderr))
    check(expect in p.stderr, "%s: stderr %r lacks %r" % (args, p.stderr, expect))


def case_usage(probe, tmp):
    """Bad options, a missing or unreadable source or policy: exit 2, naming the input and why."""
    sock = os.path.join(tmp, "s")
    os.makedirs(sock)
    bad_json = os.path.join(tmp, "bad.json")
    with open(bad_json, "w") as f:
        f.write("{nope")
    unreadable = os.path.join(tmp, "secret.json")
    write_policy(unreadable, ["a"], DIGEST)
    os.chmod(unreadable, 0)
    ok = ["--socket-dir", sock, "--expect-digest", DIGEST]
    cases = [
        (["--expect-digest", DIGEST], "--socket-dir"),
        (["--socket-dir", sock], "no digest policy"),
        (ok + ["--policy", bad_json], "not both"),
        (["--socket-dir", sock, "--policy", bad_json], bad_json),
        (["--socket-dir", sock, "--policy", os.path.join(tmp, "missing.json")], "missing.json"),
        (["--socket-dir", os.path.join(tmp, "nodir"), "--expect-digest", DIGEST], "nodir"),
        (["--socket-dir", bad_json, "--expect-digest", DIGEST], "Not a directory"),
        (ok + ["--interval", "0"], "--interval"),
        (ok + ["--interval", "ten"], "--interval"),
        (ok + ["--timeout", "-1"], "--timeout"),
        (ok + ["--stale", "0"], "--stale"),
        (ok + ["--events", "some"], "--events"),
        (ok + ["--vm", "x"], "--vm"),
        (ok + ["--state-dir", tmp], "go together"),
        (ok + ["--bogus"], "unrecognized option"),
        (ok + ["extra"], "no arguments"),
        (["--socket-dir", sock, "--expect-digest", "abc"], "--expect-digest"),
        (ok + ["--state-dir", tmp, "--tpm-uki", os.path.join(tmp, "no.efi"), "--tpm-keys", tmp], "no.efi"),
        (ok + ["--state-dir", tmp, "--tpm-uki", bad_json, "--tpm-keys", tmp], "the Secure Boot key directory (the trust root of PCR 7): " + tmp + "/GUID.txt"),
        (ok + ["--tpm-ek-ca", bad_json], "go together"),
        # Read and parsed at start (not at the first round): a file that is no UKI is a usage error.
        (ok + ["--state-dir", tmp, "--tpm-uki", bad_json, "--tpm-keys", os.path.join(FIXTURES, "evidence")],
         "--tpm-uki " + bad_json + ": "),
        (ok + ["--state-dir", tmp, "--tpm-uki", bad_json, "--tpm-keys", tmp, "--tpm-ek-ca",
               os.path.join(tmp, "no-ca.pem")], "no-ca.pem"),
    ]
    if os.geteuid() != 0:
        cases.append((["--socket-dir", sock, "--policy", unreadable], "secret.json"))
    for args, expect in cases:
        run_usage(probe, args, expect, tmp)
    p = subprocess.run([probe, "watch", "--help"], capture_output=True, text=True, timeout=20)
    check(p.returncode == 0 and "--socket-dir" in p.stdout, "--help")


def case_names(probe, tmp):
    """Socket names are outside data: control characters, '/', invalid UTF-8
    and over-long names are refused, logged escaped; plain names are VMs."""
    sim = Sim(tmp, "honest:1")
    w = Watch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1"])
    try:
        w.wait("honest sealed", lambda: w.latest().get("honest-0000", {}).get("verdict") == "sealed")
        sim.cmd("add bad\x1b[2Jname honest")
        open(os.path.join(sim.dir, "x" * 201 + ".sock"), "w").close()  # too long for a socket address anyway
        sim.cmd("add caf\u00e9-\u202eok honest")  # valid UTF-8, printable (bidi shown escaped on terminals)
        w.wait("the plain one judged", lambda: w.latest().get("caf\u00e9-\u202eok", {}).get("verdict") == "sealed")
        w.wait("the refusal of the escape", lambda: "bad\\x1b[2Jname.sock" in w.stderr())
        w.wait("the refusal of the long one", lambda: "over 200 bytes" in w.stderr())
        check("\x1b" not in w.stderr(), "a raw escape reached stderr")
        # Said once: the same bad name made again is not logged again (inotify events come in order, so
        # once a VM made after it is judged, its second creation has been seen).
        sim.cmd("remove bad\x1b[2Jname")
        sim.cmd("add bad\x1b[2Jname honest")
        sim.cmd("add later-one honest")
        w.wait("later-one judged", lambda: w.latest().get("later-one", {}).get("verdict") == "sealed")
        check(w.stderr().count("bad\\x1b[2Jname.sock") == 1, "the refusal was logged %d times" %
              w.stderr().count("bad\\x1b[2Jname.sock"))
        check(not any("bad" in d["vm"] or d["vm"].startswith("xxx") for d in w.snapshot()), "a refused name is a VM")
        # Non-UTF-8 bytes in a file name.
        import socket as sk
        s = sk.socket(sk.AF_UNIX, sk.SOCK_STREAM)
        s.bind(os.path.join(sim.dir.encode(), b"nonutf\xff.sock"))
        s.listen(1)
        w.wait("the refusal of invalid UTF-8", lambda: "nonutf\\xff.sock" in w.stderr())
        s.close()
    finally:
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s" % rc)


def case_image(probe, tmp):
    """The container image a guest's bootc deployment names (report system.deployment) is in its lines, as
    the guest's claim: name and manifest digest."""
    with open(os.path.join(HERE, "..", "probe", "sealed-report.json")) as f:
        t = json.load(f)
    t["system"]["deployment"] = {
        "source": "bootc", "verity": None, "soft_reboot": False, "cmdline_verity": None,
        "image": {"reference": "ostree-unverified-image:docker://quay.io/example/sealed-host:1", "image":
                  "quay.io/example/sealed-host:1", "transport": "registry", "signature": "insecure"},
        "image_digest": "sha256:" + "9f" * 32, "boot_type": "uki", "boot_digest": None, "bootloader": "systemd",
        "origin_error": None, "staged": None, "staged_error": None}
    template = os.path.join(tmp, "bootc-report.json")
    with open(template, "w") as f:
        json.dump(t, f)
    sim = Sim(tmp, "honest:1", template=template)
    w = Watch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1", "--events", "all"])
    try:
        w.wait("judged", lambda: any(d["event"] in ("change", "round") for d in w.snapshot()))
    finally:
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s" % rc)
    lines = [d for d in w.snapshot() if d["event"] in ("change", "round")]
    check(all(d["image"] == "quay.io/example/sealed-host:1" and d["image_digest"] == "sha256:" + "9f" * 32 and
              d["verdict"] == "sealed" for d in lines),
          "image fields: %s" % [(d["vm"], d["verdict"], d["image"], d["image_digest"]) for d in lines])
    # Every other case's guests name no image: their lines carry nulls (the schema requires both keys).

def case_tpm(probe, tmp):
    """A VM whose TPM state the host holds (DIR/<vm>/ak.name) must send TPM
    evidence: without it, NOT SEALED by tpm:evidence; its neighbour without
    TPM state stays self-reported SEALED. The UKI is read at start and on
    SIGHUP: one that no longer parses is said, and the TPM VMs' UKI links fail with it."""
    sim = Sim(tmp, "honest:2")
    state = os.path.join(tmp, "state")
    os.makedirs(os.path.join(state, "honest-0001"))
    with open(os.path.join(state, "honest-0001", "ak.name"), "wb") as f:
        f.write(b"\x00\x0b" + bytes(range(32)))
    uki = os.path.join(tmp, "sealed.efi")
    shutil.copy(os.path.join(FIXTURES, "uki", "uki-252.efi"), uki)
    w = Watch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1", "--timeout", "2",
                      "--state-dir", state, "--tpm-uki", uki, "--tpm-keys", os.path.join(FIXTURES, "evidence")])
    try:
        w.wait("both judged", lambda: all("honest-%04d" % i in w.latest() for i in range(2)), timeout=20)
        plain, tpm = w.latest()["honest-0000"], w.latest()["honest-0001"]
        check(plain["verdict"] == "sealed" and not plain["tpm"] and plain["evidence"] == "self-reported",
              "plain: %s" % json.dumps(plain)[:300])
        check(tpm["tpm"] and tpm["verdict"] == "unsealed" and "tpm:evidence" in links(tpm),
              "tpm: %s" % json.dumps(tpm)[:400])
        check(tpm["up"], "the TPM VM's report came")
        # TPM state that appears later counts after SIGHUP (which re-reads every VM's ak.name).
        os.makedirs(os.path.join(state, "honest-0000"))
        with open(os.path.join(state, "honest-0000", "ak.name"), "wb") as f:
            f.write(b"\x00\x0b" + bytes(range(32, 64)))
        w.p.send_signal(signal.SIGHUP)
        w.wait("honest-0000 needs its evidence now", lambda: w.latest()["honest-0000"]["tpm"] and
               w.latest()["honest-0000"]["verdict"] == "unsealed" and
               "tpm:evidence" in links(w.latest()["honest-0000"]), timeout=20)
        w.wait("the UKI read again", lambda: "SIGHUP: sealed UKI %s read again" % uki in w.stderr())
        with open(uki, "wb") as f:
            f.write(b"not a PE file")
        w.p.send_signal(signal.SIGHUP)
        w.wait("the broken UKI said", lambda: "SIGHUP: the sealed UKI cannot be read: %s" % uki in w.stderr())
        check(w.p.poll() is None, "a broken UKI on SIGHUP stopped the probe")
    finally:
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s" % rc)


def case_tpm_unpinned(probe, tmp):
    """A VM whose state folder DIR/<vm>/ exists without ak.name has a TPM (its AK
    not pinned yet, to be bound by activation): its evidence is required, so a
    report without it is NOT SEALED by tpm:evidence, never self-reported SEALED;
    a VM without a folder stays self-reported."""
    sim = Sim(tmp, "honest:2")
    state = os.path.join(tmp, "state")
    os.makedirs(os.path.join(state, "honest-0001"))
    ca = os.path.join(FIXTURES, "evidence", "PK.crt")  # any readable PEM: no guest here gets that far
    for extra in ([], ["--tpm-ek-ca", ca]):
        w = Watch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1", "--timeout", "2",
                          "--state-dir", state, "--tpm-uki", os.path.join(FIXTURES, "uki", "uki-252.efi"),
                          "--tpm-keys", os.path.join(FIXTURES, "evidence")] + extra)
        try:
            w.wait("both judged", lambda: all("honest-%04d" % i in w.latest() for i in range(2)), timeout=20)
            plain, tpm = w.latest()["honest-0000"], w.latest()["honest-0001"]
            check(plain["verdict"] == "sealed" and not plain["tpm"], "plain: %s" % json.dumps(plain)[:300])
            check(tpm["tpm"] and tpm["verdict"] == "unsealed" and "tpm:evidence" in links(tpm) and
                  tpm["evidence"] == "self-reported", "unpinned %s: %s" % (extra, json.dumps(tpm)[:400]))
        finally:
            rc = w.stop()
        check(rc == 0, "exit %s" % rc)
        check(not os.path.exists(os.path.join(state, "honest-0001", "ak.name")), "nothing pinned without evidence")
        check(not os.path.exists(os.path.join(state, "honest-0000")), "no folder made for a VM without a TPM")
    sim.stop()


def case_table(probe, tmp):
    """On a terminal: a live table, guest strings escaped (no raw escape of the
    guest's reaches the terminal); JSON only with --json."""
    sim = Sim(tmp, "honest:2,hostile:1,silent:1")
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(probe, [probe, "watch", "--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1",
                         "--timeout", "1"])
    out = b""
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    break
            frames = out.split(b"\x1b[H\x1b[2J")
            last = frames[-1] if len(frames) > 1 else b""
            # A whole frame: the summary and all four rows (a read may end mid-frame).
            if (b"NOT SEALED" in last and b"NO REPORT" in last and b"4 VMs" in last and
                    all(n in last for n in (b"honest-0000", b"honest-0001", b"hostile-0000", b"silent-0000"))):
                break
        else:
            raise Fail("no table with the verdicts: %r" % out[-2000:])
        check(b"honest-0000" in last and b"SEALED" in last, "table: %r" % last)
        # The hostile guest's reason carries ESC [2K and a CR: only the escaped form may appear.
        guest_raw = [b"\x1b[2K", b"\x1b]0;", b"\r" + b"Verdict", b"\xe2\x80\xae"]
        for g in guest_raw:
            check(g not in out, "a raw guest sequence %r reached the terminal" % g)
        check(b"\\x1b[2K" in out, "the hostile reason is not shown escaped")
    finally:
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        sim.stop()
    check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "exit status %s" % status)


def case_table_paused(probe, tmp):
    """A terminal that stops taking output (Ctrl-S, a stalled ssh link) never
    stops the rounds: the table skips the frames the terminal has not taken,
    the guests keep being asked, and after Ctrl-Q a fresh frame comes; SIGTERM
    still stops the probe (exit 0). The terminal's open file description, which
    a shell shares, is never made non-blocking."""
    log = os.path.join(tmp, "sent.log")
    sim = Sim(tmp, "honest:20", log=log)
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(probe, [probe, "watch", "--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1"])

    def sent():
        try:
            with open(log) as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0

    def read_for(seconds):
        got, until = b"", time.monotonic() + seconds
        while time.monotonic() < until:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    got += os.read(fd, 65536)
                except OSError:
                    break
        return got

    def frame_after(seconds):
        out, until = b"", time.monotonic() + seconds
        while time.monotonic() < until:
            out += read_for(0.2)
            last = out.split(b"\x1b[H\x1b[2J")[-1]
            if b"20 VMs: 20 sealed" in last and b"honest-0019" in last:
                return True
        return False
    status = None
    try:
        check(frame_after(20), "no table of 20 sealed VMs")
        os.write(fd, b"\x13")  # Ctrl-S: the line discipline (IXON) stops output
        read_for(0.5)  # what was already on its way
        at = sent()
        deadline = time.monotonic() + 20
        while sent() < at + 60:
            check(time.monotonic() < deadline, "rounds stopped while the terminal was stopped (%d -> %d)" %
                  (at, sent()))
            time.sleep(0.1)
        check(len(read_for(1)) == 0, "output reached a stopped terminal")
        with open("/proc/%d/fdinfo/0" % pid) as f:
            flags = int(next(l for l in f if l.startswith("flags:")).split()[1], 8)
        check(not flags & os.O_NONBLOCK, "the terminal's shared file description was made non-blocking")
        os.write(fd, b"\x11")  # Ctrl-Q
        check(frame_after(5), "no fresh frame after Ctrl-Q")
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            read_for(0.1)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
        sim.stop()
    check(status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "exit status %s" % status)


def case_reconnect(probe, tmp):
    """--reconnect: a connection per round; the verdicts are the same."""
    sim = Sim(tmp, "honest:2,liar:1")
    w = Watch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1", "--reconnect",
                      "--events", "all"])
    try:
        w.wait("three rounds each", lambda: all(
            len([d for d in w.snapshot() if d["vm"] == n and d["event"] in ("change", "round")]) >= 3
            for n in ("honest-0000", "honest-0001", "liar-0000")), timeout=20)
        for d in w.snapshot():
            if d["event"] in ("change", "round"):
                want = "unsealed" if d["vm"] == "liar-0000" else "sealed"
                check(d["verdict"] == want, "%s: %s" % (d["vm"], d["verdict"]))
        # Every round has its own nonce.
        nonces = [d["nonce"] for d in w.snapshot() if d["vm"] == "honest-0000" and d["event"] != "added"]
        check(len(set(nonces)) == len(nonces), "a nonce was reused: %s" % nonces)
    finally:
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s" % rc)


def case_frame_caps(probe, tmp):
    """A report frame over the report cap is refused at its header, unparsed (counted oversized, not
    rejected), even a valid report echoing the nonce; 9 refused frames in a round end it as a flood; a
    guest sending 2 MiB of valid-CRC 240 KiB report frames is cut off with none of them parsed. Honest
    guests beside them stay SEALED."""
    sim = Sim(tmp, "honest:2,bigreport:1,rejects:1,bigflood:1")
    w = Watch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "2", "--timeout", "2",
                      "--events", "all"])
    names = ("honest-0000", "honest-0001", "bigreport-0000", "rejects-0000", "bigflood-0000")
    try:
        def rounds(name):
            return [d for d in w.snapshot() if d["vm"] == name and d["event"] in ("change", "round")]

        w.wait("two rounds of every guest", lambda: all(len(rounds(n)) >= 2 for n in names), timeout=40)
        for n in names:
            for d in rounds(n)[:2]:
                f, why = d["frames"], json.dumps(d)[:500]
                if n.startswith("honest"):
                    check(d["verdict"] == "sealed", "%s: not SEALED: %s" % (n, why))
                elif n == "bigreport-0000":
                    check(d["verdict"] == "no-report" and not d["up"], "%s: %s" % (n, why))
                    check(f["oversized"] >= 1 and f["rejected"] == 0 and f["stale"] == 0,
                          "%s: the big report was parsed: %s" % (n, f))
                elif n == "rejects-0000":
                    check(d["verdict"] == "unsealed" and "protocol" in links(d), "%s: not a flood: %s" % (n, why))
                    check(f["rejected"] == 9 and any("9 frames refused" in x["reason"] for x in d["failed_links"]),
                          "%s: %s" % (n, why))
                else:
                    check(d["verdict"] == "unsealed" and "protocol" in links(d), "%s: not a flood: %s" % (n, why))
                    check(f["oversized"] >= 1 and f["rejected"] == 0 and f["stale"] == 0,
                          "%s: its frames were parsed: %s" % (n, f))
        check(w.p.poll() is None, "the probe died")
    finally:
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s after SIGTERM" % rc)


def case_log(probe, tmp):
    """--log: one line per report sent, matching the probe's round nonces, and
    mono_ms on the probe's lines after the guest's stamp (same clock)."""
    log = os.path.join(tmp, "sent.log")
    sim = Sim(tmp, "honest:3", log=log)
    w = Watch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1", "--events", "all"])
    try:
        w.wait("two rounds each", lambda: all(
            len([d for d in w.snapshot() if d["vm"] == "honest-%04d" % i and d["event"] in ("change", "round")]) >= 2
            for i in range(3)), timeout=20)
    finally:
        rc = w.stop()
        sim.stop()
    sent = {}
    with open(log) as f:
        for line in f:
            name, nonce, ms = line.split()
            sent[(name, nonce)] = float(ms)
    matched = 0
    for d in w.snapshot():
        if d["event"] in ("change", "round") and (d["vm"], d["nonce"]) in sent:
            lat = d["verdict_mono_ms"] - sent[(d["vm"], d["nonce"])]
            check(0 <= lat < 60000, "latency %s ms" % lat)
            check(d["mono_ms"] >= d["verdict_mono_ms"], "mono_ms before the verdict")
            matched += 1
    check(matched >= 6, "only %d rounds matched the simulator's log" % matched)
    check(rc == 0, "exit %s" % rc)


def case_manpage(probe, tmp):
    """Every option `watch --help` lists is in the man page's WATCH section and in docs/fleet.md's reach."""
    import re
    p = subprocess.run([probe, "watch", "--help"], capture_output=True, text=True, timeout=20)
    opts = sorted(set(re.findall(r"^  (--[a-z-]+)", p.stdout, re.M)) - {"--help"})
    check(len(opts) >= 10, "too few options found: %s" % opts)
    with open(os.path.join(HERE, "..", "..", "docs", "sealcheck-probe.1")) as f:
        man = f.read()
    section = man.split(".SH WATCH", 1)[1].split("\n.SH ", 1)[0].replace("\\-", "-")
    missing = [o for o in opts if o not in section]
    check(not missing, "not in the man page's WATCH section: %s" % missing)


def case_stdout_blocked(probe, tmp):
    """A reader that stops reading stdout never stops the rounds: with the pipe
    full, the guests keep being asked (their log grows) and SIGTERM still stops
    the probe, exit 0."""
    import fcntl
    import termios
    log = os.path.join(tmp, "sent.log")
    sim = Sim(tmp, "honest:20", log=log)
    r, wfd = os.pipe()
    p = subprocess.Popen([probe, "watch", "--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1",
                          "--events", "all"], stdout=wfd, stderr=subprocess.PIPE)
    os.close(wfd)

    def queued():
        buf = bytearray(4)
        fcntl.ioctl(r, termios.FIONREAD, buf)
        return int.from_bytes(buf, sys.byteorder)

    def sent():
        with open(log) as f:
            return sum(1 for _ in f)
    try:
        deadline = time.monotonic() + 40
        # Full: over half the pipe queued and no byte more for 2 s of rounds (how many bytes a full pipe
        # holds depends on how the writes fell into its pages: 55-64 KiB of 64 KiB).
        last, still_since = -1, time.monotonic()
        while True:
            q = queued()
            if q != last:
                last, still_since = q, time.monotonic()
            elif q > 32768 and time.monotonic() - still_since >= 2:
                break
            check(time.monotonic() < deadline, "the pipe never filled (%d bytes)" % q)
            if p.poll() is not None:
                raise Fail("the probe exited: %s" % p.stderr.read().decode())
            time.sleep(0.1)
        deadline = time.monotonic() + 40
        at_full = sent()
        # 20 guests a second: 60 more reports is a few seconds of rounds the probe made while it could not write.
        while sent() < at_full + 60:
            check(time.monotonic() < deadline, "rounds stopped while stdout was full (%d -> %d)" % (at_full, sent()))
            time.sleep(0.1)
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            raise Fail("SIGTERM did not stop the probe with stdout full")
        check(rc == 0, "exit %s" % rc)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(r)
        sim.stop()


CASES = {
    "hostile": case_hostile,
    "churn": case_churn,
    "sim-churn": case_sim_churn,
    "two-dirs": case_two_dirs,
    "stale": case_stale,
    "sighup": case_sighup,
    "signals": case_signals,
    "usage": case_usage,
    "names": case_names,
    "image": case_image,
    "tpm": case_tpm,
    "tpm-unpinned": case_tpm_unpinned,
    "table": case_table,
    "table-paused": case_table_paused,
    "reconnect": case_reconnect,
    "frame-caps": case_frame_caps,
    "log": case_log,
    "manpage": case_manpage,
    "stdout-blocked": case_stdout_blocked,
}


def run_cases(cases, prefix, argv=None):
    """The command line of every tests/fleet case file: --list prints the cases; --probe BIN CASE runs one in
    a fresh temporary folder (removed after), printing "PASS CASE" or "FAIL CASE: why". Returns the exit status."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("case", nargs="?")
    a = ap.parse_args(argv)
    if a.list:
        print("\n".join(cases))
        return 0
    if not a.probe or a.case not in cases:
        ap.error("give --probe BIN and a case: " + ", ".join(cases))
    if LINE_SCHEMA is None:
        print("FAIL %s: python3-jsonschema is missing (run with Debian's /usr/bin/python3)" % a.case)
        return 1
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        cases[a.case](os.path.abspath(a.probe), tmp)
    except Fail as e:
        print("FAIL %s: %s" % (a.case, e))
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS %s" % a.case)
    return 0


if __name__ == "__main__":
    sys.exit(run_cases(CASES, "watch-"))
