#!/usr/bin/env python3
"""The agent against a fake host (docs/protocol.md; docs/threat-model.md T2).

A pty stands in for the virtio-serial port: the agent opens the slave with
--device; the test is the host on the master. Closing the master gives the
agent POLLHUP, as a host disconnect does on a virtio-serial port.

    fake_host.py --sealcheck BIN --fixtures DIR --preload SO CASE
    fake_host.py --list
(a sealed tree is made from the real capture, as tests/cli/status_cases.py does)
"""
import argparse
import json
import os
import pty
import select
import subprocess
import sys
import time
import tempfile
import tty
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import status_cases  # noqa: E402

CASES = ("answers", "garbage-then-nonce", "huge-input", "host-gone", "no-port", "nonce-burst", "nonce-again")


def frame(kind, payload):
    return b"\x1eSC1" + kind + b"%08x%08x:" % (len(payload), zlib.crc32(payload)) + payload + b"\n"


def result(case, fails, err):
    """The TAP line for @case (and the agent's log when it failed); the exit status."""
    print(f"{'not ok' if fails else 'ok'} - {case}{': ' + '; '.join(fails) if fails else ''}")
    if fails:
        print("# agent log:\n" + err)
    return 1 if fails else 0


def read_frames(fd, seconds, until):
    """(type, payload bytes) frames for up to `seconds`, or until until(frames) is true."""
    buf, frames, end = b"", [], time.monotonic() + seconds
    while time.monotonic() < end and not until(frames):
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            buf += os.read(fd, 65536)
        except OSError:  # EIO until the agent has opened the slave side
            time.sleep(0.1)
            continue
        while True:
            i = buf.find(b"\x1eSC1")
            if i < 0 or len(buf) < i + 22:
                break
            n = int(buf[i + 5:i + 13], 16)
            if len(buf) < i + 22 + n + 1:
                break
            payload = buf[i + 22:i + 22 + n]
            assert zlib.crc32(payload) == int(buf[i + 13:i + 21], 16), "CRC mismatch"
            frames.append((buf[i + 4:i + 5], payload))
            buf = buf[i + 22 + n + 1:]
    return frames


