#!/usr/bin/env python3
"""sealcheck-probe watch's metrics as the real monitoring sees them (docs/metrics.md).

    test_prometheus.py --probe BIN --rules FILE CASE     (--list: the cases)

scrape    Debian's prometheus scrapes `watch --metrics-listen 127.0.0.1:0` (every 1 s) over
          simulated guests (sim_guests.py), with docs/alerts/sealcheck.rules.yml loaded; its
          HTTP API must give each VM's sealed/up/stale, build_info, the check statuses, the
          reports counter and, for a VM whose name needs escaping, that very name; the
          not-sealed and stale alerts go pending for the right VMs only; the probe's page
          passes `promtool check metrics`; SIGTERM to the probe: up{job="sealcheck"} == 0.
textfile  Debian's prometheus-node-exporter serves the watch's --textfile: the sealcheck series
          through node_exporter, node_textfile_scrape_error 0, the file's mtime, the file
          itself passing promtool, mode 0644, no temporary files left, and a verdict change
          in the file within the deadline.
options   --metrics-listen values refused (exit 2, escaped), a busy port (exit 2), an
          unwritable --textfile said once while /metrics over [::1]:0 keeps serving.

Ports are picked by binding port 0 (the probe's own is read from its stderr). Every
wait polls with a deadline; every process is killed at the end.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "..", "probe", "sealed-report.json")
with open(TEMPLATE) as _f:
    DIGEST = json.load(_f)["checks"]["root_mount"]["digest"]
# A name the probe accepts (valid UTF-8, no '/', no control character) that the exposition must escape.
ODD_NAME = 'we"b\\01-\u00e9'
GUESTS = "honest:3,liar:1,otherdigest:1,silent:1,replay:1"


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, cond, timeout=30, interval=0.2):
    """Poll cond() until it returns a true value (returned), or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except (OSError, ValueError, KeyError) as e:  # not up yet, half-written answers
            last = e
        time.sleep(interval)
    raise Fail("timed out waiting for %s%s" % (what, " (last error: %s)" % last if last else ""))


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, dict(r.headers), r.read()


class Procs:
    """Every process started, killed at the end whatever happens."""

    def __init__(self):
        self.procs = []

    def start(self, args, **kw):
        p = subprocess.Popen(args, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class Sim:
    def __init__(self, procs, tmp, guests):
        self.dir = os.path.join(tmp, "sockets")
        os.makedirs(self.dir)
        self.p = procs.start([sys.executable, os.path.join(HERE, "sim_guests.py"), "--dir", self.dir,
                              "--guests", guests], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             bufsize=1)
        line = self.p.stdout.readline()
        check(line.startswith("ready"), "simulator did not start: %r" % line)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        answer = self.p.stdout.readline().strip()
        check(answer.startswith("ok"), "simulator: %s -> %r" % (line, answer))


class Watch:
    def __init__(self, procs, probe, args):
        self.p = procs.start([probe, "watch", "--json"] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.err = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_err(self):
        for raw in self.p.stderr:
            with self.lock:
                self.err.append(raw.decode("utf-8", "replace"))

    def stderr(self):
        with self.lock:
            return "".join(self.err)

    def port(self):
        def find():
            check(self.p.poll() is None, "the probe exited (%s): %s" % (self.p.returncode, self.stderr()))
            m = re.search(r"metrics on port (\d+)", self.stderr())
            return int(m.group(1)) if m else None
        return wait_for("the probe's metrics port on its stderr", find, timeout=20)


def watch_args(sim, interval="1"):
    return ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", interval, "--timeout", "1",
            "--stale", "3"]


def promtool_check(text, what):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=60)
    out = (r.stdout + r.stderr).decode("utf-8", "replace").strip()
    check(r.returncode == 0 and not out, "promtool check metrics on %s: rc %d: %s" % (what, r.returncode, out))


def names():
    return ["honest-0000", "honest-0001", "honest-0002", "liar-0000", "otherdigest-0000", "silent-0000", "replay-0000",
            ODD_NAME]


