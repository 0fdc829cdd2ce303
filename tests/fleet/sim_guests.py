#!/usr/bin/env python3
"""Many simulated guests in ONE process, each a listening UNIX socket
DIR/NAME.sock speaking the real protocol (docs/protocol.md), for
`sealcheck-probe watch` (tests/fleet/test_watch.py, the fleet benchmark).

    sim_guests.py --dir DIR --guests honest:20,silent:2,flood:2 [--template FILE]
                  [--log FILE] [--slow-ms MS] [--churn-ms MS] [--seed N]

Guest NAME is BEHAVIOUR-NNNN (honest-0000, ...). Behaviours, per nonce the probe sends:
  honest       a valid sealed report echoing the nonce
  slow         the same, --slow-ms later (past the probe's deadline)
  silent       nothing, ever
  flood        malformed frames as fast as the socket takes them (the probe must cut it off)
  oversized    a frame announcing more than the 256 KiB cap, then its bytes
  malformed    a report frame whose payload is not JSON, and a frame with a bad CRC
  replay       the report for the previous nonce (an old nonce), never the current one
  liar         verdict "sealed" while root_mount fails
  otherdigest  a consistent report of another composefs digest (only the policy can tell)
  hostile      root_mount fails with terminal escapes, CR, bidi overrides in its strings
  longreason   root_mount fails with a 2 KiB reason of 2-byte UTF-8 characters (cut anywhere, it splits one)
  dead         a socket nobody accepts on (bound, not listening: connect is refused)
  bigflood     9 valid-CRC report frames of 240 KiB (valid reports of a stale nonce padded with a long note:
               the costliest to parse and validate) per nonce: 2.1 MiB, past the probe's 2 MiB a round
  capflood     9 valid-CRC report frames just under the probe's 64 KiB report cap (valid reports of a stale
               nonce) per nonce: the most parsing the refused-frame cap lets a guest cost
  bigreport    a valid report echoing the nonce, padded to 100 KiB: a frame over the report cap
  rejects      9 small valid-CRC report frames that are no report ({}) per nonce
  tpm          as honest, then an evidence frame ('E') as the agent sends with a TPM: a fresh quote of
               the guest's own software AK (tests/fleet/sim_tpm.py) over the --tpm-evidence capture's
               PCRs and logs; its AK Name pinned in --tpm-state DIR/NAME/ak.name (needs both options)

Control, one command a line on stdin (answered "ok ..." on stdout):
  add NAME BEHAVIOUR | remove NAME | restart NAME (socket gone and back, connections cut)
  | close NAME (cut its connections, keep listening) | become NAME BEHAVIOUR
  | churn MS (0: stop) | recreate-dir (every socket closed, DIR removed and made again, every
  guest listening again) | list | count | quit
--churn-ms MS: every MS one deterministic event (random.Random(--seed)): a guest
vanishes, comes back, or restarts. --log FILE: one line per report sent,
"NAME NONCE MONO_MS", CLOCK_MONOTONIC milliseconds taken right before the write
that hands its last byte to the kernel (after the drain when the socket was
full), so report-to-verdict latencies from it are never under-estimated.
Prints "ready N" when every socket listens.
"""
import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "probe"))
import sim_tpm  # noqa: E402
from fake_guest import failing, frame, hostile_strings, other_digest, report  # noqa: E402  (the frame code the probe tests use)

BEHAVIOURS = ("honest", "slow", "silent", "flood", "oversized", "malformed", "replay", "liar", "otherdigest",
              "hostile", "longreason", "dead", "bigflood", "capflood", "bigreport", "rejects", "tpm")
BIG_FLOOD_FRAMES, BIG_FLOOD_BYTES = 9, 240 * 1024
BIG_REPORT_BYTES = 100 * 1024
CAP_FLOOD_BYTES = 64 * 1024 - 16


def padded(template, nonce, size):
    """A valid report echoing nonce whose JSON is exactly size bytes: a note pads it."""
    base = len(report(template, nonce))

    def pad(doc):
        doc["notes"].append("x" * (size - base - 3))  # ,"xx..x"
    out = report(template, nonce, pad)
    assert len(out) == size
    return out
NONCE_FRAME = 22 + 64 + 1


def mono_ms():
    return time.clock_gettime(time.CLOCK_MONOTONIC) * 1000.0


