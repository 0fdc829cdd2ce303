#!/usr/bin/env python3
"""The probe's time from connect to verdict against an honest fake guest.

    tests/bench/probe-latency.py --probe build/host-probe/sealcheck-probe [--runs 20]

A fake guest (tests/probe/fake_guest.py's framing and report template) listens
on a Unix socket and answers each nonce at once with the sealed template
report, in one write. `sealcheck-probe attest --socket S --expect-digest D
--json` runs RUNS times (after one unrecorded warm-up run); each run must end
SEALED (exit 0). Printed: median and p90 (nearest rank) of
  - the probe's own `seconds` field (connect to verdict, as the probe measures
    it; the probe before its sd-event rework counted whole milliseconds),
  - the guest's view: from accepting the probe's connection to the probe
    hanging up, which it does once it has its verdict (perf_counter),
  - the wall time of the whole command (process start to exit).
A measurement, not a test: no timing is asserted.
"""
import argparse
import json
import math
import queue
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "probe"))
import fake_guest  # noqa: E402  (frame, report, read_nonce)


def serve(srv, template, took):
    """Answer every connection honestly, wait for the probe to hang up, and
    put the seconds from accept to hang-up on TOOK."""
    while True:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        t0 = time.perf_counter()
        with conn:
            try:
                nonce = fake_guest.read_nonce(conn)
                if nonce is None:
                    continue
                conn.sendall(fake_guest.frame(b"R", fake_guest.report(template, nonce)))
                conn.settimeout(10)
                while conn.recv(4096):
                    pass
            except (OSError, socket.timeout):
                pass
        took.put(time.perf_counter() - t0)


def p90(values):
    s = sorted(values)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--probe", required=True, help="the sealcheck-probe binary")
    p.add_argument("--template", default=os.path.join(HERE, "..", "probe", "sealed-report.json"))
    p.add_argument("--runs", type=int, default=20)
    a = p.parse_args()
    template = json.load(open(a.template))
    digest = template["checks"]["root_mount"]["digest"]
    probe_s, guest_s, wall_s = [], [], []
    took = queue.Queue()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "attest.sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        srv.listen(4)
        threading.Thread(target=serve, args=(srv, template, took), daemon=True).start()
        cmd = [a.probe, "attest", "--socket", path, "--expect-digest", digest, "--json"]
        for i in range(a.runs + 1):
            t0 = time.perf_counter()
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            wall = time.perf_counter() - t0
            guest = took.get(timeout=15)
            try:
                out = json.loads(res.stdout)
            except ValueError:
                out = {}
            if res.returncode != 0 or out.get("verdict") != "sealed":
                sys.exit(f"probe-latency: run {i}: exit {res.returncode}, verdict {out.get('verdict')!r}:\n"
                         f"{res.stdout}{res.stderr}")
            if i == 0:
                continue  # warm-up: page cache, dynamic loader
            probe_s.append(float(out["seconds"]))
            guest_s.append(guest)
            wall_s.append(wall)
        srv.close()
    print(f"sealcheck-probe attest against an honest fake guest, {a.runs} runs ({a.probe})")
    for name, v in (("connect to verdict (probe's 'seconds')", probe_s),
                    ("guest: accept to the probe's hang-up", guest_s),
                    ("wall time of the command", wall_s)):
        print(f"  {name:40} median {statistics.median(v) * 1000:7.3f} ms, p90 {p90(v) * 1000:7.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