def read_reports(fd, seconds, want):
    """Decoded report frames for up to `seconds` or until `want` arrived."""
    frames = read_frames(fd, seconds, lambda f: sum(k == b"R" for k, _ in f) >= want)
    return [json.loads(p) for k, p in frames if k == b"R"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sealcheck")
    p.add_argument("--fixtures")
    p.add_argument("--preload")
    p.add_argument("--list", action="store_true", help="print the cases, one a line (tests/meson.build)")
    p.add_argument("case", nargs="?", choices=CASES)
    a = p.parse_args()
    if a.list:
        print("\n".join(CASES))
        return 0
    if not (a.sealcheck and a.fixtures and a.preload and a.case):
        p.error("--sealcheck, --fixtures, --preload and a CASE are required")
    with tempfile.TemporaryDirectory(prefix="sealcheck-fake-host-") as tmp:
        tree = status_cases.Tree(a.fixtures, "snakeoil-user", tmp)
        status_cases.sealed(tree)
        a.root = tree.root
        return run(a)


def run(a):
    env = dict(os.environ, LD_PRELOAD=os.path.abspath(a.preload))
    if a.case == "no-port":
        # No port under <root>/sys/class/virtio-ports: look for a while, then say so and exit 1.
        t0 = time.monotonic()
        r = subprocess.run([a.sealcheck, "agent", "--root", a.root, "--wait-port", "3"], env=env,
                           capture_output=True, text=True, timeout=30)
        ok = r.returncode == 1 and "no virtio-serial port" in r.stderr and 2.5 < time.monotonic() - t0 < 10
        print(f"{'ok' if ok else 'not ok'} - no-port: exit {r.returncode}, {time.monotonic() - t0:.1f} s: "
              f"{r.stderr.strip()}")
        return 0 if ok else 1

    master, slave = pty.openpty()
    tty.setraw(slave)  # no line discipline between the agent and us
    name = os.ttyname(slave)
    os.close(slave)
    # nonce-burst: the push and two answers, then the agent exits by itself (no waiting for silence).
    extra = ["--max-answers", "3"] if a.case in ("nonce-burst", "nonce-again") else []
    agent = subprocess.Popen([a.sealcheck, "agent", "--root", a.root, "--device", name, "--wait-port", "5"] + extra,
                             env=env, stderr=subprocess.PIPE, text=True)
    fails, err = [], ""
    try:
        push = read_reports(master, 20, 1)
        if len(push) != 1 or push[0]["nonce"] is not None:
            fails.append(f"no push at start ({len(push)} reports)")
        nonce = os.urandom(32).hex()
        if a.case == "answers":
            os.write(master, frame(b"N", nonce.encode()))
        elif a.case == "garbage-then-nonce":
            os.write(master, b"\x00\xff garbage \x1eSC1Nzz" + frame(b"X", b"exec rm -rf /") +
                     frame(b"N", b"not-a-nonce") + frame(b"N", nonce.encode()))
        elif a.case == "huge-input":
            for _ in range(64):  # 1 MiB of noise: the agent's 4 KiB buffer must cope
                os.write(master, b"\x1e" + b"A" * 16383)
            os.write(master, frame(b"N", nonce.encode()))
        elif a.case == "host-gone":
            # The host goes away: POLLHUP from now on. The agent must neither exit nor spin.
            os.close(master)
            master = None
            cpu0 = sum(map(int, open(f"/proc/{agent.pid}/stat").read().split()[13:15]))
            time.sleep(3)
            cpu1 = sum(map(int, open(f"/proc/{agent.pid}/stat").read().split()[13:15]))
            if cpu1 - cpu0 > 30:  # clock ticks (1/100 s): more than 10 % of a core is a busy loop
                fails.append(f"busy loop while the host is gone ({cpu1 - cpu0} ticks in 3 s)")
        elif a.case == "nonce-burst":
            # Eight nonces in one write (696 bytes: more than one 512-byte read). Only the newest is
            # answered, with one collection: the next report echoes the eighth, and the one after
            # that echoes a nonce sent later, not a stale answer to the burst.
            burst = [os.urandom(32).hex() for _ in range(8)]
            os.write(master, b"".join(frame(b"N", n.encode()) for n in burst))
            rep = read_reports(master, 30, 1)
            if [r.get("nonce") for r in rep] != [burst[-1]]:
                fails.append(f"after the burst: {[r.get('nonce') for r in rep]}, want only the 8th {burst[-1]}")
            os.write(master, frame(b"N", nonce.encode()))
            rep = read_reports(master, 30, 1)
            if [r.get("nonce") for r in rep] != [nonce]:
                fails.append(f"after the next nonce: {[r.get('nonce') for r in rep]}, want {nonce}")
            try:
                rc = agent.wait(30)
            except subprocess.TimeoutExpired:
                rc = None
            err = agent.stderr.read() if rc is not None else ""
            collections = err.count("answering")
            if rc != 0 or collections != 2:
                fails.append(f"agent: exit {rc} (want 0 after --max-answers 3), {collections} collections "
                             f"for nonces (want 2)")
        elif a.case == "nonce-again":
            # The host says a nonce again (it resends until it has the answer, e.g. while a slow TCG
            # guest quotes): that nonce is answered once, never collected and sent a second time.
            os.write(master, frame(b"N", nonce.encode()))
            rep = read_reports(master, 30, 1)
            if [r.get("nonce") for r in rep] != [nonce]:
                fails.append(f"first answer: {[r.get('nonce') for r in rep]}, want {nonce}")
            os.write(master, frame(b"N", nonce.encode()) + frame(b"N", nonce.encode()))
            again = [k for k, _ in read_frames(master, 3, lambda fr: False)]
            if again:
                fails.append(f"the nonce said again was answered again: {again}")
            fresh = os.urandom(32).hex()
            os.write(master, frame(b"N", fresh.encode()))
            rep = read_reports(master, 30, 1)
            if [r.get("nonce") for r in rep] != [fresh]:
                fails.append(f"after a new nonce: {[r.get('nonce') for r in rep]}, want {fresh}")
            try:
                rc = agent.wait(30)
            except subprocess.TimeoutExpired:
                rc = None
            err = agent.stderr.read() if rc is not None else ""
            if rc != 0 or err.count("answering") != 2:
                fails.append(f"agent: exit {rc}, {err.count('answering')} collections for nonces (want 2)")
        if a.case not in ("host-gone", "nonce-burst", "nonce-again"):
            rep = read_reports(master, 30, 1)
            if not rep or rep[0].get("nonce") != nonce:
                fails.append(f"no report echoing the nonce ({[r.get('nonce') for r in rep]})")
        if a.case not in ("nonce-burst", "nonce-again") and agent.poll() is not None:
            fails.append(f"agent exited ({agent.returncode})")
    finally:
        agent.kill()
        err += agent.communicate()[1] or ""
    return result(a.case, fails, err)


if __name__ == "__main__":
    sys.exit(main())
