#!/usr/bin/env python3
"""sealcheck-probe watch under descriptor and scrape faults, one case a run.

    test_fd_faults.py --probe BIN CASE      (--list: the cases)

  low-nofile    watch (kept connections, the default) over more simulated guests
                than RLIMIT_NOFILE can hold a kept connection for: it says so once,
                every guest is still judged SEALED, /metrics keeps answering and the
                textfile keeps being written (a verdict change reaches both)
  scrape-storm  a client scraping /metrics back to back: every page is whole,
                pages are identical between two changes of the fleet, never older
                than a page served before them, and fresh after a round

Correctness only: each case waits for a condition with a deadline (the
deadline failing is the failure); no timing is asserted. The one time bound
used, in scrape-storm, is the server's documented contract (a changed fleet is
rendered again at the first scrape at least a second after the last render,
probe-metrics-http.h), not a speed.
"""
import http.client
import os
import re
import resource
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_watch import DIGEST, Fail, Sim, Watch, check, run_cases  # noqa: E402

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')


def mono_ms():
    return time.clock_gettime(time.CLOCK_MONOTONIC) * 1000.0


class LimitedWatch(Watch):
    """test_watch.Watch, started under RLIMIT_NOFILE = (nofile, nofile): watch cannot raise it."""

    def __init__(self, probe, args, nofile):
        real_popen = subprocess.Popen

        def popen(*a, **kw):
            kw["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            return real_popen(*a, **kw)

        subprocess.Popen = popen
        try:
            super().__init__(probe, args)
        finally:
            subprocess.Popen = real_popen


def metrics_port(w):
    found = []

    def cond():
        m = re.search(r"metrics on port (\d+)", w.stderr())
        if m:
            found.append(int(m.group(1)))
        return bool(found)

    w.wait("the metrics port on stderr", cond, timeout=20)
    return found[0]


def scrape(port, timeout=10):
    """(status, body) of GET /metrics; an exception when no answer comes."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        return r.status, r.read().decode("utf-8")
    finally:
        c.close()


def parse(page):
    """{(name, labels): value} of an exposition page; Fail on a line that is not a sample or a comment."""
    out = {}
    for line in page.split("\n"):
        if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise Fail("not a sample line: %r" % line[:200])
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    check(page.endswith("\n"), "the page does not end with a newline (cut short?)")
    return out


def sealed_of(samples):
    """vm -> sealcheck_vm_sealed."""
    out = {}
    for (name, labels), v in samples.items():
        if name == "sealcheck_vm_sealed":
            out[re.search(r'vm="([^"]*)"', labels).group(1)] = v
    return out


def rounds_of(samples):
    """vm -> rounds ended (sealcheck_reports_total summed over result)."""
    out = {}
    for (name, labels), v in samples.items():
        if name == "sealcheck_reports_total":
            vm = re.search(r'vm="([^"]*)"', labels).group(1)
            out[vm] = out.get(vm, 0) + v
    return out


def case_low_nofile(probe, tmp):
    n, nofile = 300, 160
    sim = Sim(tmp, "honest:%d" % n)
    prom = os.path.join(tmp, "textfile", "sealcheck.prom")
    os.makedirs(os.path.dirname(prom))
    w = LimitedWatch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "2", "--events", "all",
                             "--metrics-listen", "127.0.0.1:0", "--textfile", prom], nofile)
    names = ["honest-%04d" % i for i in range(n)]
    try:
        port = metrics_port(w)
        w.wait("all %d judged SEALED once" % n, lambda: len(
            {d["vm"] for d in w.snapshot() if d["event"] in ("change", "round") and d["verdict"] == "sealed"}) == n,
               timeout=90)
        # Said once, through the fleet's log: the limit holds fewer kept connections than VMs.
        w.wait("the descriptor warning", lambda: "RLIMIT_NOFILE %d holds kept connections for" % nofile in w.stderr(),
               timeout=20)
        # Three more rounds of every VM: /metrics answers throughout, each page whole and every VM sealed.
        base = {k: v["rounds"] for k, v in w.latest().items()}
        scrapes = 0
        deadline = time.monotonic() + 90
        while True:
            status, body = scrape(port)
            check(status == 200, "/metrics answered %s" % status)
            sealed = sealed_of(parse(body))
            check(len(sealed) == n, "/metrics lists %d VMs, not %d" % (len(sealed), n))
            scrapes += 1
            latest = w.latest()
            if all(latest[k]["rounds"] >= base[k] + 3 for k in names):
                break
            check(time.monotonic() < deadline, "three more rounds of every VM did not come within 90 s")
            check(w.p.poll() is None, "the probe exited: %s" % w.stderr())
        check(scrapes >= 2, "only %d scrapes" % scrapes)
        # Every VM judged SEALED in those rounds, and no round failed on our side (EMFILE is an "error").
        later = [d for d in w.snapshot() if d["event"] in ("change", "round") and d["rounds"] > base[d["vm"]]]
        sealed_later = {d["vm"] for d in later if d["verdict"] == "sealed"}
        check(sealed_later == set(names), "never SEALED in the last rounds: %s" % sorted(set(names) - sealed_later)[:10])
        errors = [d for d in later if d["result"] == "error"]
        check(not errors, "%d rounds failed on the probe's side, the first: %s" % (
            len(errors), errors[0]["reason"] if errors else ""))
        check(w.stderr().count("holds kept connections for") == 1, "the warning was said more than once:\n" +
              w.stderr())
        # A verdict change still reaches the textfile (rewritten within a second) and the page.
        sim.cmd("become honest-0007 liar")

        def both_see_it():
            with open(prom) as f:
                in_file = sealed_of(parse(f.read())).get("honest-0007")
            status, body = scrape(port)
            return status == 200 and in_file == 0 and sealed_of(parse(body)).get("honest-0007") == 0

        w.wait("honest-0007 unsealed in the textfile and on /metrics", both_see_it, timeout=30)
        check(not [x for x in os.listdir(os.path.dirname(prom)) if x != "sealcheck.prom"],
              "a temporary file was left: %s" % os.listdir(os.path.dirname(prom)))
        check("cannot accept a scrape" not in w.stderr(), "the reserve did not hold:\n" + w.stderr())
        check("--textfile" not in w.stderr(), "the textfile failed:\n" + w.stderr())
    finally:
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s after SIGTERM" % rc)


def case_scrape_storm(probe, tmp):
    sim = Sim(tmp, "honest:3")
    w = Watch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "6", "--events", "all",
                      "--metrics-listen", "127.0.0.1:0"])
    pages = []  # (start mono ms, end mono ms, body)
    stop = threading.Event()
    errors = []

    def storm(port):
        c = None
        while not stop.is_set():
            try:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                t0 = mono_ms()
                c.request("GET", "/metrics")
                r = c.getresponse()
                body = r.read().decode("utf-8")
                t1 = mono_ms()
                if r.status != 200:
                    errors.append("status %s" % r.status)
                pages.append((t0, t1, body))
            except (OSError, http.client.HTTPException) as e:
                errors.append(repr(e))
                if c:
                    c.close()
                c = None
        if c:
            c.close()

    try:
        port = metrics_port(w)
        w.wait("3 sealed", lambda: sum(1 for d in w.latest().values() if d["verdict"] == "sealed") == 3, timeout=30)
        t = threading.Thread(target=storm, args=(port,), daemon=True)
        t.start()
        base = {k: v["rounds"] for k, v in w.latest().items()}
        w.wait("three more rounds of each VM under the storm", lambda: all(
            w.latest()[k]["rounds"] >= base[k] + 3 for k in base), timeout=60)
        stop.set()
        t.join(20)
    finally:
        stop.set()
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s after SIGTERM" % rc)
    check(not errors, "scrapes failed: %s" % errors[:5])
    check(len(pages) >= 20, "only %d scrapes" % len(pages))
    rounds = [(d["mono_ms"], d["vm"], d["rounds"]) for d in w.snapshot() if d["event"] in ("change", "round")]
    changes = sorted(r[0] for r in rounds)
    parsed = [(t0, t1, body, rounds_of(parse(body))) for t0, t1, body in pages]
    # Never older than a page served before: each VM's round count never goes down from one scrape to the next.
    for (_, _, _, a), (_, _, _, b) in zip(parsed, parsed[1:]):
        for vm, k in a.items():
            check(b.get(vm, 0) >= k, "%s: %s rounds on a page after one with %s" % (vm, b.get(vm), k))
    # Fresh after a round: a scrape begun a second (the render interval) after a round's line shows that round.
    for t, vm, k in rounds:
        later = [p for p in parsed if p[0] > t + 1000]
        for p in later:
            check(p[3].get(vm, 0) >= k, "%s: a scrape %.0f ms after its round %d shows %s rounds" % (
                vm, p[0] - t, k, p[3].get(vm)))
    # Identical between changes: the scrapes begun a second after one change and done before the next.
    windows = 0
    for a, b in zip(changes, changes[1:]):
        inside = [p[2] for p in parsed if p[0] > a + 1000 and p[1] < b]
        if len(inside) >= 2:
            check(len(set(inside)) == 1, "%d different pages between two changes" % len(set(inside)))
            windows += 1
    check(windows >= 2, "only %d quiet windows were scraped (%d scrapes, %d changes)" % (windows, len(pages),
                                                                                       len(changes)))


CASES = {
    "low-nofile": case_low_nofile,
    "scrape-storm": case_scrape_storm,
}


if __name__ == "__main__":
    sys.exit(run_cases(CASES, "fd-faults-"))
