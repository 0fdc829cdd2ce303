#!/usr/bin/env python3
"""The fleet soak: `sealcheck-probe watch` over 1,000 simulated guests with
churn for a long time, its memory and descriptors sampled, every verdict accounted for.

    tests/bench/fleet-soak.py --probe BUILD/host-probe/sealcheck-probe [--duration S]
        [--guests N] [--interval S] [--churn-ms MS] [--warmup S] [--out FILE] [--json FILE]
        [--check] [--seed N] [--recreate-dir-at S ...] [--libvirt URI [--libvirtd-restart-at S ...
        --libvirtd-restart-cmd CMD]]

Defaults: 1,000 guests, 30 minutes, --interval 2 (500 reports/s), stale after 3
intervals, one churn event every 500 ms, warm-up 120 s (a quarter of shorter runs).
The guests are tests/fleet/sim_guests.py; the churn is driven here, on its stdin
control channel, from random.Random(--seed), so each event's time is known:

  vanish    `become NAME silent`: the socket stays, the guest stops answering. It
            must be marked stale (a watch line with "stale": true) within --stale of
            its last valid report, so at the latest --stale + SLACK (1 s) after the
            command; it comes back (`become NAME honest`) once that was seen (or
            after 3 x --stale, then counted as not marked).
  gone      `remove NAME`: socket deleted; the watch must say "removed" (SLACK). It may
            be added again later (`add NAME honest`).
  restart   `restart NAME`: socket deleted and made again, connections cut.
  reconnect `close NAME`: its connections cut, the socket kept.
  appear    `add NAME honest`, a guest never seen before.
  recreate-dir (--recreate-dir-at S, any number): the socket directory removed and made
            again with every guest's socket in it (sim_guests.py `recreate-dir`), a cut
            for every guest; each live guest must be judged SEALED again within
            --interval + 3 s + 5 s (the probe looks for a directory that came back at
            least every 2 s), none lost for good.
  libvirtd restart (--libvirtd-restart-at S, with --libvirt URI given to the watch): CMD
            run by the shell; no guest may miss a round for it (the socket directory's
            VMs do not go through libvirtd): no report lost, no cut counted.
After gone-and-back, restart, reconnect and appear the guest must be judged SEALED
again, within --interval + 3 s of the command (the first round comes within an
interval; a cut connection is found at the next round).

Every report the simulator sent (its --log) to a guest that was answering honestly
must have the watch's round line for that (VM, nonce) with the verdict SEALED:
otherwise it is lost; except a report sent within 1 s before a command that cuts
that guest's connection or deletes its socket (counted as "cut"), and a report
sent after its round's deadline had passed (counted as "late"). Stopping the
watch at the end is such a cut for every guest.

Every --sample seconds (default 5): the watch's VmRSS, VmHWM, open descriptors
(/proc/PID/fd) and CPU, and the simulator's. Flat, after warm-up: the peak RSS
after warm-up at most 10 % + 1 MiB over the RSS at warm-up's end, the peak
descriptor count at most max(10, 2 % of N) over the count at warm-up's end
(descriptors follow the guests that are live, and churn moves that by a few).
The trend (least squares, per hour) is shown beside.

The result is written to --out (text) and --json. --check (the short test run):
exit 1 on a correctness problem only (a report lost, a vanished guest never marked
stale, a gone guest never removed, a guest that came back never judged SEALED
again, unparsable output); the timing figures are printed, never asserted.
"""
import argparse
import collections
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("fleet_bench", os.path.join(HERE, "fleet-bench.py"))
fb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fb)

SLACK_MS = 1000.0
CUT_BEFORE_MS = 1000.0


class Stream:
    """The watch's lines, parsed in its reader thread into a queue the main loop drains."""

    def __init__(self):
        self.q = collections.deque()
        self.bad = 0
        self.dropped = 0

    def on_line(self, raw):
        if not raw.strip():
            return
        try:
            d = json.loads(raw)
        except ValueError:
            self.bad += 1
            return
        if d.get("schema") != "sealcheck.watch.v1":
            self.bad += 1
            return
        if d.get("dropped_lines"):
            self.dropped += d["dropped_lines"]
        self.q.append(d)


