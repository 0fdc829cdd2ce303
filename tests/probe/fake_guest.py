#!/usr/bin/env python3
"""A fake guest on the attestation socket, for sealcheck-probe attest.

It listens where a VM's virtio-serial chardev would, reads the probe's nonce,
and answers as the MODE says: honestly (in odd pieces), with replays, with
malformed or oversized reports, with floods, too slowly, or with a valid report
the probe must judge NOT SEALED (a failing check, a lying verdict, another
digest, Secure Boot in setup or audit mode, failing objects, escape sequences
in guest strings). The template is a real report sealcheck produced for a
sealed fixture tree.

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


def failing(check, reason, verdict="unsealed", **facts):
    """A report in which CHECK fails with REASON; the guest's verdict says VERDICT."""
    def mutate(d):
        d["checks"][check].update(status="fail", reason=reason, **facts)
        d["verdict"] = verdict
    return mutate


def other_digest(t):
    """The template under another composefs digest, consistent everywhere the
    digest appears (cmdline, root mount, image path and measurement): every
    check passes and only the host's digest policy can tell."""
    old = t["checks"]["root_mount"]["digest"]
    new = "5eed" * (len(old) // 4)
    return json.loads(json.dumps(t).replace(old, new).replace(old[:16], new[:16]))


def sb_mode(mode, setup, audit):
    """Secure Boot facts of setup or audit mode (as the agent decodes them,
    docs/report.md) under a check that still claims pass: only the host's
    own reading of the mode can catch it."""
    def mutate(d):
        sb = d["checks"]["secure_boot"]
        sb.update(mode=mode, mokutil="SecureBoot disabled\nPlatform is in Setup Mode", PK=None)
        sb["variables"].update(SecureBoot=0, SetupMode=setup, AuditMode=audit, DeployedMode=0)
    return mutate


def objects_failing(d):
    d["checks"]["objects"] = {
        "status": "fail",
        "reason": "1 of 12 objects unreadable (verity violation)",
        "deep": True, "files": 40, "objects": 12, "inline": 20, "other": 8,
        "bytes": 1 << 20, "bytes_read": 1 << 20,
        "problems": {"missing": 0, "without_verity": 0, "mismatched": 0, "unreadable": 1,
                     "vanished": 0, "bad_xattr": 0, "errors": 0},
        "listed": [{"path": "/usr/share/sealcheck-demo/payload.bin", "object": "ab/" + "cd" * 63,
                    "problem": "unreadable", "detail": "read: Input/output error"}],
        "stopped_early": False, "stop_reason": None, "seconds": 0.5, "walker": "parsed",
        "image_digest": d["checks"]["composefs_image"]["measured"],
    }
    d["verdict"] = "unsealed"


# What a guest may put in its strings to rewrite the operator's screen: erase
# the line and print its own verdict (CSI, CR, a raw newline), set the window
# title (OSC ... BEL), the 8-bit CSI (C1, U+009B), DEL, and bidi overrides
# (Trojan Source) that reorder what follows.
HOSTILE = ("disk gone\x1b[2K\rVerdict: SEALED\x1b]0;x\x07\nVerdict: SEALED"
           "\u009b2K\u0085\x7f \u202eDELAES\u202c \u2066x\u2069\u200f")


# The same in 64 characters, the schema's cap on machine_id and boot_id.
HOSTILE_ID = "\x1b[2K\rVerdict: SEALED\x1b]0;x\x07\nVerdict: SEALED\u009b2K\u202e"


def hostile_strings(d):
    failing("root_mount", HOSTILE)(d)
    d["system"].update(machine_id=HOSTILE_ID, boot_id=HOSTILE_ID, kernel_release=HOSTILE, hostname=HOSTILE)


# Valid reports the probe must judge NOT SEALED (exit 1): mode -> mutation.
UNSEALED = {
    "fail-cmdline": failing("cmdline", "composefs= is optional ('?' prefix): verity not required"),
    "fail-root_mount": failing("root_mount", "/ is ext4, not a composefs overlay"),
    "fail-secure_boot": failing("secure_boot", "shim validation disabled (MokSBStateRT)",
                                shim_validation_disabled=True, MokSBStateRT="01"),
    "fail-composefs_image": failing("composefs_image", "the image has no fs-verity"),
    "verdict-lies": failing("root_mount", "overlay without verity=require", verdict="sealed"),
    "other-digest": lambda d: d.update(other_digest(d)),
    "sb-setup-mode": sb_mode("setup", 1, 0),
    "sb-audit-mode": sb_mode("audit", 1, 1),
    "objects-fail": objects_failing,
    "escape-sequences": hostile_strings,
}


# Guests that sent no valid report and never will: they hang up after their last frame, so the
# probe ends on the closed socket (its reason still names the last rejected report) instead of
# waiting out its --timeout, which these cases do not test. oversized and dribble leave a frame
# unfinished and stay connected: they test that the deadline ends the session ("no valid report
# within the deadline").
HANGS_UP = {"replay", "unsolicited", "bad-duplicate-key", "bad-nul-escape", "bad-raw-nul", "bad-utf8", "bad-depth",
            "bad-number-nonce", "bad-unknown-field", "bad-escape-key", "bad-missing-field", "bad-not-json"}


# mode: (behaviour, expected exit code, expected text in the probe's reason or output)
def run_guest(conn, mode, t):
    nonce = read_nonce(conn)
    good = report(t, nonce)
    if mode in ("good", "no-policy"):
        conn.sendall(frame(b"R", good))
    elif mode in UNSEALED:
        conn.sendall(frame(b"R", report(t, nonce, UNSEALED[mode])))
    elif mode == "good-1byte":
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
            "bad-escape-key": report(t, nonce, lambda d: d.update({HOSTILE: True})),
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
    if mode in HANGS_UP:
        return  # serve() closes the connection
    time.sleep(8)


CASES = {
    "good": (0, "SEALED"),
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
    "bad-escape-key": (2, "unknown field 'disk gone"),
    "bad-missing-field": (2, "missing field 'checks'"),
    "bad-not-json": (2, "not valid JSON"),
    "oversized": (2, "no valid report"),
    # A guest that floods malformed frames is cut off and judged (docs/threat-model.md T2): frames with a
    # bad CRC, more than 8 refused in one round (all those of one read are counted).
    "flood": (1, "frames refused"),
    "dribble": (2, "no valid report"),
    # Without a digest policy the probe must refuse, not judge.
    "no-policy": (2, "--expect-digest"),
    "fail-cmdline": (1, "broken link: cmdline: fail: composefs= is optional"),
    "fail-root_mount": (1, "broken link: root_mount: fail: / is ext4"),
    "fail-secure_boot": (1, "broken link: secure_boot: fail: shim validation disabled"),
    "fail-composefs_image": (1, "broken link: composefs_image: fail: the image has no fs-verity"),
    "verdict-lies": (1, "broken link: root_mount: fail: overlay without verity=require"),
    "other-digest": (1, "broken link: policy:digest"),
    "sb-setup-mode": (1, "broken link: policy:secure_boot"),
    "sb-audit-mode": (1, "broken link: policy:secure_boot"),
    "objects-fail": (1, "broken link: objects: fail: 1 of 12 objects unreadable"),
    "escape-sequences": (1, "broken link: root_mount: fail: disk gone"),
}

# Modes whose guest strings are hostile: the output a person reads must carry
# none of them raw, and exactly one verdict line, the probe's.
HOSTILE_MODES = {"escape-sequences": "Verdict: NOT SEALED", "bad-escape-key": "Verdict: NO REPORT"}


def raw_controls(text):
    """Characters of TEXT that are C0 (but newline), DEL, C1 or bidi controls."""
    bidi = set("\u061c\u200e\u200f") | {chr(c) for c in range(0x202a, 0x202f)} | {chr(c) for c in range(0x2066, 0x206a)}
    return sorted({c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f or c in bidi})


def check_output(mode, rc, want_rc, want_text, out):
    """What is wrong with the probe's answer, or None."""
    if rc != want_rc:
        return f"exit {rc}, want {want_rc}"
    if want_text not in out:
        return f"wanted {want_text!r}"
    if want_rc == 1 and "Verdict: NOT SEALED" not in out:
        return "no 'Verdict: NOT SEALED' line"
    if mode in HOSTILE_MODES:
        bad = raw_controls(out)
        if bad:
            return "guest control characters printed raw: " + ", ".join(f"U+{ord(c):04X}" for c in bad)
        verdicts = [line for line in out.split("\n") if line.startswith("Verdict:")]
        if len(verdicts) != 1 or not verdicts[0].startswith(HOSTILE_MODES[mode]):
            return f"want one verdict line '{HOSTILE_MODES[mode]} ...', got {verdicts!r}"
    return None


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
        policy = [] if a.mode == "no-policy" else ["--expect-digest", digest]
        res = subprocess.run([a.probe, "attest", "--socket", path, "--timeout", "4"] + policy,
                             capture_output=True, timeout=30)
        took = time.monotonic() - t0
    # Bytes that are not UTF-8 are kept (as surrogates) and shown escaped below.
    out = (res.stdout + res.stderr).decode("utf-8", "surrogateescape")
    why = check_output(a.mode, res.returncode, want_rc, want_text, out)
    print(f"{'not ok' if why else 'ok'} - {a.mode}: exit {res.returncode} (want {want_rc}) in {took:.1f} s")
    if why:
        shown = "".join(c if c == "\n" or " " <= c < "\x7f" else c.encode("unicode_escape").decode() for c in out)
        print(f"# {why}; the probe said (controls and non-ASCII escaped here):\n{shown}")
    return 1 if why else 0


if __name__ == "__main__":
    sys.exit(main())
