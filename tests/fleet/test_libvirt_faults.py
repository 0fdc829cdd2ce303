#!/usr/bin/env python3
"""sealcheck-probe watch --libvirt against a libvirt daemon that accepts and never answers.

    test_libvirt_faults.py --probe BIN CASE      (--list: the cases)

A fake libvirtd UNIX socket (watch --libvirt=qemu+unix:///system?socket=PATH)
in two flavours, with simulated guests in a --socket-dir at the same time:

  silent     accepts, reads, never writes a byte;
  keepalive  speaks libvirt's keepalive protocol (src/rpc/virkeepaliveprotocol.x:
             program 0x6b656570, version 1, PING 1 / PONG 2, sent as
             VIR_NET_MESSAGE with serial 0 and status VIR_NET_OK, framed as
             src/rpc/virnetprotocol.x says: a 4-byte big-endian length that
             counts itself, then prog/vers/proc/type/serial/status): it answers
             every PING with a PONG and pings the client every second, as a
             libvirtd with keepalive does, but answers no RPC.

Each case shows: the socket-dir VMs' rounds keep ending, /metrics answers
within a second, JSON lines keep coming, the source is said unreachable (a
"source" line, sealcheck_source_up{source="libvirt"} 0), SIGTERM ends watch
within 2 s, and no process of the probe's is left. No sleeps as assertions:
each step waits for a condition with a deadline.
"""
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_watch import DIGEST, Sim, Watch, check, run_cases  # noqa: E402

KEEPALIVE_PROGRAM = 0x6B656570
KEEPALIVE_VERSION = 1
PROC_PING, PROC_PONG = 1, 2
VIR_NET_MESSAGE = 2
VIR_NET_OK = 0
HEADER = struct.Struct(">IIiiIi")  # prog, vers, proc, type, serial, status


class FakeLibvirtd:
    """A UNIX socket that accepts clients and never answers their calls."""

    def __init__(self, path, flavour):
        self.path, self.flavour = path, flavour
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.lock = threading.Lock()
        self.accepted, self.calls, self.pongs_sent, self.pongs_received = 0, 0, 0, 0
        self.conns = []
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _message(self, c, proc):
        body = HEADER.pack(KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, proc, VIR_NET_MESSAGE, 0, VIR_NET_OK)
        c.sendall(struct.pack(">I", 4 + len(body)) + body)

    def _serve(self, c):
        buf = b""
        c.settimeout(1.0)
        while not self.stopping:
            try:
                data = c.recv(65536)
            except socket.timeout:
                data = None
            except OSError:
                return
            if data == b"":
                return
            if self.flavour != "keepalive":
                continue  # silent: read and drop everything
            try:
                if data is None:
                    self._message(c, PROC_PING)  # the daemon's own keepalive ping, once a second
                    continue
                buf += data
                while len(buf) >= 4:
                    (n,) = struct.unpack(">I", buf[:4])
                    if n < 4 + HEADER.size or n > 4 << 20:
                        return  # not libvirt's framing: drop the client
                    if len(buf) < n:
                        break
                    prog, _vers, proc, _typ, _serial, _status = HEADER.unpack(buf[4:4 + HEADER.size])
                    buf = buf[n:]
                    if prog == KEEPALIVE_PROGRAM and proc == PROC_PING:
                        self._message(c, PROC_PONG)
                        with self.lock:
                            self.pongs_sent += 1
                    elif prog == KEEPALIVE_PROGRAM and proc == PROC_PONG:
                        with self.lock:
                            self.pongs_received += 1
                    else:
                        with self.lock:
                            self.calls += 1  # an RPC: never answered
            except OSError:
                return

    def stop(self):
        self.stopping = True
        self.sock.close()
        with self.lock:
            for c in self.conns:
                c.close()


def scrape(port):
    """/metrics, which must answer within a second."""
    t0 = time.monotonic()
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=1.0) as r:
        text = r.read().decode()
    check(time.monotonic() - t0 < 1.0, "/metrics took %.1f s" % (time.monotonic() - t0))
    return text