def trend_per_hour(samples, key, t_from):
    pts = [(s["t"], s[key]) for s in samples if s["t"] >= t_from]
    if len(pts) < 3:
        return None
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if not sxx:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx * 3600.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--duration", type=float, default=1800)
    ap.add_argument("--guests", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=2)
    ap.add_argument("--stale", type=int, default=0, help="default 3 intervals")
    ap.add_argument("--churn-ms", type=int, default=500)
    ap.add_argument("--warmup", type=float, default=None)
    ap.add_argument("--sample", type=float, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--nice", type=int, default=0, help="run the watch and the simulator under nice -n")
    ap.add_argument("--out")
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--tmp")
    ap.add_argument("--recreate-dir-at", type=float, action="append", default=[])
    ap.add_argument("--libvirt", help="the watch also watches libvirt at URI")
    ap.add_argument("--libvirtd-restart-at", type=float, action="append", default=[])
    ap.add_argument("--libvirtd-restart-cmd", help="a shell command that restarts libvirtd")
    args = ap.parse_args()
    if args.libvirtd_restart_at and not (args.libvirt and args.libvirtd_restart_cmd):
        ap.error("--libvirtd-restart-at needs --libvirt URI and --libvirtd-restart-cmd CMD")
    probe = os.path.abspath(args.probe)
    stale_s = args.stale or 3 * args.interval
    stale_ms = stale_s * 1000.0
    timeout_ms = min(args.interval, 20) * 1000.0
    warmup = args.warmup if args.warmup is not None else min(120.0, args.duration / 4)
    resume_ms = args.interval * 1000.0 + 3000.0
    # Churn stops early enough for the last events to be judged before the end.
    tail_s = max(stale_s * 3, args.interval + 3) + 2
    nofile = fb.raise_nofile()
    rng = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix="fleet-soak-", dir=args.tmp)
    stream = Stream()
    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(), "probe": probe,
            "guests": args.guests, "duration_s": args.duration, "interval_s": args.interval, "stale_s": stale_s,
            "churn_ms": args.churn_ms, "warmup_s": warmup, "sample_s": args.sample, "seed": args.seed,
            "nice": args.nice, "nofile": nofile, "slack_ms": SLACK_MS, "recreate_dir_at": args.recreate_dir_at,
            "libvirt": args.libvirt, "libvirtd_restart_at": args.libvirtd_restart_at}

    sim = fb.Sim(tmp, "honest:%d" % args.guests, nice=args.nice)
    extra = ["--stale", str(stale_s)] + (["--libvirt=" + args.libvirt] if args.libvirt else [])
    watch = fb.Watch(probe, sim.dir, args.interval, extra=extra,
                     err_path=os.path.join(tmp, "watch.err"), on_line=stream.on_line, nice=args.nice)
    start = fb.mono_ms()
    t_warm = start + warmup * 1000.0
    t_end = start + args.duration * 1000.0
    t_churn_end = t_end - tail_s * 1000.0

    live = {"honest-%04d" % i for i in range(args.guests)}
    vanished = {}  # name -> {"t": ms, "stale_at": ms or None}
    gone = set()
    busy = {}  # name -> ms until which no new event picks it
    next_new = args.guests
    cuts = collections.defaultdict(list)  # name -> [(from_ms, to_ms)] disruptions of its connection
    checks = []  # pending expectations: dict(kind, vm, after, deadline, hard_deadline)
    results = collections.Counter()
    problems = []
    delays = collections.defaultdict(list)  # kind -> ms from the command to the event
    ends = {}  # (vm, nonce) -> (verdict_mono_ms, verdict, up, result)
    events = collections.defaultdict(list)  # vm -> [(mono_ms, "stale"|"removed"|"added"|"sealed")], recent ones
    pending = []  # sim log lines not matched yet: (name, nonce, t)
    lat = []
    counts = collections.Counter()
    samples = []
    log_f = None
    log_rest = ""
    next_churn = start + 2000.0
    next_sample = start
    # Faults at fixed times: (ms, kind), in order.
    faults = sorted([(start + t * 1000.0, "recreate-dir") for t in args.recreate_dir_at] +
                    [(start + t * 1000.0, "libvirtd-restart") for t in args.libvirtd_restart_at])

    def cmd(line, name, cut):
        t_before = fb.mono_ms()
        sim.cmd(line)
        t_after = fb.mono_ms()
        if cut:
            cuts[name].append((t_before - CUT_BEFORE_MS, t_after + 200.0))
        return t_before, t_after

    def churn(now):
        nonlocal next_new
        free = sorted(n for n in live if busy.get(n, 0) <= now)
        roll = rng.random()
        if roll < 0.2 and free and len(vanished) < max(1, args.guests // 20):
            name = rng.choice(free)
            tb, ta = cmd("become %s silent" % name, name, False)
            live.discard(name)
            vanished[name] = {"t": tb, "t_ack": ta}
            counts["vanish"] += 1
            checks.append({"kind": "stale", "vm": name, "after": tb, "deadline": tb + stale_ms + SLACK_MS,
                           "hard": tb + 3 * stale_ms})
        elif roll < 0.4 and vanished:
            # Back only once marked stale, or after 3 x --stale (then it counts as never marked).
            ready = sorted(n for n, v in vanished.items() if v.get("stale_at") or now > v["t"] + 3 * stale_ms)
            if ready:
                name = rng.choice(ready)
                tb, ta = cmd("become %s honest" % name, name, False)
                del vanished[name]
                live.add(name)
                busy[name] = ta + resume_ms
                counts["return"] += 1
                checks.append({"kind": "sealed", "vm": name, "after": ta, "deadline": ta + resume_ms,
                               "hard": t_end - 500.0, "why": "return"})
        elif roll < 0.55 and free and len(gone) < max(1, args.guests // 20):
            name = rng.choice(free)
            tb, ta = cmd("remove %s" % name, name, True)
            live.discard(name)
            gone.add(name)
            busy[name] = ta + 2000.0
            counts["gone"] += 1
            checks.append({"kind": "removed", "vm": name, "after": tb, "deadline": ta + SLACK_MS,
                           "hard": t_end - 500.0})
        elif roll < 0.7 and gone:
            ready = sorted(n for n in gone if busy.get(n, 0) <= now)
            if ready:
                name = rng.choice(ready)
                gone.discard(name)
                why = "back"
                if rng.random() < 0.3:
                    # It is gone for good; a guest never seen before appears in its place.
                    name = "honest-%04d" % next_new
                    next_new += 1
                    why = "appear"
                tb, ta = cmd("add %s honest" % name, name, True)
                live.add(name)
                busy[name] = ta + resume_ms
                counts[why] += 1
                checks.append({"kind": "sealed", "vm": name, "after": ta, "deadline": ta + resume_ms,
                               "hard": t_end - 500.0, "why": why})
        elif roll < 0.82 and free:
            name = rng.choice(free)
            tb, ta = cmd("restart %s" % name, name, True)
            busy[name] = ta + resume_ms
            counts["restart"] += 1
            checks.append({"kind": "sealed", "vm": name, "after": ta, "deadline": ta + resume_ms,
                           "hard": t_end - 500.0, "why": "restart"})
        elif free:
            name = rng.choice(free)
            tb, ta = cmd("close %s" % name, name, True)
            busy[name] = ta + resume_ms
            counts["reconnect"] += 1
            checks.append({"kind": "sealed", "vm": name, "after": ta, "deadline": ta + resume_ms,
                           "hard": t_end - 500.0, "why": "reconnect"})

    def fault(kind):
        if kind == "libvirtd-restart":
            t0 = fb.mono_ms()
            r = subprocess.run(args.libvirtd_restart_cmd, shell=True)
            counts["libvirtd_restart"] += 1
            if r.returncode != 0:
                problems.append("libvirtd restart command exited %d" % r.returncode)
            delays["libvirtd_restart_cmd"].append(fb.mono_ms() - t0)
            return
        names = sorted(live | set(vanished))
        tb = fb.mono_ms()
        sim.cmd("recreate-dir")
        ta = fb.mono_ms()
        counts["recreate_dir"] += 1
        for name in names:
            cuts[name].append((tb - CUT_BEFORE_MS, ta + 200.0))
        for name in sorted(live):
            busy[name] = ta + resume_ms + 5000.0
            checks.append({"kind": "sealed", "vm": name, "after": ta, "deadline": ta + resume_ms + 5000.0,
                           "hard": t_end - 500.0, "why": "recreate-dir"})

    def drain_stream():
        while stream.q:
            d = stream.q.popleft()
            vm, ev, t = d.get("vm"), d.get("event"), d.get("mono_ms")
            if ev in ("added", "removed"):
                events[vm].append((t, ev))
                continue
            if d.get("stale") and "stale" in (d.get("changed") or ()):
                events[vm].append((t, "stale"))
                if vm in vanished and not vanished[vm].get("stale_at"):
                    vanished[vm]["stale_at"] = t
            if not fb.is_round_end(d):
                continue
            if d.get("nonce"):
                ends[(vm, d["nonce"])] = (d["verdict_mono_ms"], d.get("verdict"), d.get("up"), d.get("result"))
            if d.get("verdict") == "sealed" and d.get("up"):
                events[vm].append((d["verdict_mono_ms"], "sealed"))

    def read_log():
        nonlocal log_f, log_rest
        if log_f is None:
            try:
                log_f = open(sim.log)
            except FileNotFoundError:
                return
        data = log_f.read()
        if not data:
            return
        data = log_rest + data
        *lines, log_rest = data.split("\n")
        for line in lines:
            p = line.split()
            if len(p) == 3:
                pending.append((p[0], p[1], float(p[2])))

    t_stop = [float("inf")]  # when the watch is stopped (the run's end)

    def match(now, final=False):
        keep = []
        for name, nonce, t in pending:
            e = ends.pop((name, nonce), None)
            if e and e[1] == "sealed" and e[2]:
                counts["judged"] += 1
                if t >= t_warm:
                    lat.append(e[0] - t)
                continue
            if not final and now - t < timeout_ms + 5000.0:
                if e:
                    ends[(name, nonce)] = e
                keep.append((name, nonce, t))
                continue
            if any(a <= t <= b for a, b in cuts.get(name, ())) or (final and t >= t_stop[0] - CUT_BEFORE_MS):
                # Stopping the watch at the end cuts every connection, like any other cut: a report
                # sent within 1 s before it may never be judged.
                counts["cut"] += 1
            elif e and e[3] == "timeout" and t > e[0] - 100.0:
                counts["late"] += 1
            else:
                counts["lost"] += 1
                if counts["lost"] <= 5:
                    problems.append("report lost: %s nonce %s sent at %.0f ms (round end: %r)" % (
                        name, nonce[:16], t - start, e))
        pending[:] = keep
        # Round ends nobody sent a report for (timeouts of silent guests) are forgotten after a while.
        if len(ends) > 200000 or final:
            old = [k for k, v in ends.items() if now - v[0] > 120000.0]
            for k in old:
                del ends[k]

    def judge(now, final=False):
        keep = []
        for c in checks:
            vm = c["vm"]
            hit = None
            if c["kind"] == "stale":
                hit = next((t for t, ev in events.get(vm, ()) if ev == "stale" and t >= c["after"] - 1.0), None)
            elif c["kind"] == "removed":
                hit = next((t for t, ev in events.get(vm, ()) if ev == "removed" and t >= c["after"] - 1.0), None)
            else:
                hit = next((t for t, ev in events.get(vm, ()) if ev == "sealed" and t >= c["after"]), None)
            if hit is not None:
                delays[c.get("why", c["kind"])].append(hit - c["after"])
                results[c.get("why", c["kind"]) + (" on time" if hit <= c["deadline"] else " LATE")] += 1
                if hit > c["deadline"]:
                    results["late_total"] += 1
                continue
            if now > c["hard"] or final:
                what = {"stale": "vanished guest never marked stale", "removed": "gone guest never removed"}.get(
                    c["kind"], "guest never judged SEALED again after " + c.get("why", "?"))
                results["missed"] += 1
                if results["missed"] <= 10:
                    problems.append("%s: %s" % (what, vm))
                continue
            keep.append(c)
        checks[:] = keep
        # Forget events older than anything a check can still look at.
        if final:
            return
        horizon = now - 4 * stale_ms - 60000.0
        for vm in list(events):
            events[vm] = [x for x in events[vm] if x[0] >= horizon]
            if not events[vm]:
                del events[vm]

    def sample(now):
        s = {"t": (now - start) / 1000.0}
        s["rss_kib"] = fb.status_kb(watch.pid, "VmRSS")
        s["hwm_kib"] = fb.status_kb(watch.pid, "VmHWM")
        s["fds"] = fb.n_fds(watch.pid)
        s["cpu_s"] = fb.cpu_s(watch.pid)
        s["sim_rss_kib"] = fb.status_kb(sim.pid, "VmRSS")
        s["sim_cpu_s"] = fb.cpu_s(sim.pid)
        s["guests"] = len(live) + len(vanished)  # sockets in the folder
        s["live"] = len(live)
        s["vanished"] = len(vanished)
        s["gone"] = len(gone)
        samples.append(s)

    rc = None
    try:
        while True:
            now = fb.mono_ms()
            if now >= t_end:
                break
            if now >= next_sample:
                sample(now)
                next_sample += args.sample * 1000.0
                drain_stream()
                read_log()
                match(now)
                judge(now)
                if watch.p.poll() is not None:
                    problems.append("the watch exited early: %s" % watch.p.returncode)
                    break
            if faults and now >= faults[0][0]:
                drain_stream()
                fault(faults.pop(0)[1])
            if args.churn_ms and now >= next_churn and now < t_churn_end:
                drain_stream()
                churn(now)
                next_churn += args.churn_ms
            time.sleep(max(0.0, min(next_sample, next_churn if now < t_churn_end else t_end, t_end,
                                    faults[0][0] if faults else t_end) - fb.mono_ms()) / 1000.0)
        sample(fb.mono_ms())
        hwm_end = fb.status_kb(watch.pid, "VmHWM")
    finally:
        t_stop[0] = fb.mono_ms()
        rc = watch.stop()
        sim.stop()
    now = fb.mono_ms()
    drain_stream()
    read_log()
    match(now, final=True)
    judge(now, final=True)
    if stream.bad:
        problems.append("%d output lines do not parse as sealcheck.watch.v1" % stream.bad)
    if rc not in (0, None):
        problems.append("watch exited %d on SIGTERM" % rc)

    warm_s = warmup
    at_warm = next((s for s in samples if s["t"] >= warm_s), samples[-1])
    after = [s for s in samples if s["t"] > at_warm["t"]]
    peak_rss_after = max((s["rss_kib"] for s in after), default=at_warm["rss_kib"])
    peak_fds_after = max((s["fds"] for s in after), default=at_warm["fds"])
    rss_bound = at_warm["rss_kib"] * 1.10 + 1024
    # Descriptors follow the sockets in the folder (a kept connection each), which churn moves.
    more_guests = max(0, max((s["guests"] for s in after), default=0) - at_warm["guests"])
    fd_bound = at_warm["fds"] + max(10, args.guests * 2 // 100) + more_guests
    rss_flat = peak_rss_after <= rss_bound
    fds_flat = peak_fds_after <= fd_bound
    lat.sort()
    cpu = samples[-1]["cpu_s"] - at_warm["cpu_s"]
    dur_after = samples[-1]["t"] - at_warm["t"]
    summary = {
        "schema": "sealcheck.fleet-soak.v1", "info": info,
        "ran_s": round(samples[-1]["t"], 1),
        "churn_events": {k: counts[k] for k in ("vanish", "return", "gone", "back", "restart", "reconnect", "appear",
                                                "recreate_dir", "libvirtd_restart")},
        "reports": {"judged": counts["judged"], "lost": counts["lost"], "cut": counts["cut"], "late": counts["late"],
                    "p50_ms": fb.pct(lat, 50), "p99_ms": fb.pct(lat, 99), "max_ms": lat[-1] if lat else None},
        "checks": dict(results),
        "delays_ms": {k: {"n": len(v), "p50": fb.pct(sorted(v), 50), "max": max(v)} for k, v in delays.items()},
        "rss": {"at_warmup_kib": at_warm["rss_kib"], "peak_after_kib": peak_rss_after, "bound_kib": rss_bound,
                "flat": rss_flat, "trend_kib_per_hour": trend_per_hour(samples, "rss_kib", at_warm["t"]),
                "hwm_end_kib": hwm_end},
        "fds": {"at_warmup": at_warm["fds"], "peak_after": peak_fds_after, "bound": fd_bound, "flat": fds_flat,
                "trend_per_hour": trend_per_hour(samples, "fds", at_warm["t"])},
        "watch_cpu_s_after_warmup": cpu, "watch_cpu_share": cpu / dur_after if dur_after else None,
        "sim_cpu_s": samples[-1]["sim_cpu_s"], "sim_peak_rss_kib": max(s["sim_rss_kib"] for s in samples),
        "dropped_lines": stream.dropped, "problems": problems, "samples": samples,
    }
    ok = not problems
    text = []
    text.append("fleet soak, %s, %d guests, %.0f s (warm-up %.0f s), --interval %d, --stale %d, churn every %d ms, "
                "seed %d, %d CPUs" % (info["date"], args.guests, summary["ran_s"], warmup, args.interval, stale_s,
                                      args.churn_ms, args.seed, os.cpu_count()))
    text.append("churn: " + ", ".join("%s %d" % kv for kv in sorted(summary["churn_events"].items())))
    r = summary["reports"]
    text.append("reports: %d judged SEALED, %d lost, %d cut by churn or the end (sent < 1 s before a cut), %d late; "
                "latency after warm-up p50 %s ms, p99 %s ms, max %s ms" % (
                    r["judged"], r["lost"], r["cut"], r["late"], fb.fmt(r["p50_ms"]), fb.fmt(r["p99_ms"]),
                    fb.fmt(r["max_ms"])))
    text.append("checks: " + ", ".join("%s %d" % kv for kv in sorted(results.items())))
    for k, v in sorted(summary["delays_ms"].items()):
        text.append("  %s: %d, command to event p50 %.0f ms, max %.0f ms" % (k, v["n"], v["p50"], v["max"]))
    x = summary["rss"]
    text.append("RSS: %.1f MiB at warm-up's end, peak after %.1f MiB (bound %.1f MiB): %s; trend %s KiB/h; VmHWM %.1f MiB"
                % (x["at_warmup_kib"] / 1024, x["peak_after_kib"] / 1024, x["bound_kib"] / 1024,
                   "FLAT" if x["flat"] else "GREW", fb.fmt(x["trend_kib_per_hour"], "%.0f"), x["hwm_end_kib"] / 1024))
    x = summary["fds"]
    text.append("fds: %d at warm-up's end (%d guests' sockets), peak after %d (bound %d): %s; trend %s/h" % (
        x["at_warmup"], at_warm["guests"], x["peak_after"], x["bound"], "FLAT" if x["flat"] else "GREW",
        fb.fmt(x["trend_per_hour"], "%.1f")))
    text.append("watch CPU after warm-up: %.1f s (%.1f %% of a core); simulator CPU %.1f s, RSS peak %.1f MiB" % (
        cpu, 100 * (summary["watch_cpu_share"] or 0), summary["sim_cpu_s"], summary["sim_peak_rss_kib"] / 1024))
    text.append("result: %s" % ("OK" if ok and rss_flat and fds_flat and not results["late_total"] else
                                "PROBLEMS" if not ok else "correct, but see the figures above"))
    for p in problems:
        text.append("PROBLEM: " + p)
    out = "\n".join(text) + "\n"
    sys.stdout.write(out)
    if args.out:
        with open(args.out, "w") as f:
            f.write(out)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(summary, f, indent=1)
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("fleet-soak: kept %s" % tmp, file=sys.stderr)
    return 1 if (problems and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
