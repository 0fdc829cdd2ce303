#!/usr/bin/env python3
"""The fleet benchmark: `sealcheck-probe watch` on one event loop against
the same simulated guests attested by one `sealcheck-probe attest` process each.

    tests/bench/fleet-bench.py --probe BUILD/host-probe/sealcheck-probe [--json OUT]
        [--window S] [--scenarios a,b,c1,c2,d] [--peer-concurrency C] [--smoke] [--check]

Scenarios, one after the other in this one run, the same build, the same machine:
  a   watch, N=1,000 honest guests, --interval 1          (1,000 reports/s asked)
  b   watch, N=10,000 honest guests, --interval 10        (1,000 reports/s asked)
  c1  peer, the guests of a, each attested every 1 s by its own `attest --socket S
      --expect-digest D --timeout I --json` process, at most C at a time (default 8);
      its peak RSS from GNU time (/usr/bin/time) over 5 more runs
  c2  peer, the guests of b, every 10 s, the same way
  d   watch, N=1,000 with 10 % hostile (flood, oversized, malformed, replay, silent,
      slow; 100 of them, 17/17/17/17/16/16) beside 900 honest, --interval 1
  e   watch, N=1,000 with 3 % flooders (30 "bigflood" guests: per nonce 9 valid-CRC report
      frames of 240 KiB, valid reports of a stale nonce, 2.1 MiB) beside 970 honest, --interval 1:
      honest p50/p99 against a's
  fh  watch, 30 honest guests alone, --interval 1 \  the watch's CPU per round of one kind of
  ff  watch, 30 bigflood guests alone, --interval 1 /  guest: utime+stime over the rounds ended
  fc  watch, 30 capflood guests alone (9 stale reports just under the 64 KiB report cap a nonce: the
      most parsing a guest can cost a round), --interval 1; not in the default list
  t1  watch --state-dir --tpm-uki --tpm-keys, N=1,000 guests with a TPM, --interval 10: each report
      comes with TPM evidence (sim_guests.py "tpm": a fresh quote of the guest's own AK over a real
      boot's event log and PCRs, --tpm-capture), every link verified, counters kept per VM
  t10 the same, N=10,000: against b (the same N and interval without a TPM)
  t30 the same, N=10,000 at watch's default --interval 30 (333 reports/s asked)
      t1, t10 and t30 need --tpm-capture DIR (tests/bench/tpm-capture.sh makes one: a real sealed boot
      under swtpm, its evidence, report, UKI and keys); not in the default list

The guests are tests/fleet/sim_guests.py: a Python process playing many guests,
one UNIX socket each, the real protocol (split over processes: see RLIMIT_NOFILE
below); its --log has one line per report sent, "NAME NONCE
MONO_MS", CLOCK_MONOTONIC taken right before the write of its last byte. watch
runs with --events all: a JSON line per round, whose "nonce" is that round's
nonce and whose "verdict_mono_ms" is CLOCK_MONOTONIC when the verdict was
decided (host-probe/cmd-watch.c). Latency = verdict_mono_ms - the sim's stamp,
joined exactly on (VM name, nonce). For the peer the verdict time is when the
driver reaps the attest process (its --json output carries the nonce: the same
exact join); the peer's CPU is the attest processes' own (wait4 rusage), the
driver's (this Python loop's posix_spawn and reaping) is shown beside it.

Warm-up: the sockets made and the watch started, then WARMUP seconds (first
rounds are spread over min(interval, 1 s + 1 ms per VM), then one more
interval: 5 s at --interval 1, 25 s at --interval 10) are not measured; then a
WINDOW (default 30 s) in which reports sent (sim stamp) count; then a grace of
timeout + 2 s for the last verdicts before the watch is stopped.

Per scenario: validated reports/s (a valid report echoing its round's nonce,
judged), p50/p99/max latency, honest reports lost (sent before their round's
deadline and not judged SEALED; reports the sim sent after the watch's round
had already timed out are "late", counted apart), peak RSS (VmHWM) and CPU
seconds (utime+stime, /proc/PID/stat) of the watch and of the simulator.
RLIMIT_NOFILE is raised as far as allowed (65536, else the hard limit) for both;
a simulator process holds two descriptors per guest, so the guests are split over
as many simulator processes as that limit needs (10,000 guests: two under a
20,000 hard limit), their CPU and RSS summed. A markdown table goes to stdout, everything to --json.

Targets are printed PASS/MISS and never fail the run. --check (the smoke test,
with --smoke's small N) fails only on correctness: an honest report lost, a
hostile guest judged SEALED or never judged, a silent guest never marked stale,
an honest guest judged other than SEALED (a round that timed out is counted, not
failed), an attest that is not SEALED (one without a report is counted), output
that does not parse.
"""
import argparse
import heapq
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, "..", "fleet", "sim_guests.py")
TEMPLATE = os.path.join(HERE, "..", "probe", "sealed-report.json")
TICK = os.sysconf("SC_CLK_TCK")
NOFILE = 65536
HOSTILE_MIX = ("flood", "oversized", "malformed", "replay", "silent", "slow")