def descendants(pid):
    """Every process whose parent chain leads to @pid."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def run_case(probe, tmp, flavour):
    sock = os.path.join(tmp, "libvirt-sock")
    fake = FakeLibvirtd(sock, flavour)
    sim = Sim(tmp, "honest:3")
    names = ["honest-%04d" % i for i in range(3)]
    w = Watch(probe, ["--socket-dir", sim.dir, "--libvirt=qemu+unix:///system?socket=" + sock,
                      "--expect-digest", DIGEST, "--interval", "1", "--timeout", "1", "--events", "all",
                      "--metrics-listen", "127.0.0.1:0"])
    try:
        w.wait("the metrics port on stderr", lambda: re.search(r"metrics on port (\d+)", w.stderr()), timeout=10)
        port = int(re.search(r"metrics on port (\d+)", w.stderr()).group(1))
        w.wait("the probe at the fake libvirtd", lambda: fake.accepted >= 1, timeout=10)

        def rounds(name):
            return [d for d in w.snapshot() if d.get("vm") == name and d["event"] in ("change", "round")]

        # While libvirt's open hangs: the socket-dir VMs are judged, /metrics answers, the gauge says 0.
        w.wait("the socket-dir VMs sealed", lambda: all(
            rounds(n) and rounds(n)[-1]["verdict"] == "sealed" for n in names), timeout=15)
        text = scrape(port)
        check('sealcheck_source_up{source="libvirt"} 0' in text, "no sealcheck_source_up 0 while connecting:\n%s" %
              "\n".join(x for x in text.splitlines() if "source" in x))

        # The open never finishes: the source is said unreachable, once, and its deadline is what says so.
        w.wait("libvirt said unreachable", lambda: any(
            d["event"] == "source" and d["reachable"] is False for d in w.snapshot()), timeout=40)
        line = [d for d in w.snapshot() if d["event"] == "source"][0]
        check(line["source"] == "libvirt" and line["reason"], "the source line: %s" % line)
        check("unreachable" in w.stderr(), "stderr does not say unreachable:\n%s" % w.stderr())
        if flavour == "keepalive":
            # The client answered the daemon's pings: keepalive alone saw a live peer.
            check(fake.pongs_received >= 1, "the client never answered the fake's keepalive pings")
        check(fake.calls >= 1 or flavour == "silent", "no RPC reached the fake")

        # Rounds go on after it: each VM's rounds keep ending, at the interval, while libvirt stays wedged
        # and the probe tries it again (a second connection).
        mark = {n: len(rounds(n)) for n in names}
        w.wait("3 more rounds of every socket-dir VM", lambda: all(len(rounds(n)) >= mark[n] + 3 for n in names),
               timeout=10)
        for n in names:
            check(all(d["verdict"] == "sealed" for d in rounds(n)[mark[n]:]), "%s lost its verdict" % n)
        # Tried again, and again after that try's own deadline passed: still said only once.
        w.wait("the probe trying libvirt twice more", lambda: fake.accepted >= 3, timeout=60)
        for _ in range(3):
            text = scrape(port)
            check('sealcheck_source_up{source="libvirt"} 0' in text, "sealcheck_source_up is not 0")
            check('sealcheck_vms{state="sealed"} 3' in text, "the metrics lost the sealed VMs:\n%s" % text[:2000])
        check(sum(1 for d in w.snapshot() if d["event"] == "source") == 1, "unreachable said more than once: %s" %
              [d for d in w.snapshot() if d["event"] == "source"])

        # SIGTERM ends it within 2 s though a libvirt call hangs; nothing of it is left.
        procs = descendants(w.p.pid)
        check(procs, "no discovery process under the probe")
        t0 = time.monotonic()
        rc = w.stop(signal.SIGTERM, timeout=2)
        check(rc == 0, "exit %s after SIGTERM" % rc)
        check(time.monotonic() - t0 < 2.0, "SIGTERM took %.1f s" % (time.monotonic() - t0))
        left = [p for p in procs if alive(p)]
        check(not left, "processes left after the probe exited: %s" % left)
    finally:
        if w.p.poll() is None:
            w.p.kill()
            w.p.wait()
        fake.stop()
        sim.stop()


def case_silent(probe, tmp):
    """A libvirtd that accepts and never writes a byte (a wedged daemon, a socket-activated start that hangs)."""
    run_case(probe, tmp, "silent")


def case_keepalive(probe, tmp):
    """A libvirtd that answers keepalive (PING -> PONG, and pings of its own) but no RPC."""
    run_case(probe, tmp, "keepalive")


CASES = {
    "silent": case_silent,
    "keepalive": case_keepalive,
}


if __name__ == "__main__":
    sys.exit(run_cases(CASES, "libvirt-faults-"))
