#!/usr/bin/env python3
"""A fake guest on the attestation socket, for sealcheck-probe attest.

It listens where a VM's virtio-serial chardev would, reads the probe's nonce,
and answers as the MODE says: honestly (in odd pieces), with replays, with
malformed or oversized reports, with floods, or too slowly. The template is a
real report sealcheck produced for a sealed fixture tree.

    fake_guest.py --probe BIN --template FILE MODE
Runs the probe against itself and checks its exit code and reason.
"""
import argparse
import copy
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib


def frame(kind, payload):
    return b"\x1eSC1" + kind + b"%08x%08x:" % (len(payload), zlib.crc32(payload)) + payload + b"\n"


def report(template, nonce, mutate=None):
    doc = copy.deepcopy(template)
    doc["nonce"] = nonce
    if mutate:
        mutate(doc)
    return json.dumps(doc, separators=(",", ":")).encode()


def read_nonce(conn):
    buf = b""
    while b"\n" not in buf or not buf.startswith(b"\x1eSC1N"):
        d = conn.recv(4096)
        if not d:
            return None
        buf += d
        i = buf.find(b"\x1eSC1N")
        buf = buf[i:] if i >= 0 else b""
    return buf[22:86].decode()


def deep(n):
    v = {}
    for _ in range(n):
        v = {"x": v}
    return v


# mode: (behaviour, expected exit code, expected text in the probe's reason or output)
def run_guest(conn, mode, t):
    nonce = read_nonce(conn)
    good = report(t, nonce)
    if mode == "good-1byte":
        for b in frame(b"R", good):
            conn.sendall(bytes([b]))
    elif mode == "good-143":
        f = frame(b"R", good)
        for i in range(0, len(f), 143):
            conn.sendall(f[i:i + 143])
    elif mode == "good-2frames":
        # The push without a nonce and the answer in one write, after line noise.
        conn.sendall(b"noise\x1eSC1Rxx" + frame(b"R", report(t, None)) + frame(b"R", good))
    elif mode == "good-after-truncated":
        f = frame(b"R", good)
        conn.sendall(f[:len(f) // 2] + f)
    elif mode == "replay":
        old = "0" * 64 if nonce != "0" * 64 else "1" * 64
        for _ in range(3):
            conn.sendall(frame(b"R", report(t, old)))
            time.sleep(0.2)
    elif mode == "unsolicited":
        conn.sendall(frame(b"R", report(t, None)))
    elif mode.startswith("bad-"):
        payloads = {
            "bad-duplicate-key": good[:-1] + b',"verdict":"sealed"}',
            "bad-nul-escape": good.replace(b'"sealed"', b'"seal\\u0000ed"', 1),
            "bad-raw-nul": good.replace(b'"sealed"', b'"seal\x00ed"', 1),
            "bad-utf8": good.replace(b'"sealed"', b'"seal\xffed"', 1),
            "bad-depth": report(t, nonce, lambda d: d["checks"]["lockdown"].update(deep(20))),
            "bad-number-nonce": good.replace(b'"nonce":"' + nonce.encode() + b'"', b'"nonce":12345', 1),
            "bad-unknown-field": report(t, nonce, lambda d: d.update(admin=True)),
            "bad-missing-field": report(t, nonce, lambda d: d.pop("checks")),
            "bad-not-json": b"{sealed: yes}",
        }
        conn.sendall(frame(b"R", payloads[mode]))
    elif mode == "oversized":
        conn.sendall(b"\x1eSC1R%08x%08x:" % (300 * 1024, 0) + b"x" * 1000)
    elif mode == "flood":
        for _ in range(100):
            conn.sendall(b"\x1eSC1R00000004deadbeef:junk\n")
    elif mode == "dribble":
        for b in frame(b"R", good):  # far slower than the deadline allows
            conn.sendall(bytes([b]))
            time.sleep(0.05)
    time.sleep(8)


CASES = {
    "good-1byte": (0, "SEALED"),
    "good-143": (0, "SEALED"),
    "good-2frames": (0, "SEALED"),
    "good-after-truncated": (0, "SEALED"),
    "replay": (2, "stale or foreign nonce"),
    "unsolicited": (2, "no nonce"),
    "bad-duplicate-key": (2, "duplicate"),
    "bad-nul-escape": (2, "NUL"),
    "bad-raw-nul": (2, "raw NUL"),
    "bad-utf8": (2, "UTF-8"),
    "bad-depth": (2, "deeper"),
    "bad-number-nonce": (2, "nonce is not a string"),
    "bad-unknown-field": (2, "unknown field 'admin'"),
    "bad-missing-field": (2, "missing field 'checks'"),
    "bad-not-json": (2, "not valid JSON"),
    "oversized": (2, "no valid report"),
    "flood": (2, "malformed frames"),
    "dribble": (2, "no valid report"),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--probe")
    p.add_argument("--template")
    p.add_argument("--list", action="store_true")
    p.add_argument("mode", nargs="?")
    a = p.parse_args()
    if a.list:
        print("\n".join(CASES))
        return 0
    want_rc, want_text = CASES[a.mode]
    template = json.load(open(a.template))
    digest = template["checks"]["root_mount"]["digest"]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "attest.sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        srv.listen(1)

        def serve():
            conn, _ = srv.accept()
            try:
                run_guest(conn, a.mode, template)
            except (BrokenPipeError, ConnectionResetError):
                pass
            conn.close()

        threading.Thread(target=serve, daemon=True).start()
        t0 = time.monotonic()
        res = subprocess.run([a.probe, "attest", "--socket", path, "--timeout", "4", "--expect-digest", digest],
                             capture_output=True, text=True, timeout=30)
        took = time.monotonic() - t0
    out = res.stdout + res.stderr
    ok = res.returncode == want_rc and want_text in out
    print(f"{'ok' if ok else 'not ok'} - {a.mode}: exit {res.returncode} (want {want_rc}) in {took:.1f} s")
    if not ok:
        print(f"# wanted {want_text!r} in:\n{out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