class Prometheus:
    def __init__(self, procs, tmp, targets, rules):
        self.port = free_port()
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n")
            f.write("rule_files:\n  - %s\n" % json.dumps(rules))
            f.write("scrape_configs:\n")
            for job, target in targets.items():
                f.write("  - job_name: %s\n    static_configs:\n      - targets: [%s]\n" % (job, json.dumps(target)))
        self.log = open(os.path.join(tmp, "prometheus.log"), "wb")
        self.p = procs.start(["prometheus", "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                              "--web.listen-address=127.0.0.1:%d" % self.port], stdout=self.log,
                             stderr=subprocess.STDOUT)
        self.base = "http://127.0.0.1:%d" % self.port
        wait_for("prometheus ready", lambda: self.alive() and http_get(self.base + "/-/ready")[0] == 200, timeout=60)

    def alive(self):
        if self.p.poll() is not None:
            with open(self.log.name, "rb") as f:
                raise Fail("prometheus exited (%s): %s" % (self.p.returncode, f.read()[-3000:].decode("utf-8", "replace")))
        return True

    def api(self, path, **params):
        self.alive()
        _, _, body = http_get(self.base + path + "?" + urllib.parse.urlencode(params))
        doc = json.loads(body)
        check(doc.get("status") == "success", "prometheus %s %s: %s" % (path, params, doc))
        return doc["data"]

    def query(self, q):
        """{frozenset(labels without __name__): value} of an instant query."""
        out = {}
        for r in self.api("/api/v1/query", query=q)["result"]:
            labels = {k: v for k, v in r["metric"].items() if k != "__name__"}
            out[frozenset(labels.items())] = float(r["value"][1])
        return out

    def by_vm(self, q):
        return {dict(k)["vm"]: v for k, v in self.query(q).items()}


def case_scrape(probe, rules, tmp):
    procs = Procs()
    try:
        sim = Sim(procs, tmp, GUESTS)
        sim.cmd("add %s honest" % ODD_NAME)
        w = Watch(procs, probe, watch_args(sim) + ["--metrics-listen", "127.0.0.1:0"])
        port = w.port()
        prom = Prometheus(procs, tmp, {"sealcheck": "127.0.0.1:%d" % port}, rules)

        want_sealed = {n: (1.0 if n.startswith("honest") or n == ODD_NAME else 0.0) for n in names()}
        wait_for("every VM's sealcheck_vm_sealed in Prometheus as expected",
                 lambda: prom.by_vm('sealcheck_vm_sealed{job="sealcheck"}') == want_sealed, timeout=60)
        silent = ("silent-0000", "replay-0000")  # no valid report ever: a replay echoes an old nonce
        wait_for("silent-0000 and replay-0000 stale, the others not",
                 lambda: prom.by_vm('sealcheck_vm_stale{job="sealcheck"}') ==
                 {n: (1.0 if n in silent else 0.0) for n in names()}, timeout=30)
        up = prom.by_vm('sealcheck_vm_up{job="sealcheck"}')
        check(up == {n: (0.0 if n in silent else 1.0) for n in names()}, "sealcheck_vm_up: %s" % up)

        version = subprocess.run([probe, "--version"], capture_output=True, text=True, check=True).stdout.split()[-1]
        bi = prom.query('sealcheck_build_info{job="sealcheck"}')
        check(list(bi.values()) == [1.0] and dict(next(iter(bi)))["version"] == version, "build_info: %s" % bi)
        states = {dict(k)["state"]: v for k, v in prom.query('sealcheck_vms{job="sealcheck"}').items()}
        check(states == {"sealed": 4.0, "unsealed": 2.0, "no_report": 0.0, "pending": 0.0, "stale": 2.0},
              "sealcheck_vms: %s" % states)

        # The check that failed, by name and status; every status of it a series (0 or 1).
        liar = {dict(k)["status"]: v for k, v in
                prom.query('sealcheck_check_status{job="sealcheck",vm="liar-0000",check="root_mount"}').items()}
        check(liar == {"pass": 0.0, "fail": 1.0, "error": 0.0, "skip": 0.0}, "liar's root_mount: %s" % liar)
        honest = prom.query('sealcheck_check_status{job="sealcheck",vm="honest-0000",status="pass"} == 1')
        check({dict(k)["check"] for k in honest} >= {"cmdline", "root_mount", "secure_boot", "composefs_image"},
              "honest-0000's passing checks: %s" % honest)
        info = prom.query('sealcheck_vm_info{job="sealcheck"}')
        digests = {dict(k)["vm"]: dict(k).get("digest", "") for k in info}  # Prometheus drops empty labels
        check(digests["honest-0000"] == "sha512:" + DIGEST and digests["otherdigest-0000"] == "" and
              digests["liar-0000"] == "", "vm_info digests: %s" % digests)
        # Counters grow, round after round.
        first = prom.by_vm('sealcheck_reports_total{job="sealcheck",result="sealed"}')["honest-0000"]
        wait_for("honest-0000's sealed rounds counted on",
                 lambda: prom.by_vm('sealcheck_reports_total{job="sealcheck",result="sealed"}')["honest-0000"] >
                 first + 1, timeout=30)
        timeouts = prom.by_vm('sealcheck_reports_total{job="sealcheck",result="timeout"}')
        check(timeouts["silent-0000"] >= 1 and timeouts["replay-0000"] >= 1 and timeouts["honest-0000"] == 0,
              "timeouts: %s" % timeouts)
        replays = prom.by_vm('sealcheck_rejected_frames_total{job="sealcheck",reason="stale_nonce"}')
        check(replays["replay-0000"] >= 1 and replays["honest-0000"] == 0, "stale-nonce frames: %s" % replays)
        rounds = prom.by_vm('sealcheck_vm_last_round_duration_seconds{job="sealcheck"}')
        # Milliseconds: an honest local guest answers within one (0), a silent one takes the 1 s deadline.
        check(0 <= rounds["honest-0000"] < 1 and rounds["silent-0000"] >= 1, "round durations: %s" % rounds)
        last = prom.by_vm('time() - sealcheck_vm_last_report_timestamp_seconds{job="sealcheck"}')
        check(all(0 <= last[n] < 30 for n in names() if n not in silent), "last report ages: %s" % last)
        fails = prom.by_vm('sealcheck_consecutive_failures{job="sealcheck"}')
        check(fails["liar-0000"] >= 1 and fails["honest-0000"] == 0, "consecutive failures: %s" % fails)

        # The rules, loaded by the real Prometheus: pending for exactly the VMs they are about.
        def alerts():
            got = {}
            for a in prom.api("/api/v1/alerts")["alerts"]:
                got.setdefault(a["labels"]["alertname"], set()).add(a["labels"].get("vm"))
            return got
        wait_for("SealcheckVMNotSealed pending for liar and otherdigest, SealcheckVMStale for silent and replay, "
                 "SealcheckVMRejectedFrames for replay (one old report a round)",
                 lambda: alerts() == {"SealcheckVMNotSealed": {"liar-0000", "otherdigest-0000"},
                                      "SealcheckVMStale": set(silent),
                                      "SealcheckVMRejectedFrames": {"replay-0000"}}, timeout=40)
        rule_health = [r["health"] for g in prom.api("/api/v1/rules")["groups"] for r in g["rules"]]
        n_rules = sum(1 for line in open(rules) if line.strip().startswith(("- alert:", "- record:")))
        check(len(rule_health) == n_rules and set(rule_health) == {"ok"},
              "rule health: %s (%d rules in %s)" % (rule_health, n_rules, rules))

        # Prometheus's own view of the scrape, and the page through promtool.
        targets = prom.api("/api/v1/targets")["activeTargets"]
        check([(t["health"], t["lastError"]) for t in targets] == [("up", "")], "targets: %s" % targets)
        status, headers, body = http_get("http://127.0.0.1:%d/metrics" % port)
        check(status == 200 and headers.get("Content-Type") == "text/plain; version=0.0.4; charset=utf-8",
              "GET /metrics: %s %s" % (status, headers))
        promtool_check(body, "the probe's /metrics")
        check(b'{vm="we\\"b\\\\01-\xc3\xa9"}' in body, "the odd name's escaping: %r" %
              [l for l in body.split(b"\n") if b"we" in l][:3])

        # The probe stops: the scrape fails, and Prometheus says so.
        w.p.send_signal(signal.SIGTERM)
        check(w.p.wait(timeout=10) == 0, "the probe's exit status on SIGTERM: %s" % w.p.returncode)
        wait_for('up{job="sealcheck"} == 0 once the probe is gone',
                 lambda: list(prom.query('up{job="sealcheck"}').values()) == [0.0], timeout=30)
    finally:
        procs.stop_all()


def case_textfile(probe, rules, tmp):
    procs = Procs()
    try:
        sim = Sim(procs, tmp, GUESTS)
        tdir = os.path.join(tmp, "textfile")
        os.makedirs(tdir)
        path = os.path.join(tdir, "sealcheck.prom")
        w = Watch(procs, probe, watch_args(sim) + ["--textfile", path])
        nport = free_port()
        nlog = open(os.path.join(tmp, "node-exporter.log"), "wb")
        node = procs.start(["prometheus-node-exporter", "--collector.disable-defaults", "--collector.textfile",
                            "--collector.textfile.directory=" + tdir, "--web.listen-address=127.0.0.1:%d" % nport],
                           stdout=nlog, stderr=subprocess.STDOUT)

        def node_metrics():
            check(node.poll() is None, "node_exporter exited (%s)" % node.returncode)
            check(w.p.poll() is None, "the probe exited (%s): %s" % (w.p.returncode, w.stderr()))
            return http_get("http://127.0.0.1:%d/metrics" % nport)[2].decode()

        def sealed_line(text, vm, v):
            return ('sealcheck_vm_sealed{vm="%s"} %s' % (vm, v)) in text.split("\n")

        text = wait_for("honest-0000 sealed and liar-0000 not, through node_exporter",
                        lambda: (lambda t: t if sealed_line(t, "honest-0000", 1) and sealed_line(t, "liar-0000", 0)
                                 else None)(node_metrics()), timeout=60)
        check("node_textfile_scrape_error 0" in text.split("\n"), "node_textfile_scrape_error: %s" %
              [l for l in text.split("\n") if "scrape_error" in l])
        mtime = [l for l in text.split("\n") if l.startswith("node_textfile_mtime_seconds{")]
        check(len(mtime) == 1 and ('file="sealcheck.prom"' in mtime[0] or path in mtime[0]),
              "node_textfile_mtime_seconds: %s" % mtime)
        check(re.search(r'^sealcheck_build_info\{version="[^"]+"\} 1$', text, re.M), "build_info via node_exporter")

        with open(path, "rb") as f:
            promtool_check(f.read(), "the textfile")
        check(stat.S_IMODE(os.stat(path).st_mode) == 0o644, "mode %o" % stat.S_IMODE(os.stat(path).st_mode))

        # A verdict change reaches the file (within a second of the verdict; the deadline is generous).
        sim.cmd("become honest-0001 liar")
        wait_for("honest-0001 not sealed in the textfile",
                 lambda: sealed_line(node_metrics(), "honest-0001", 0), timeout=30)
        leftovers = [n for n in os.listdir(tdir) if n != "sealcheck.prom"]
        check(not leftovers, "temporary files left: %s" % leftovers)
        w.p.send_signal(signal.SIGTERM)
        check(w.p.wait(timeout=10) == 0, "the probe's exit status on SIGTERM: %s" % w.p.returncode)
        check(os.listdir(tdir) == ["sealcheck.prom"], "after SIGTERM: %s" % os.listdir(tdir))
    finally:
        procs.stop_all()


def case_options(probe, rules, tmp):
    """--metrics-listen refuses what is not ADDR:PORT (exit 2, the value escaped), an address in use
    (exit 2, why); a --textfile that cannot be written is said once and the watch goes on serving;
    [::1]:0 serves too."""
    procs = Procs()
    try:
        os.makedirs(os.path.join(tmp, "empty"))
        base = ["watch", "--socket-dir", os.path.join(tmp, "empty"), "--expect-digest", DIGEST]
        for bad in ["localhost:9479", "127.0.0.1", "[::1]9479", "127.0.0.1:65536", "::1:80", "\x1b[2Jx:1"]:
            r = subprocess.run([probe] + base + ["--metrics-listen", bad],
                               capture_output=True, timeout=20)
            err = r.stderr.decode("utf-8", "replace")
            check(r.returncode == 2 and "--metrics-listen" in err and "not ADDR:PORT" in err and "\x1b" not in err,
                  "--metrics-listen %r: exit %s, %r" % (bad, r.returncode, err))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            r = subprocess.run([probe] + base + ["--metrics-listen", "127.0.0.1:%d" % busy.getsockname()[1]],
                               capture_output=True, timeout=20)
            err = r.stderr.decode()
            check(r.returncode == 2 and "Address already in use" in err, "a busy port: exit %s, %r" %
                  (r.returncode, err))
        w = Watch(procs, probe, base[1:] + ["--metrics-listen", "[::1]:0", "--textfile",
                                            os.path.join(tmp, "missing", "sealcheck.prom")])
        port = w.port()
        status, headers, body = wait_for("/metrics over [::1]", lambda: http_get("http://[::1]:%d/metrics" % port))
        check(status == 200 and b'sealcheck_vms{state="sealed"} 0\n' in body, "GET over IPv6: %s %r" %
              (status, body[:200]))
        wait_for("the textfile's failure on stderr", lambda: "--textfile" in w.stderr(), timeout=10)
        check(w.stderr().count("--textfile") == 1 and "No such file or directory" in w.stderr(),
              "stderr: %r" % w.stderr())
        check(w.p.poll() is None, "the watch stopped over its textfile")
        w.p.send_signal(signal.SIGTERM)
        check(w.p.wait(timeout=10) == 0, "exit status on SIGTERM: %s" % w.p.returncode)
    finally:
        procs.stop_all()


CASES = {"scrape": case_scrape, "textfile": case_textfile, "options": case_options}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe")
    ap.add_argument("--rules")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("case", nargs="?")
    a = ap.parse_args()
    if a.list:
        print("\n".join(CASES))
        return 0
    need = {"scrape": ["promtool", "prometheus"], "textfile": ["promtool", "prometheus-node-exporter"]}.get(a.case, [])
    missing = [b for b in need if not shutil.which(b)]
    if missing:
        print("SKIP: %s not installed (scripts/install-deps.sh)" % ", ".join(missing))
        return 77
    tmp = tempfile.mkdtemp(prefix="sealcheck-prom-")
    try:
        CASES[a.case](a.probe, os.path.abspath(a.rules), tmp)
        print("ok", a.case)
        return 0
    except Fail as e:
        print("FAIL %s: %s" % (a.case, e))
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