def mono_ms():
    return time.clock_gettime(time.CLOCK_MONOTONIC) * 1000.0


def digest():
    with open(TEMPLATE) as f:
        return json.load(f)["checks"]["root_mount"]["digest"]


# ---- /proc ----

def cpu_s(pid):
    """utime + stime of PID, in seconds (ticks of /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def run_wait_s(pid):
    """Seconds PID's threads spent runnable but waiting for a CPU (/proc/PID/schedstat, the 2nd field)."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def on_cpu_s(pid):
    """Seconds PID's main thread ran (/proc/PID/schedstat, the 1st field, in ns: finer than the ticks of
    /proc/PID/stat, which count 10 ms at a time). The watch is one thread (no --metrics-listen here)."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def n_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(hard, NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def pct(sorted_values, p):
    """Nearest rank."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


# ---- the simulator and the watch ----

class Sim:
    def __init__(self, tmp, guests, extra=(), nice=0, log_name="sim.log"):
        self.dir = os.path.join(tmp, "sockets")
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(tmp, log_name)
        args = [sys.executable, SIM, "--dir", self.dir, "--guests", guests, "--log", self.log] + list(extra)
        if nice:
            args = ["nice", "-n", str(nice)] + args
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        line = self.p.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError("the simulator did not start: %r" % line)
        self.pid = self.p.pid  # `nice` execs its command: the PID is the simulator's own

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        answer = self.p.stdout.readline().strip()
        if not answer.startswith("ok"):
            raise RuntimeError("simulator: %s -> %r" % (line, answer))
        return answer[3:]

    def stop(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
            except BrokenPipeError:
                pass
            try:
                self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class Sims:
    """The guests over as many simulator processes as the descriptor limit needs: a listening socket
    and a connection per guest, so at most (RLIMIT_NOFILE - 500) / 2 guests a process (10,000 guests
    are two processes under a 20,000 limit this sandbox cannot raise). The first plays the spec
    (honest-0000.. and the hostile ones); the others add their honest guests by name on the control
    channel, all in the one socket folder."""

    def __init__(self, tmp, n_honest, hostile_spec=(), per=None, kind="honest", sim_extra=()):
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        per = per or max(100, (soft - 500) // 2)
        n_total = n_honest + sum(c for _, c in hostile_spec)
        k = max(1, -(-n_total // per))
        share = -(-n_honest // k)
        first = min(n_honest, share)
        spec = ["%s:%d" % (kind, first)] + ["%s:%d" % (b, c) for b, c in hostile_spec if c]
        self.sims = [Sim(tmp, ",".join(spec), extra=sim_extra)]
        self.dir = self.sims[0].dir
        at = first
        for i in range(1, k):
            sim = Sim(tmp, "%s:0" % kind, extra=sim_extra, log_name="sim%d.log" % i)
            names = ["%s-%04d" % (kind, j) for j in range(at, min(n_honest, at + share))]
            at += len(names)
            sim.p.stdin.write("".join("add %s %s\n" % (nm, kind) for nm in names))
            sim.p.stdin.flush()
            for nm in names:
                answer = sim.p.stdout.readline()
                if not answer.startswith("ok added"):
                    raise RuntimeError("simulator %d: add %s -> %r" % (i, nm, answer))
            self.sims.append(sim)
        self.pids = [x.pid for x in self.sims]
        self.logs = [x.log for x in self.sims]

    def cpu(self):
        return sum(cpu_s(p) for p in self.pids)

    def hwm(self):
        return sum(status_kb(p, "VmHWM") for p in self.pids)

    def stop(self):
        for x in self.sims:
            x.stop()

    def sent(self):
        out = []
        for log in self.logs:
            out += read_sim_log(log)
        return out


class Watch:
    """sealcheck-probe watch --events all; its stdout collected raw by a thread (parsed afterwards),
    or handed line by line to on_line (the soak)."""

    def __init__(self, probe, sock_dir, interval, extra=(), err_path=None, on_line=None, nice=0, dig=None):
        args = [probe, "watch", "--socket-dir", sock_dir, "--expect-digest", dig or digest(), "--interval", str(interval),
                "--events", "all", "--json"] + list(extra)
        if nice:
            args = ["nice", "-n", str(nice)] + args
        self.err_path = err_path
        self.err = open(err_path, "wb") if err_path else subprocess.DEVNULL
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err)
        self.pid = self.p.pid
        self.chunks, self.on_line = [], on_line
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        fd = self.p.stdout.fileno()
        rest = b""
        while True:
            data = os.read(fd, 1 << 20)
            if not data:
                break
            if self.on_line:
                rest += data
                *lines, rest = rest.split(b"\n")
                for line in lines:
                    self.on_line(line)
            else:
                self.chunks.append(data)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.t.join(timeout=30)
        if self.err_path:
            self.err.close()
        return rc

    def lines(self):
        return b"".join(self.chunks).split(b"\n")


def is_round_end(d):
    """A line for the end of a round (not the stale timer's own line, which repeats the last round's nonce)."""
    return d.get("event") == "round" or (d.get("event") == "change" and set(d.get("changed") or ()) != {"stale"})


def read_sim_log(path):
    sent = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                sent.append((parts[0], parts[1], float(parts[2])))
    return sent


def behaviour(name):
    return name.rsplit("-", 1)[0]


# ---- a watch scenario ----

def tpm_setup(args, tmp):
    """The simulator's and the watch's TPM options over --tpm-capture, and the capture's digest."""
    cap = args.tpm_capture
    state = os.path.join(tmp, "state")
    os.mkdir(state, 0o700)
    with open(os.path.join(cap, "report.json")) as f:
        dig = json.load(f)["checks"]["root_mount"]["digest"]
    sim_extra = ["--template", os.path.join(cap, "report.json"), "--tpm-evidence", os.path.join(cap, "evidence.json"),
                 "--tpm-state", state]
    watch_extra = ["--state-dir", state, "--tpm-uki", os.path.join(cap, "uki.efi"), "--tpm-keys", os.path.join(cap, "keys")]
    return sim_extra, watch_extra, dig


def run_watch(args, label, n_honest, hostile, interval, warmup, window, tmp_root, kind="honest"):
    """hostile: {behaviour: count}; kind: the well-behaved guests' behaviour (honest, or tpm: with TPM
    evidence, --tpm-capture). Returns the result dict."""
    tmp = tempfile.mkdtemp(prefix=label + "-", dir=tmp_root)
    timeout = min(interval, 20)
    sim_extra, watch_extra, dig = tpm_setup(args, tmp) if kind == "tpm" else ((), (), None)
    t_start = mono_ms()
    sim = Sims(tmp, n_honest, list(hostile.items()), per=args.per_sim, kind=kind, sim_extra=sim_extra)
    t_ready = mono_ms()
    watch = Watch(args.probe, sim.dir, interval, extra=watch_extra, err_path=os.path.join(tmp, "watch.err"), dig=dig)
    try:
        time.sleep(warmup)
        t0 = mono_ms()
        cw0, cs0, q0, x0 = cpu_s(watch.pid), sim.cpu(), run_wait_s(watch.pid), on_cpu_s(watch.pid)
        time.sleep(window)
        t1 = mono_ms()
        cw1, cs1, q1, x1 = cpu_s(watch.pid), sim.cpu(), run_wait_s(watch.pid), on_cpu_s(watch.pid)
        time.sleep(timeout + 2)
        fds_w = n_fds(watch.pid)
        hwm_w, hwm_s = status_kb(watch.pid, "VmHWM"), sim.hwm()
        rss_w = status_kb(watch.pid, "VmRSS")
    finally:
        rc = watch.stop()
        sim.stop()
    return analyse_watch(label, watch, sim, n_honest, hostile, interval, timeout, warmup, window, t_start, t_ready,
                         t0, t1, cw1 - cw0, cs1 - cs0, hwm_w, hwm_s, rss_w, fds_w, rc, tmp, args,
                         q1 - q0 if q0 is not None and q1 is not None else None,
                         x1 - x0 if x0 is not None and x1 is not None else None, kind)


def analyse_watch(label, watch, sim, n_honest, hostile, interval, timeout, warmup, window, t_start, t_ready, t0, t1,
                  cpu_w, cpu_s_, hwm_w, hwm_s, rss_w, fds_w, rc, tmp, args, run_wait=None, on_cpu=None, kind="honest"):
    problems = []
    ends = {}  # (vm, nonce) -> first round-end line
    per_vm = {}  # vm -> list of round-end lines (all times)
    stale_seen = set()
    first_verdict = {}
    dropped = 0
    validated = 0
    bad_lines = 0
    for raw in watch.lines():
        if not raw.strip():
            continue
        try:
            d = json.loads(raw)
        except ValueError:
            bad_lines += 1
            continue
        if d.get("schema") != "sealcheck.watch.v1":
            bad_lines += 1
            continue
        dropped = max(dropped, d.get("dropped_lines") or 0)
        vm = d.get("vm")
        if d.get("stale"):
            stale_seen.add(vm)
        if not is_round_end(d):
            continue
        per_vm.setdefault(vm, []).append(d)
        first_verdict.setdefault(vm, d["verdict_mono_ms"])
        if d.get("nonce"):
            ends.setdefault((vm, d["nonce"]), d)
        if d.get("up") and t0 <= d["verdict_mono_ms"] < t1:
            validated += 1
    if bad_lines:
        problems.append("%d output lines do not parse as sealcheck.watch.v1" % bad_lines)
    if rc != 0:
        problems.append("watch exited %d on SIGTERM" % rc)

    lat, lost, late, sent_in = [], [], 0, 0
    for name, nonce, t in sim.sent():
        if behaviour(name) != kind or not (t0 <= t < t1):
            continue
        sent_in += 1
        d = ends.get((name, nonce))
        if d and d.get("verdict") == "sealed" and d.get("up"):
            lat.append(d["verdict_mono_ms"] - t)
        elif d and d.get("result") == "timeout" and t > d["verdict_mono_ms"] - 100.0:
            late += 1  # sent at or after the deadline of a round that had already ended
        else:
            lost.append((name, nonce, t, d and d.get("result")))
    lat.sort()
    if lost:
        problems.append("%d honest reports lost, e.g. %s" % (len(lost), lost[:3]))

    honest_names = ["%s-%04d" % (kind, i) for i in range(n_honest)]
    never = [n for n in honest_names if n not in per_vm]
    in_window = [d for n in honest_names for d in per_vm.get(n, ()) if t0 <= d["verdict_mono_ms"] < t1]
    # A round that timed out is a slow machine, not a wrong verdict: counted, never a problem.
    honest_timeouts = sum(1 for d in in_window if d.get("result") == "timeout")
    not_sealed = sorted({d["vm"] for d in in_window if d.get("verdict") != "sealed" and d.get("result") != "timeout"})
    if never:
        problems.append("%d honest guests never judged, e.g. %s" % (len(never), never[:3]))
    if not_sealed:
        problems.append("%d honest guests not SEALED in the window, e.g. %s" % (len(not_sealed), not_sealed[:3]))
    if kind == "tpm":
        # SEALED by a guest with a TPM only when every TPM link was proven (evidence "tpm").
        unproven = [d for d in in_window if d.get("verdict") == "sealed" and d.get("evidence") != "tpm"]
        if unproven:
            problems.append("%d TPM rounds SEALED without evidence \"tpm\", e.g. %s" % (
                len(unproven), [(d["vm"], d.get("evidence")) for d in unproven[:3]]))
    judged_late = [n for n in honest_names if first_verdict.get(n, float("inf")) >= t0]
    rounds_in = {}
    for vm, ds in per_vm.items():
        k = sum(1 for d in ds if t0 <= d["verdict_mono_ms"] < t1)
        rounds_in[behaviour(vm)] = rounds_in.get(behaviour(vm), 0) + k
    hostile_out = {}
    for b, c in hostile.items():
        names = ["%s-%04d" % (b, i) for i in range(c)]
        sealed = [n for n in names if any(d.get("verdict") == "sealed" for d in per_vm.get(n, ()))]
        unjudged = [n for n in names if not per_vm.get(n)]
        stale = [n for n in names if n in stale_seen]
        results = sorted({d.get("result") for n in names for d in per_vm.get(n, ())} - {None})
        hostile_out[b] = {"guests": c, "judged_sealed": len(sealed), "never_judged": len(unjudged),
                          "marked_stale": len(stale), "results": results}
        if sealed:
            problems.append("%s: %d judged SEALED" % (b, len(sealed)))
        if unjudged:
            problems.append("%s: %d never judged" % (b, len(unjudged)))
        if b == "silent" and len(stale) != c:
            problems.append("silent: %d of %d never marked stale" % (c - len(stale), c))
    wsec = (t1 - t0) / 1000.0
    res = {
        "scenario": label, "kind": "watch", "guests": kind, "n": n_honest + sum(hostile.values()), "honest": n_honest,
        "hostile": hostile, "interval_s": interval, "timeout_s": timeout, "warmup_s": warmup,
        "window_s": round(wsec, 3), "startup_s": round((t_ready - t_start) / 1000.0, 3),
        "honest_first_verdict_after_window_start": len(judged_late),
        "validated_reports": validated, "reports_per_s": validated / wsec,
        "honest_sent": sent_in, "honest_judged": len(lat), "honest_lost": len(lost), "honest_late": late,
        "honest_round_timeouts": honest_timeouts,
        "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": lat[-1] if lat else None,
        "watch": {"cpu_s": cpu_w, "run_queue_wait_s": run_wait, "peak_rss_kib": hwm_w, "rss_end_kib": rss_w, "fds_end": fds_w,
                  "cpu_us_per_report": cpu_w * 1e6 / validated if validated else None,
                  "on_cpu_s": on_cpu,
                  "cpu_us_per_round": (on_cpu if on_cpu is not None else cpu_w) * 1e6 / sum(rounds_in.values())
                  if sum(rounds_in.values()) else None},
        "rounds_in_window": rounds_in,
        "sim": {"cpu_s": cpu_s_, "peak_rss_kib": hwm_s, "processes": len(sim.pids)},
        "dropped_lines": dropped, "hostile_result": hostile_out, "problems": problems,
    }
    res["latency_over_ms"] = {str(x): sum(1 for v in lat if v > x) for x in (1, 5, 10, 20, 50, 100)}
    if not problems and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        with open(os.path.join(tmp, "watch.jsonl"), "wb") as f:
            f.write(b"".join(watch.chunks))
        res["tmp"] = tmp
    return res


# ---- the peer: one attest process per guest per interval ----

def peer_peak_rss(probe, sock_dir, names, dig, runs=5):
    """One attest process's peak RSS, KiB: GNU time's %M over a few runs. Not wait4's ru_maxrss of the
    driver's children: posix_spawn's vfork child folds the driver's own (large) RSS into it at exec."""
    if not os.access("/usr/bin/time", os.X_OK):
        return None
    peak = 0
    for name in names[:runs]:
        r = subprocess.run(["/usr/bin/time", "-f", "%M", probe, "attest", "--socket",
                            os.path.join(sock_dir, name + ".sock"), "--expect-digest", dig, "--json"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        last = (r.stderr.strip().splitlines() or ["0"])[-1]
        if last.isdigit():
            peak = max(peak, int(last))
    return peak or None


def run_peer(args, label, n, interval, warmup, window, tmp_root):
    tmp = tempfile.mkdtemp(prefix=label + "-", dir=tmp_root)
    sim = Sims(tmp, n, per=args.per_sim)
    dig = digest()
    names = ["honest-%04d" % i for i in range(n)]
    conc = args.peer_concurrency
    slots = list(range(conc))
    out_dir = os.path.join(tmp, "out")
    os.makedirs(out_dir)
    start = mono_ms()
    heap = [(start + (i * interval * 1000.0) / n, i) for i in range(n)]  # spread evenly over the interval
    heapq.heapify(heap)
    running = {}  # pidfd -> (pid, guest, slot, due)
    poller = select.poll()
    t0 = start + warmup * 1000.0
    t1 = t0 + window * 1000.0
    drv0 = sim0 = None
    done = []  # (guest, slot output, rc, reap_ms, cpu_s, maxrss_kib)
    timeout_s = str(max(1, min(interval, 20)))
    env = dict(os.environ)
    try:
        while True:
            now = mono_ms()
            if drv0 is None and now >= t0:
                drv0, sim0 = os.times(), sim.cpu()
            if now >= t1 and not running:
                break
            while slots and heap and heap[0][0] <= now and now < t1:
                due, i = heapq.heappop(heap)
                slot = slots.pop()
                out = os.path.join(out_dir, "%d.json" % slot)
                pid = os.posix_spawn(args.probe, [args.probe, "attest", "--socket", os.path.join(sim.dir, names[i] + ".sock"),
                                                  "--expect-digest", dig, "--timeout", timeout_s, "--json"], env,
                                     file_actions=[(os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
                                                   (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)])
                pfd = os.pidfd_open(pid)
                poller.register(pfd, select.POLLIN)
                running[pfd] = (pid, i, slot, due, now)
                heapq.heappush(heap, (due + interval * 1000.0, i))  # its next round (late ones go when a slot frees)
            if now >= t1 and not running:
                break
            wait = 100.0
            if slots and heap and now < t1:
                wait = max(0.0, min(wait, heap[0][0] - now))
            for pfd, _ in poller.poll(wait if running else min(wait, 5.0)):
                pid, i, slot, due, spawned = running.pop(pfd)
                poller.unregister(pfd)
                os.close(pfd)
                _, status, ru = os.wait4(pid, 0)
                reaped = mono_ms()
                with open(os.path.join(out_dir, "%d.json" % slot), "rb") as f:
                    out = f.read()
                slots.append(slot)
                done.append((i, out, os.waitstatus_to_exitcode(status), spawned, reaped, ru.ru_utime + ru.ru_stime,
                             ru.ru_maxrss))
        drv1, sim1 = os.times(), sim.cpu()
        hwm_s = sim.hwm()
        peer_rss = peer_peak_rss(args.probe, sim.dir, names, dig)
    finally:
        for pfd, (pid, *_rest) in running.items():
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        sim.stop()
    sent = {(nm, nonce): t for nm, nonce, t in sim.sent()}
    lat, cpu, validated, failed, no_report = [], 0.0, 0, [], 0
    for i, out, rc, spawned, reaped, c, _maxrss in done:
        if not (t0 <= spawned < t1):
            continue
        cpu += c
        try:
            d = json.loads(out)
        except ValueError:
            failed.append((names[i], rc, "no JSON"))
            continue
        if rc == 0 and d.get("verdict") == "sealed":
            validated += 1
            t = sent.get((names[i], d.get("nonce")))
            if t is not None:
                lat.append(reaped - t)
        elif rc == 2:
            no_report += 1  # no report before --timeout: a loaded machine, not a wrong verdict
        else:
            failed.append((names[i], rc, d.get("verdict")))
    lat.sort()
    latency_over = {str(x): sum(1 for v in lat if v > x) for x in (1, 5, 10, 20, 50, 100)}
    drv_cpu = (drv1.user + drv1.system) - (drv0.user + drv0.system) if drv0 else 0.0
    wsec = window
    problems = []
    if failed:
        problems.append("%d attest runs not SEALED, e.g. %s" % (len(failed), failed[:3]))
    res = {
        "scenario": label, "kind": "peer", "n": n, "interval_s": interval, "warmup_s": warmup, "window_s": wsec,
        "concurrency": conc, "asked_per_s": n / interval,
        "validated_reports": validated, "reports_per_s": validated / wsec, "no_report": no_report,
        "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": lat[-1] if lat else None,
        "peer": {"cpu_s": cpu, "peak_rss_kib_per_process": peer_rss,
                 "cpu_us_per_report": cpu * 1e6 / validated if validated else None},
        "driver_cpu_s": drv_cpu, "latency_over_ms": latency_over,
        "sim": {"peak_rss_kib": hwm_s, "cpu_s": sim1 - sim0 if drv0 else None, "processes": len(sim.pids)},
        "problems": problems,
    }
    if not problems and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        res["tmp"] = tmp
    return res


# ---- the report ----

def fmt(v, spec="%.2f"):
    return "-" if v is None else spec % v


def table(results):
    rows = ["| scenario | N | interval | validated reports/s | p50 ms | p99 ms | max ms | honest lost | "
            "RSS peak MiB | CPU s | CPU µs/report | sim CPU s | sim RSS MiB |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r["kind"] == "watch":
            who = r["watch"]
            rows.append("| %s watch%s | %d | %d s | %.0f | %s | %s | %s | %d of %d | %.1f | %.2f | %s | %.2f%s | %.1f |" % (
                r["scenario"], " (%d hostile)" % sum(r["hostile"].values()) if r["hostile"] else
                " (TPM evidence)" if r.get("guests") == "tpm" else "", r["n"],
                r["interval_s"], r["reports_per_s"], fmt(r["p50_ms"]), fmt(r["p99_ms"]), fmt(r["max_ms"]),
                r["honest_lost"], r["honest_sent"], who["peak_rss_kib"] / 1024.0, who["cpu_s"],
                fmt(who["cpu_us_per_report"], "%.0f"), r["sim"]["cpu_s"],
                " (%d processes)" % r["sim"]["processes"] if r["sim"]["processes"] > 1 else "",
                r["sim"]["peak_rss_kib"] / 1024.0))
        else:
            who = r["peer"]
            rows.append("| %s peer: attest ×%d at a time | %d | %d s | %.0f (of %.0f asked) | %s | %s | %s | - | "
                        "%s per process | %.2f (+ driver %.2f) | %s | %s%s | %.1f |" % (
                            r["scenario"], r["concurrency"], r["n"], r["interval_s"], r["reports_per_s"],
                            r["asked_per_s"], fmt(r["p50_ms"]), fmt(r["p99_ms"]), fmt(r["max_ms"]),
                            fmt(who["peak_rss_kib_per_process"] and who["peak_rss_kib_per_process"] / 1024.0, "%.1f"),
                            who["cpu_s"], r["driver_cpu_s"],
                            fmt(who["cpu_us_per_report"], "%.0f"), fmt(r["sim"]["cpu_s"]),
                            " (%d processes)" % r["sim"]["processes"] if r["sim"]["processes"] > 1 else "",
                            r["sim"]["peak_rss_kib"] / 1024.0))
    return "\n".join(rows)


def targets(by):
    out = []

    def t(name, ok, detail):
        out.append({"target": name, "result": "-" if ok is None else ("PASS" if ok else "MISS"), "measured": detail})

    a, b, c1, c2, d = (by.get(k) for k in ("a", "b", "c1", "c2", "d"))
    if a:
        t("N=%d p99 < 20 ms" % a["n"], a["p99_ms"] is not None and a["p99_ms"] < 20, "%s ms" % fmt(a["p99_ms"]))
        t("N=%d RSS < 64 MiB" % a["n"], a["watch"]["peak_rss_kib"] < 64 * 1024,
          "%.1f MiB" % (a["watch"]["peak_rss_kib"] / 1024.0))
    if b:
        t("N=%d p99 < 100 ms" % b["n"], b["p99_ms"] is not None and b["p99_ms"] < 100, "%s ms" % fmt(b["p99_ms"]))
        t("N=%d RSS < 256 MiB" % b["n"], b["watch"]["peak_rss_kib"] < 256 * 1024,
          "%.1f MiB" % (b["watch"]["peak_rss_kib"] / 1024.0))
    watches = [r for r in (a, b, d, by.get("t1"), by.get("t10"), by.get("t30")) if r]
    if watches:
        lost = sum(r["honest_lost"] for r in watches)
        t("no honest report lost", lost == 0, "%d lost of %d sent (%d late, after their round's deadline)" % (
            lost, sum(r["honest_sent"] for r in watches), sum(r["honest_late"] for r in watches)))
    for w, p in ((a, c1), (b, c2)):
        if w and p and w["watch"]["cpu_us_per_report"] and p["peer"]["cpu_us_per_report"]:
            ratio = w["watch"]["cpu_us_per_report"] / p["peer"]["cpu_us_per_report"]
            t("watch CPU per report < 1/20 of the peer's (%s vs %s)" % (w["scenario"], p["scenario"]), ratio < 0.05,
              "%.0f vs %.0f µs: 1/%.0f" % (w["watch"]["cpu_us_per_report"], p["peer"]["cpu_us_per_report"], 1 / ratio))
    if a and d and a["p99_ms"] and d["p99_ms"] is not None:
        g = d["p99_ms"] / a["p99_ms"]
        t("hostile mix: honest p99 growth < 1.5x", g < 1.5, "%.2f ms vs %.2f ms: %.2fx" % (d["p99_ms"], a["p99_ms"], g))
    e, fh, ff = (by.get(k) for k in ("e", "fh", "ff"))
    if a and e and a["p99_ms"] and e["p99_ms"] is not None:
        g = e["p99_ms"] / a["p99_ms"]
        t("3 % flooders: honest p99 within 1.5x of all-honest (e vs a)", g < 1.5,
          "%.2f ms vs %.2f ms: %.2fx (p50 %s vs %s ms)" % (e["p99_ms"], a["p99_ms"], g, fmt(e["p50_ms"]), fmt(a["p50_ms"])))
    if fh and ff and fh["watch"]["cpu_us_per_round"] and ff["watch"]["cpu_us_per_round"]:
        g = ff["watch"]["cpu_us_per_round"] / fh["watch"]["cpu_us_per_round"]
        t("a flooder's CPU per round within 10x an honest guest's (ff vs fh)", g < 10,
          "%.0f vs %.0f µs: %.1fx" % (ff["watch"]["cpu_us_per_round"], fh["watch"]["cpu_us_per_round"], g))
    for k in ("t1", "t10", "t30"):
        x = by.get(k)
        if not x:
            continue
        t("TPM N=%d every %d s: p99 < 5 ms" % (x["n"], x["interval_s"]), x["p99_ms"] is not None and x["p99_ms"] < 5,
          "%s ms" % fmt(x["p99_ms"]))
        core = x["watch"]["cpu_s"] / x["window_s"]
        t("TPM N=%d every %d s: watch CPU < 1/4 core" % (x["n"], x["interval_s"]), core < 0.25,
          "%.3f of a core (%.2f s in %.0f s, %s µs a report)" % (core, x["watch"]["cpu_s"], x["window_s"],
                                                                fmt(x["watch"]["cpu_us_per_report"], "%.0f")))
    t10 = by.get("t10")
    if b and t10 and b["watch"]["cpu_us_per_report"] and t10["watch"]["cpu_us_per_report"]:
        t("TPM evidence's cost per report (t10 vs b)", None, "%.0f vs %.0f µs: %.2fx" % (
            t10["watch"]["cpu_us_per_report"], b["watch"]["cpu_us_per_report"],
            t10["watch"]["cpu_us_per_report"] / b["watch"]["cpu_us_per_report"]))
    fc = by.get("fc")
    if fh and fc and fh["watch"]["cpu_us_per_round"] and fc["watch"]["cpu_us_per_round"]:
        g = fc["watch"]["cpu_us_per_round"] / fh["watch"]["cpu_us_per_round"]
        t("a guest flooding just under the report cap, CPU per round (fc vs fh)", None,
          "%.0f vs %.0f µs: %.1fx" % (fc["watch"]["cpu_us_per_round"], fh["watch"]["cpu_us_per_round"], g))
    if a and e and a["watch"]["cpu_us_per_round"] and e["rounds_in_window"].get("bigflood"):
        # The same from the mixed run: its CPU less its honest rounds at a's cost per round.
        rest = (e["watch"]["on_cpu_s"] if e["watch"]["on_cpu_s"] is not None else e["watch"]["cpu_s"]) * 1e6 - \
            e["rounds_in_window"].get("honest", 0) * a["watch"]["cpu_us_per_round"]
        est = rest / e["rounds_in_window"]["bigflood"]
        t("... estimated inside e (CPU less honest rounds at a's cost)", None,
          "%.0f µs per flooder round, %.1fx a's %.0f µs" % (est, est / a["watch"]["cpu_us_per_round"],
                                                          a["watch"]["cpu_us_per_round"]))
    return out


def round_table(results):
    rows = ["| scenario | rounds in the window, by guest | watch on CPU s (schedstat) | CPU µs per round |",
            "|---|---|---|---|"]
    for r in results:
        if r["kind"] == "watch":
            rows.append("| %s | %s | %s | %s |" % (
                r["scenario"], ", ".join("%s %d" % kv for kv in sorted(r["rounds_in_window"].items())),
                fmt(r["watch"]["on_cpu_s"], "%.3f"), fmt(r["watch"]["cpu_us_per_round"], "%.0f")))
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--window", type=float)
    ap.add_argument("--scenarios", default="a,b,c1,c2,d")
    ap.add_argument("--peer-concurrency", type=int, default=8)
    ap.add_argument("--smoke", action="store_true", help="small N, short windows (the test)")
    ap.add_argument("--check", action="store_true", help="exit 1 on a correctness problem (never on timing)")
    ap.add_argument("--keep", action="store_true", help="keep the scenarios' folders")
    ap.add_argument("--per-sim", type=int, help="guests per simulator process (default: what RLIMIT_NOFILE allows)")
    ap.add_argument("--fleet", type=int, help="N of a and e instead of 1,000 (e: 3 %% of it flooders); on a busy "
                    "machine a smaller fleet keeps the simulator answering in time")
    ap.add_argument("--tpm-capture", help="for t1 and t10: a folder with a real TPM boot's evidence.json, "
                    "report.json, uki.efi and keys/ (tests/bench/tpm-capture.sh)")
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    args.probe = os.path.abspath(args.probe)
    nofile = raise_nofile()
    if args.smoke:
        # Small, and --interval 2 (a 2 s deadline) so a loaded test machine still answers in time.
        plan = {"a": (50, 2, 4), "b": (200, 4, 6), "c1": (50, 2, 2), "c2": (200, 4, 2), "d": (54, 2, 4),
                "e": (48, 2, 4), "fh": (4, 2, 4), "ff": (4, 2, 4), "fc": (4, 2, 4), "t1": (20, 2, 4), "t10": (60, 4, 6),
                "t30": (60, 6, 8)}
        window = args.window or 4
    else:
        plan = {"a": (1000, 1, 5), "b": (10000, 10, 25), "c1": (1000, 1, 3), "c2": (10000, 10, 3), "d": (900, 1, 5),
                "e": (970, 1, 5), "fh": (30, 1, 5), "ff": (30, 1, 5), "fc": (30, 1, 5), "t1": (1000, 10, 25),
                "t10": (10000, 10, 25), "t30": (10000, 30, 45)}
        window = args.window or 30
    if args.fleet:
        plan["a"] = (args.fleet,) + plan["a"][1:]
        plan["e"] = (args.fleet - -(-args.fleet * 3 // 100),) + plan["e"][1:]
    keys = args.scenarios.split(",")
    unknown = [k for k in keys if k not in plan]
    if unknown:
        ap.error("unknown scenario(s) %s (known: %s)" % (", ".join(unknown), ", ".join(plan)))
    if any(k in ("t1", "t10", "t30") for k in keys):
        if not args.tpm_capture:
            ap.error("t1, t10 and t30 need --tpm-capture DIR (tests/bench/tpm-capture.sh)")
        args.tpm_capture = os.path.abspath(args.tpm_capture)
        missing = [f for f in ("evidence.json", "report.json", "uki.efi", "keys/db.crt")
                   if not os.path.isfile(os.path.join(args.tpm_capture, f))]
        if missing:
            ap.error("--tpm-capture %s: no %s" % (args.tpm_capture, ", ".join(missing)))
    tmp_root = tempfile.mkdtemp(prefix="fleet-bench-", dir=args.tmp)
    results, by = [], {}
    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
            "probe": args.probe, "nofile": nofile, "window_s": window, "smoke": args.smoke,
            "loadavg_start": os.getloadavg()}
    for key in keys:
        n, interval, warmup = plan[key]
        flooders = {"e": max(1, -(-n * 3 // 97)), "ff": n, "fc": n}.get(key, 0)  # e: 3 % of the whole
        print("fleet-bench: %s (N=%d, every %d s, warm-up %d s, window %g s)" % (
            key, n + (max(len(HOSTILE_MIX), n // 9) if key == "d" else 0) + (flooders if key == "e" else 0),
            interval, warmup, window), file=sys.stderr, flush=True)
        if key in ("a", "b", "fh"):
            r = run_watch(args, key, n, {}, interval, warmup, window, tmp_root)
        elif key in ("t1", "t10", "t30"):
            r = run_watch(args, key, n, {}, interval, warmup, window, tmp_root, kind="tpm")
        elif key == "e":
            r = run_watch(args, key, n, {"bigflood": flooders}, interval, warmup, window, tmp_root)
        elif key in ("ff", "fc"):
            r = run_watch(args, key, 0, {"bigflood" if key == "ff" else "capflood": flooders}, interval, warmup,
                          window, tmp_root)
        elif key == "d":
            hostile_n = max(len(HOSTILE_MIX), n // 9)  # 10 % of the whole
            hostile = {b: hostile_n // len(HOSTILE_MIX) + (1 if i < hostile_n % len(HOSTILE_MIX) else 0)
                       for i, b in enumerate(HOSTILE_MIX)}
            r = run_watch(args, key, n, hostile, interval, warmup, window, tmp_root)
        else:
            r = run_peer(args, key, n, interval, warmup, window, tmp_root)
        r["loadavg_after"] = os.getloadavg()
        results.append(r)
        by[key] = r
        for p in r["problems"]:
            print("fleet-bench: %s: PROBLEM: %s" % (key, p), file=sys.stderr, flush=True)
    tg = targets(by)
    print(table(results))
    print()
    print(round_table(results))
    print()
    print("| target | result | measured |")
    print("|---|---|---|")
    for x in tg:
        print("| %s | %s | %s |" % (x["target"], x["result"], x["measured"]))
    doc = {"schema": "sealcheck.fleet-bench.v1", "info": info, "results": results, "targets": tg}
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(doc, f, indent=1)
    if not any("tmp" in r for r in results):
        shutil.rmtree(tmp_root, ignore_errors=True)
    problems = [p for r in results for p in r["problems"]]
    if problems and args.check:
        print("fleet-bench: %d correctness problems (see above)" % len(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
