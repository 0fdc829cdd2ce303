#!/usr/bin/env python3
"""What back-to-back scrapes of /metrics cost the watch's rounds: two builds side by side.

    tests/bench/metrics-scrape-bench.py --probe NEW/sealcheck-probe --baseline OLD/sealcheck-probe
        [--guests 10000] [--interval 10] [--warmup 25] [--window 30] [--reps 1] [--json OUT]

One set of simulated honest guests (tests/fleet/sim_guests.py, via fleet-bench.py's
Sims), then, for each repetition, four runs one after the other against those same
guests: baseline quiet, new quiet, baseline scraped, new scraped. Each run starts
`watch --metrics-listen 127.0.0.1:0 --events all` (kept connections, the default),
waits WARMUP s (every guest's first round and one more interval), measures WINDOW
s, then a grace of timeout + 2 s for the last verdicts. "scraped": a client process
GETs /metrics back to back, one connection, for the whole window (Prometheus
scrapes every 15-30 s; this is the worst a client can ask).

Per run: the honest rounds' latency (a report's last byte written by the sim,
its CLOCK_MONOTONIC stamp, to the verdict's verdict_mono_ms, joined on VM name
and nonce, as fleet-bench.py does) p50/p99/max over the reports sent in the
window, reports judged, honest reports not judged SEALED, scrapes answered and
the watch's CPU seconds in the window. The ratios new/baseline are printed per
mode. Timings are of this machine and this run only; nothing here asserts one.
"""
import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("fleet_bench", os.path.join(HERE, "fleet-bench.py"))
fb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fb)

SCRAPER = r"""
import http.client, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
end = time.monotonic() + seconds
n = nbytes = errors = 0
c = None
while time.monotonic() < end:
    try:
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/metrics")
        r = c.getresponse()
        body = r.read()
        if r.status == 200:
            n += 1
            nbytes += len(body)
        else:
            errors += 1
    except (OSError, http.client.HTTPException):
        errors += 1
        c = None
print(n, nbytes, errors)
"""


def port_of(err_path, deadline_s=60):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with open(err_path, "rb") as f:
            m = re.search(rb"metrics on port (\d+)", f.read())
        if m:
            return int(m.group(1))
        time.sleep(0.1)
    raise RuntimeError("no metrics port in %s" % err_path)


def one_run(label, probe, sims, tmp, a, scraped):
    err = os.path.join(tmp, "%s.err" % label)
    timeout = min(a.interval, 20)
    w = fb.Watch(probe, sims.dir, a.interval, extra=["--metrics-listen", "127.0.0.1:0"], err_path=err)
    scraper = None
    try:
        port = port_of(err)
        time.sleep(a.warmup)
        t0 = fb.mono_ms()
        c0 = fb.cpu_s(w.pid)
        if scraped:
            scraper = subprocess.Popen([sys.executable, "-c", SCRAPER, str(port), str(a.window)],
                                       stdout=subprocess.PIPE, text=True)
        time.sleep(a.window)
        t1 = fb.mono_ms()
        c1 = fb.cpu_s(w.pid)
        scrapes = scrape_errors = 0
        if scraper:
            scrapes, _, scrape_errors = (int(x) for x in scraper.communicate(timeout=120)[0].split())
        time.sleep(timeout + 2)
        rss_kb = fb.status_kb(w.pid, "VmHWM")
    finally:
        if scraper and scraper.poll() is None:
            scraper.kill()
            scraper.wait()
        w.stop()
    verdicts = {}
    for raw in w.lines():
        if not raw.strip():
            continue
        d = json.loads(raw)
        if fb.is_round_end(d) and d.get("nonce"):
            verdicts.setdefault((d["vm"], d["nonce"]), d)
    lat, lost, judged = [], 0, 0
    for name, nonce, ms in sims.sent():
        if not (t0 <= ms < t1):
            continue
        d = verdicts.get((name, nonce))
        if d is None or d["verdict"] != "sealed":
            lost += 1
            continue
        judged += 1
        lat.append(d["verdict_mono_ms"] - ms)
    lat.sort()
    return {"label": label, "probe": probe, "scraped": scraped, "judged": judged, "not_sealed": lost,
            "p50_ms": fb.pct(lat, 50), "p99_ms": fb.pct(lat, 99), "max_ms": lat[-1] if lat else None,
            "scrapes": scrapes, "scrape_errors": scrape_errors, "cpu_s": c1 - c0, "hwm_kb": rss_kb}


def f(v, spec="%.1f"):
    return "-" if v is None else spec % v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--guests", type=int, default=10000)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--warmup", type=float, default=25)
    ap.add_argument("--window", type=float, default=30)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--json", dest="json_out")
    a = ap.parse_args()
    nofile = fb.raise_nofile()
    tmp = tempfile.mkdtemp(prefix="scrape-bench-")
    sims = fb.Sims(tmp, a.guests)
    results = []
    try:
        for rep in range(a.reps):
            for scraped in (False, True):
                for label, probe in (("baseline", a.baseline), ("new", a.probe)):
                    name = "%s-%s-%d" % (label, "scraped" if scraped else "quiet", rep)
                    print("metrics-scrape-bench: %s" % name, file=sys.stderr, flush=True)
                    r = one_run(name, os.path.abspath(probe), sims, tmp, a, scraped)
                    r["build"] = label
                    results.append(r)
    finally:
        sims.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d guests, --interval %d, window %g s, %d cpus, RLIMIT_NOFILE %s, loadavg %s" % (
        a.guests, a.interval, a.window, os.cpu_count(), nofile[0], " ".join("%.1f" % x for x in os.getloadavg())))
    print()
    print("| run | build | scraped | scrapes | judged | not sealed | p50 ms | p99 ms | max ms | watch CPU s | VmHWM MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print("| %s | %s | %s | %d | %d | %d | %s | %s | %s | %.1f | %.0f |" % (
            r["label"], r["build"], "yes" if r["scraped"] else "no", r["scrapes"], r["judged"], r["not_sealed"],
            f(r["p50_ms"]), f(r["p99_ms"]), f(r["max_ms"]), r["cpu_s"], r["hwm_kb"] / 1024))
    print()
    for scraped in (False, True):
        def mean(build, key):
            v = [r[key] for r in results if r["build"] == build and r["scraped"] == scraped and r[key] is not None]
            return sum(v) / len(v) if v else None
        for key in ("p50_ms", "p99_ms"):
            b, n = mean("baseline", key), mean("new", key)
            print("%s %s: baseline %s, new %s, new/baseline %s" % (
                "scraped" if scraped else "quiet", key, f(b), f(n), f(n / b if b and n is not None else None, "%.2f")))
    if a.json_out:
        with open(a.json_out, "w") as fo:
            json.dump({"schema": "sealcheck.metrics-scrape-bench.v1", "guests": a.guests, "interval": a.interval,
                       "window": a.window, "results": results}, fo, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