class Guest:
    def __init__(self, sim, name, behaviour):
        self.sim, self.name, self.behaviour = sim, name, behaviour
        self.path = os.path.join(sim.dir, name + ".sock")
        self.server = None
        self.raw = None  # "dead": a bound socket that never listens
        self.writers = set()
        self.last_nonce = None
        self.answered = 0
        self.pending_log = []
        self.ak = None
        if behaviour == "tpm":
            self.ak = sim_tpm.SoftAK()
            self.ak.pin(sim.tpm_state, name)

    async def start(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        if self.behaviour == "dead":
            self.raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.raw.bind(self.path)
            return
        self.server = await asyncio.start_unix_server(self.serve, path=self.path, backlog=128)

    def cut(self):
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()

    async def stop(self):
        if self.server:
            self.server.close()
            self.server = None
        if self.raw:
            self.raw.close()
            self.raw = None
        self.cut()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def send_report(self, writer, nonce, payload, evidence=None):
        data = frame(b"R", payload)
        if evidence is not None:  # one write, as the agent's R then E: the stamp is after both are made
            data += frame(b"E", evidence)
        # Stamped right before the write that hands the last byte to the kernel, so a
        # latency measured from it is never under-estimated (the probe may read it at once).
        t = mono_ms()
        writer.write(data)
        if self.sim.log:
            if writer.transport.get_write_buffer_size() == 0:
                self.sim.log.write("%s %s %.3f\n" % (self.name, nonce, t))
            else:
                self.pending_log.append(nonce)  # the rest goes when the socket drains: stamped then
        self.answered += 1

    async def answer(self, writer, nonce):
        sim, t = self.sim, self.sim.template
        b = self.behaviour
        if b == "honest":
            self.send_report(writer, nonce, report(t, nonce))
        elif b == "tpm":
            payload = report(t, nonce)
            self.send_report(writer, nonce, payload, self.ak.evidence(sim.tpm_capture, nonce, payload))
        elif b == "slow":
            await asyncio.sleep(sim.slow_ms / 1000.0)
            if not writer.is_closing():
                self.send_report(writer, nonce, report(t, nonce))
        elif b == "oversized":
            writer.write(b"\x1eSC1R%08x%08x:" % (300 * 1024, 0) + b"x" * (300 * 1024) + b"\n")
        elif b == "malformed":
            writer.write(frame(b"R", b"{sealed: yes}") + b"\x1eSC1R00000004deadbeef:junk\n")
        elif b == "replay":
            old = self.last_nonce or ("0" * 64 if nonce != "0" * 64 else "1" * 64)
            writer.write(frame(b"R", report(t, old)))
        elif b == "liar":
            self.send_report(writer, nonce, report(t, nonce, failing("root_mount", "overlay without verity=require",
                                                                     verdict="sealed")))
        elif b == "otherdigest":
            self.send_report(writer, nonce, report(sim.other, nonce))
        elif b == "hostile":
            self.send_report(writer, nonce, report(t, nonce, hostile_strings))
        elif b == "bigflood":
            if sim.bigflood is None:  # made once: the simulator's cost is the write, as a real guest's would be
                sim.bigflood = frame(b"R", padded(t, "0" * 64, BIG_FLOOD_BYTES)) * BIG_FLOOD_FRAMES
            writer.write(sim.bigflood)
        elif b == "capflood":
            if sim.capflood is None:
                sim.capflood = frame(b"R", padded(t, "0" * 64, CAP_FLOOD_BYTES)) * BIG_FLOOD_FRAMES
            writer.write(sim.capflood)
        elif b == "bigreport":
            self.send_report(writer, nonce, padded(t, nonce, BIG_REPORT_BYTES))
        elif b == "rejects":
            writer.write(frame(b"R", b"{}") * 9)
        elif b == "longreason":
            self.send_report(writer, nonce, report(t, nonce, failing("root_mount", "\u00e9" * 1000)))
        self.last_nonce = nonce
        await writer.drain()
        while self.pending_log:
            self.sim.log.write("%s %s %.3f\n" % (self.name, self.pending_log.pop(0), mono_ms()))

    async def flood(self, writer):
        junk = b"\x1eSC1R00000004deadbeef:junk\n" * 2048
        while not writer.is_closing():
            writer.write(junk)
            await writer.drain()

    async def serve(self, reader, writer):
        self.writers.add(writer)
        tasks = set()
        try:
            if self.behaviour == "flood":
                await self.flood(writer)
                return
            buf = b""
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                buf += data
                while True:
                    i = buf.find(b"\x1eSC1N")
                    if i < 0:
                        buf = buf[-4:]
                        break
                    if len(buf) < i + NONCE_FRAME:
                        buf = buf[i:]
                        break
                    nonce = buf[i + 22:i + 86].decode("ascii", "replace")
                    buf = buf[i + NONCE_FRAME:]
                    if self.behaviour == "silent":
                        continue
                    task = asyncio.ensure_future(self.answer(writer, nonce))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        except (ConnectionError, OSError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            self.writers.discard(writer)
            writer.transport.abort()


class Sim:
    def __init__(self, args):
        self.dir = args.dir
        self.slow_ms = args.slow_ms
        with open(args.template) as f:
            self.template = json.load(f)
        self.other = other_digest(self.template)
        self.bigflood = self.capflood = None
        self.tpm_capture = sim_tpm.Capture(args.tpm_evidence) if args.tpm_evidence else None
        self.tpm_state = args.tpm_state
        self.log = open(args.log, "a", buffering=1) if args.log else None
        self.guests = {}
        self.rng = random.Random(args.seed)
        self.gone = {}  # churned away: name -> behaviour
        self.churner = None
        self.churn_events = 0

    async def add(self, name, behaviour):
        if name in self.guests:
            return "exists"
        g = Guest(self, name, behaviour)
        await g.start()
        self.guests[name] = g
        return "added"

    async def remove(self, name):
        g = self.guests.pop(name, None)
        if not g:
            return "unknown"
        await g.stop()
        return "removed"

    async def command(self, line):
        words = line.split()
        if not words:
            return "empty"
        cmd = words[0]
        if cmd == "add" and len(words) == 3 and words[2] in BEHAVIOURS:
            if words[2] == "tpm" and not self.tpm_capture:
                return "no --tpm-evidence"
            return await self.add(words[1], words[2])
        if cmd == "remove" and len(words) == 2:
            return await self.remove(words[1])
        if cmd == "restart" and len(words) == 2 and words[1] in self.guests:
            g = self.guests[words[1]]
            await g.stop()
            await g.start()
            return "restarted"
        if cmd == "close" and len(words) == 2 and words[1] in self.guests:
            self.guests[words[1]].cut()
            return "closed"
        if cmd == "become" and len(words) == 3 and words[1] in self.guests and words[2] in BEHAVIOURS:
            self.guests[words[1]].behaviour = words[2]
            return "became"
        if cmd == "churn" and len(words) == 2 and words[1].isdigit():
            if self.churner:
                self.churner.cancel()
                self.churner = None
            if int(words[1]):
                self.churner = asyncio.ensure_future(self.churn(int(words[1])))
            return "churn %s" % words[1]
        if cmd == "recreate-dir" and len(words) == 1:
            # As systemd's RuntimeDirectory= or `rm -rf DIR; mkdir DIR` does to a running host.
            for g in self.guests.values():
                await g.stop()
            shutil.rmtree(self.dir, ignore_errors=True)
            os.mkdir(self.dir)
            for g in self.guests.values():
                await g.start()
            return "recreated %d" % len(self.guests)
        if cmd == "list":
            return " ".join(sorted(self.guests))
        if cmd == "count":
            return "%d" % len(self.guests)
        if cmd == "quit":
            raise SystemExit(0)
        return "bad command"

    async def churn(self, every_ms):
        while True:
            await asyncio.sleep(every_ms / 1000.0)
            self.churn_events += 1
            roll = self.rng.random()
            if self.gone and roll < 0.34:
                name = self.rng.choice(sorted(self.gone))
                await self.add(name, self.gone.pop(name))
            elif self.guests and roll < 0.67:
                name = self.rng.choice(sorted(self.guests))
                self.gone[name] = self.guests[name].behaviour
                await self.remove(name)
            elif self.guests:
                name = self.rng.choice(sorted(self.guests))
                await self.command("restart " + name)


def parse_spec(spec):
    out = []
    for part in spec.split(","):
        b, _, n = part.partition(":")
        if b not in BEHAVIOURS or not n.isdigit():
            raise SystemExit("sim_guests: bad --guests part %r (BEHAVIOUR:COUNT, one of %s)" % (part, ", ".join(BEHAVIOURS)))
        out.append((b, int(n)))
    return out


async def main_async(args):
    sim = Sim(args)
    for b, n in parse_spec(args.guests):
        for i in range(n):
            await sim.add("%s-%04d" % (b, i), b)
    print("ready %d" % len(sim.guests), flush=True)
    if args.churn_ms:
        sim.churner = asyncio.ensure_future(sim.churn(args.churn_ms))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while True:
            line = await reader.readline()
            if not line:
                if args.exit_on_eof:
                    break
                await asyncio.sleep(3600)
                continue
            try:
                answer = await sim.command(line.decode())
            except SystemExit:
                break
            print("ok " + answer, flush=True)
    finally:
        for name in list(sim.guests):
            await sim.remove(name)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--guests", required=True)
    ap.add_argument("--template", default=os.path.join(HERE, "..", "probe", "sealed-report.json"))
    ap.add_argument("--log")
    ap.add_argument("--slow-ms", type=int, default=5000)
    ap.add_argument("--churn-ms", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tpm-evidence", help="a real boot's evidence document, for tpm guests")
    ap.add_argument("--tpm-state", help="the watch's --state-dir: tpm guests pin their AK Name there")
    ap.add_argument("--exit-on-eof", action="store_true", default=True)
    args = ap.parse_args()
    if any(b == "tpm" for b, _ in parse_spec(args.guests)) and not (args.tpm_evidence and args.tpm_state):
        raise SystemExit("sim_guests: tpm guests need --tpm-evidence and --tpm-state")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
