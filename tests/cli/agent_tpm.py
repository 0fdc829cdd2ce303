#!/usr/bin/env python3
"""The agent's TPM evidence frame against a fake host (common/sc-evidence.h).

As fake_host.py: a pty stands in for the virtio-serial port. A real swtpm
on loopback is the TPM (--tpm-tcti swtpm:...). The test is the host: it
sends a nonce and checks that the report frame is followed by an 'E' frame
whose quote binds that nonce and exactly the report bytes it received.

    agent_tpm.py --sealcheck BIN --fixtures DIR --preload SO CASE
    agent_tpm.py --list
CASE: evidence (a TPM: R then E), no-device (libraries, no TPM device: R alone),
off (--tpm off: R alone), fixture-root (no TCTI under --root: R alone),
ek-request (after R and E the host asks for the EK: the bytes that come back
are exactly one K frame, the EK document for that nonce, and nothing else;
an agent once sent freed heap bytes before it, from a stale frame length),
ek-flood (a host that stops reading and keeps asking for the EK: one K frame
per nonce, the EK read from the TPM once per agent run),
challenge-newest (several credential challenges in one write: one answer, to
the newest valid one for the nonce answered), challenge-then-malformed (a
valid challenge, then a malformed one in the same write: the valid one is
answered). The challenge cases need tpm2_makecredential (tpm2-tools).
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import pty
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
import tty
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_host  # noqa: E402
import status_cases  # noqa: E402

# The cases that talk to the TPM past the evidence: EK requests and credential challenges.
SWTPM_CASES = ("ek-request", "ek-flood", "challenge-newest", "challenge-then-malformed")
CASES = ("evidence", "no-device", "off", "fixture-root") + SWTPM_CASES
KEYS = {"schema", "nonce", "report_sha256", "ak_public", "quote", "signature", "pcrs", "eventlog", "userspace_log"}
PCRS = {"0", "1", "2", "3", "4", "5", "7", "9", "11", "12"}


def free_port_pair():
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        try:
            s2 = socket.socket()
            s2.bind(("127.0.0.1", p + 1))
            s2.close()
            return p
        except OSError:
            continue
    raise RuntimeError("no free port pair")


def start_swtpm(state):
    port = free_port_pair()
    proc = subprocess.Popen(["swtpm", "socket", "--tpm2", "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                             "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                             "--flags", "not-need-init,startup-clear", "--tpmstate", f"dir={state}"],
                            stdout=subprocess.DEVNULL)
    for _ in range(300):  # until it listens: a readiness wait, not a timing assertion
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            socket.create_connection(("127.0.0.1", port + 1), 1).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("swtpm exited")
            time.sleep(0.05)
    return proc, f"swtpm:host=127.0.0.1,port={port}"


def attest_extra_data(attest):
    """TPMS_ATTEST: magic, type, qualifiedSigner (TPM2B_NAME), extraData (TPM2B_DATA)."""
    magic, typ, n = struct.unpack(">IHH", attest[:8])
    off = 8 + n
    (m,) = struct.unpack(">H", attest[off:off + 2])
    return magic, typ, attest[off + 2:off + 2 + m]


def check_evidence(nonce, report, e, eventlog, fails):
    doc = json.loads(e)
    if set(doc) != KEYS:
        fails.append(f"E keys {sorted(doc)}, want {sorted(KEYS)}")
        return
    if doc["schema"] != "sealcheck.evidence.v1" or doc["nonce"] != nonce:
        fails.append(f"E schema/nonce {doc['schema']} {doc['nonce']}")
    if doc["report_sha256"] != hashlib.sha256(report).hexdigest():
        fails.append("report_sha256 is not the hash of the R frame's payload as received")
    magic, typ, extra = attest_extra_data(base64.b64decode(doc["quote"], validate=True))
    want = hashlib.sha256(nonce.encode() + hashlib.sha256(report).digest()).digest()
    if magic != 0xff544347 or typ != 0x8018:
        fails.append(f"quote magic {magic:#x} type {typ:#x}")
    if extra != want:
        fails.append(f"quote extraData {extra.hex()}, want SHA-256(nonce || SHA-256(report)) {want.hex()}")
    if set(doc["pcrs"]) != {"sha256"} or set(doc["pcrs"]["sha256"]) != PCRS or \
            any(len(v) != 64 or v != v.lower() for v in doc["pcrs"]["sha256"].values()):
        fails.append(f"pcrs {doc['pcrs']}")
    if base64.b64decode(doc["eventlog"], validate=True) != eventlog:
        fails.append("eventlog is not the file's bytes")
    if doc["userspace_log"] is not None:
        fails.append("userspace_log is not null without the file")
    ak = base64.b64decode(doc["ak_public"], validate=True)
    sig = base64.b64decode(doc["signature"], validate=True)
    if struct.unpack(">H", ak[:2])[0] != len(ak) - 2 or struct.unpack(">HH", sig[:4]) != (0x0014, 0x000b):
        fails.append("ak_public is not a TPM2B_PUBLIC or signature not RSASSA-SHA256")
    print(f"# E payload: {len(e)} bytes; ak_public {len(ak)} B, quote "
          f"{len(base64.b64decode(doc['quote']))} B, signature {len(sig)} B, eventlog {len(eventlog)} B")


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
    if a.case in SWTPM_CASES + ("evidence", "off") and not shutil.which("swtpm"):
        print("1..0 # SKIP swtpm is not installed")
        return 77
    if a.case.startswith("challenge-") and not shutil.which("tpm2_makecredential"):
        print("1..0 # SKIP tpm2_makecredential (tpm2-tools) is not installed")
        return 77
    with tempfile.TemporaryDirectory(prefix="sealcheck-agent-tpm-") as tmp:
        tree = status_cases.Tree(a.fixtures, "snakeoil-user", tmp)
        status_cases.sealed(tree)
        eventlog = b"\x00\x00\x00\x00\x03\x00\x00\x00" + bytes(range(64))  # any bytes: carried, not parsed
        os.makedirs(os.path.join(tree.root, "sys/kernel/security/tpm0"), exist_ok=True)
        with open(os.path.join(tree.root, "sys/kernel/security/tpm0/binary_bios_measurements"), "wb") as f:
            f.write(eventlog)
        swtpm, tcti = None, None
        if a.case in SWTPM_CASES + ("evidence", "off"):
            os.mkdir(os.path.join(tmp, "tpm"))
            swtpm, tcti = start_swtpm(os.path.join(tmp, "tpm"))
        try:
            return run(a, tree.root, tcti, eventlog)
        finally:
            if swtpm:
                swtpm.terminate()
                swtpm.wait()


def start_agent(a, root, extra, max_answers):
    """The agent on a pty standing in for the port, answering at most @max_answers nonces: (master, agent, slave path)."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    os.close(slave)
    agent = subprocess.Popen([a.sealcheck, "agent", "--root", root, "--device", name, "--wait-port", "5",
                              "--max-answers", str(max_answers)] + extra,
                             env=dict(os.environ, LD_PRELOAD=os.path.abspath(a.preload)),
                             stderr=subprocess.PIPE, text=True)
    return master, agent, name


def check_exit(agent, max_answers, fails):
    try:
        rc = agent.wait(30)
    except subprocess.TimeoutExpired:
        rc = None
    if rc != 0:
        fails.append(f"agent exit {rc} (want 0 after --max-answers {max_answers})")


def read_raw(fd, seconds, until):
    """The raw bytes for up to `seconds`, or until until(bytes) is true."""
    buf, end = b"", time.monotonic() + seconds
    while time.monotonic() < end and not until(buf):
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                buf += os.read(fd, 65536)
            except OSError:
                time.sleep(0.1)
    return buf


def one_frame(buf):
    """(type, payload) when @buf is exactly one whole frame with a valid CRC, else None."""
    if len(buf) < 23 or buf[:4] != b"\x1eSC1" or buf[21:22] != b":":
        return None
    n = int(buf[5:13], 16)
    payload = buf[22:22 + n]
    if len(buf) != 22 + n + 1 or buf[-1:] != b"\n" or zlib.crc32(payload) != int(buf[13:21], 16):
        return None
    return buf[4:5], payload


def ek_request(master, agent, fails):
    """After R and E the host asks for the EK: the bytes back must be exactly one K frame."""
    fake_host.read_frames(master, 20, lambda f: len(f) >= 1)  # the push
    nonce = os.urandom(32).hex()
    os.write(master, fake_host.frame(b"N", nonce.encode()))
    frames = fake_host.read_frames(master, 60, lambda f: len(f) >= 2)
    if [t for t, _ in frames] != [b"R", b"E"]:
        fails.append(f"frames after the nonce {[t for t, _ in frames]}, want R E")
    # The EK request for that nonce: what comes back must be one K frame, every byte of it.
    os.write(master, fake_host.frame(b"K", nonce.encode()))

    def whole(buf):
        return buf.startswith(b"\x1eSC1") and len(buf) >= 22 and len(buf) >= 22 + int(buf[5:13], 16) + 1
    raw = read_raw(master, 60, lambda b: len(b) > 0 and (not b.startswith(b"\x1eSC1K") or whole(b)))
    raw += read_raw(master, 1, lambda b: False)  # and nothing after it
    got = one_frame(raw)
    if got is None or got[0] != b"K":
        fails.append(f"after the EK request: {len(raw)} bytes, not exactly one K frame (starts {raw[:40]!r})")
    else:
        doc = json.loads(got[1])
        if doc.get("schema") != "sealcheck.ek.v1" or doc.get("nonce") != nonce or not doc.get("ek_public"):
            fails.append(f"the EK document: {sorted(doc)} nonce {doc.get('nonce')}")
        else:
            print(f"# the K frame alone: {len(raw)} bytes, EK public {len(base64.b64decode(doc['ek_public']))} B")
    # The third answer lets the agent end (--max-answers 3).
    os.write(master, fake_host.frame(b"N", os.urandom(32).hex().encode()))
    fake_host.read_frames(master, 60, lambda f: agent.poll() is not None)


def kinds(frames):
    return [t.decode() for t, _ in frames]


def answered_nonce(master, fails, push=True):
    """(The push, then) a nonce answered with R and E: (nonce, the E document)."""
    if push:
        fake_host.read_frames(master, 20, lambda f: len(f) >= 1)
    nonce = os.urandom(32).hex()
    os.write(master, fake_host.frame(b"N", nonce.encode()))
    frames = fake_host.read_frames(master, 60, lambda f: len(f) >= 2)
    if kinds(frames) != ["R", "E"] or json.loads(frames[0][1]).get("nonce") != nonce:
        fails.append(f"frames after the nonce {kinds(frames)}, want R E echoing it")
        return nonce, None
    return nonce, json.loads(frames[1][1])


def read_until_evidence(master):
    """The frames up to the next E (the last frame the agent sends for a nonce), then a second more."""
    frames = fake_host.read_frames(master, 60, lambda f: kinds(f)[-1:] == ["E"])
    return frames + fake_host.read_frames(master, 1, lambda f: False)


def cpu_ticks(pid):
    """utime + stime of @pid, in clock ticks (proc(5))."""
    with open(f"/proc/{pid}/stat") as f:
        return sum(map(int, f.read().rsplit(")", 1)[1].split()[11:13]))


def ek_flood(master, agent, slave, fails):
    """
    A host that stops reading (the pty's output suspended with tcflow: the agent's writes block, as on
    a port whose host does not read) and asks for the EK every 0.25 s for 12 s, more than two of the
    agent's 5 s write deadlines (docs/protocol.md). One K frame is queued for the nonce and nothing is
    added to it; once the host reads again that is all that comes, and a later nonce's EK request is
    answered from the EK read the first time, with no TPM work.
    """
    nonce, _ = answered_nonce(master, fails)
    ctl = os.open(slave, os.O_RDWR | os.O_NOCTTY)
    try:
        termios.tcflow(ctl, termios.TCOOFF)
        cpu0 = cpu_ticks(agent.pid)
        end = time.monotonic() + 12
        sent = 0
        while time.monotonic() < end:
            os.write(master, fake_host.frame(b"K", nonce.encode()))
            sent += 1
            time.sleep(0.25)
        cpu = cpu_ticks(agent.pid) - cpu0
        termios.tcflow(ctl, termios.TCOON)
    finally:
        os.close(ctl)
    if cpu > 200:  # clock ticks (1/100 s): 2 s of CPU in 12 s is work per request, not waiting
        fails.append(f"{cpu} ticks of CPU while the host did not read")
    # What was queued comes now; then a second nonce and its EK request, then a third nonce ends the agent.
    frames = fake_host.read_frames(master, 60, lambda f: len(f) >= 1)
    frames += fake_host.read_frames(master, 2, lambda f: False)
    nonce2 = os.urandom(32).hex()
    os.write(master, fake_host.frame(b"N", nonce2.encode()))
    frames += fake_host.read_frames(master, 60, lambda f: kinds(f)[-1:] == ["E"])
    os.write(master, fake_host.frame(b"K", nonce2.encode()))
    frames += fake_host.read_frames(master, 60, lambda f: kinds(f)[-1:] == ["K"])
    os.write(master, fake_host.frame(b"N", os.urandom(32).hex().encode()))
    frames += read_until_evidence(master)
    if kinds(frames) != ["K", "R", "E", "K", "R", "E"]:
        fails.append(f"after {sent} EK requests the host did not read: {kinds(frames)}, want K, then R E K for "
                     "the second nonce and R E for the third")
        return
    ek1, ek2 = json.loads(frames[0][1]), json.loads(frames[3][1])
    if ek1.get("nonce") != nonce or ek2.get("nonce") != nonce2 or not ek1.get("ek_public") or \
            (ek1["ek_public"], ek1.get("ek_cert")) != (ek2.get("ek_public"), ek2.get("ek_cert")):
        fails.append(f"the EK documents: nonces {ek1.get('nonce')} {ek2.get('nonce')}, want {nonce} {nonce2}, "
                     "and the same EK in both")
    print(f"# {sent} EK requests while the host did not read: one K frame; {cpu} ticks of CPU")


def name_of(public):
    """The Name of a TPM2B_PUBLIC: nameAlg || SHA-256(TPMT_PUBLIC) (TPM 2.0 Part 1, 16 Names)."""
    return public[4:6] + hashlib.sha256(public[2:]).digest()


def make_challenge(tmp, ek_public, ak_name, nonce, secret):
    """The C payload for @nonce: tpm2_makecredential (offline) of @secret for the AK, to the EK."""
    with open(os.path.join(tmp, "ek.pub"), "wb") as f:
        f.write(ek_public)
    with open(os.path.join(tmp, "secret.in"), "wb") as f:
        f.write(secret)
    subprocess.run(["tpm2_makecredential", "--tcti", "none", "-u", "ek.pub", "-s", "secret.in", "-n", ak_name.hex(),
                    "-o", "cred.out"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(tmp, "cred.out"), "rb") as f:
        cred = f.read()
    # tpm2-tools' file: magic 0xbadcc0de, version, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
    n = 2 + struct.unpack(">H", cred[8:10])[0]
    return json.dumps({"schema": "sealcheck.challenge.v1", "nonce": nonce, "credential_blob": cred[8:8 + n].hex(),
                       "secret": cred[8 + n:].hex()}).encode()


def challenges(a, master, agent, fails):
    """
    Credential challenges in one write, for the nonce answered: challenge-newest sends two for it and
    then one for an older nonce (well formed and activatable: the AK and EK are the same keys), and
    wants one answer, to the second; challenge-then-malformed sends one and then a C frame that does
    not parse, and wants that one answered. Then a third nonce ends the agent: nothing else comes.
    """
    old, _ = answered_nonce(master, fails)
    nonce, ev = answered_nonce(master, fails, push=False)
    os.write(master, fake_host.frame(b"K", nonce.encode()))
    k = fake_host.read_frames(master, 60, lambda f: len(f) >= 1)
    if ev is None or kinds(k) != ["K"]:
        fails.append(f"after the EK request: {kinds(k)}, want K")
        return
    ek = base64.b64decode(json.loads(k[0][1])["ek_public"])
    ak = name_of(base64.b64decode(ev["ak_public"]))
    with tempfile.TemporaryDirectory(prefix="sealcheck-cred-") as tmp:
        secrets = [os.urandom(32) for _ in range(3)]
        if a.case == "challenge-newest":
            payloads = [make_challenge(tmp, ek, ak, nonce, secrets[0]), make_challenge(tmp, ek, ak, nonce, secrets[1]),
                        make_challenge(tmp, ek, ak, old, secrets[2])]
            want = secrets[1]
        else:
            good = make_challenge(tmp, ek, ak, nonce, secrets[0])
            payloads = [good, good[:-1]]  # the second is cut: not JSON
            want = secrets[0]
    os.write(master, b"".join(fake_host.frame(b"C", p) for p in payloads))
    frames = fake_host.read_frames(master, 60, lambda f: len(f) >= 1)
    os.write(master, fake_host.frame(b"N", os.urandom(32).hex().encode()))
    frames += read_until_evidence(master)
    if kinds(frames) != ["A", "R", "E"]:
        fails.append(f"after the challenges: {kinds(frames)}, want one A, then R E for the next nonce")
        return
    doc = json.loads(frames[0][1])
    expect = hmac.new(want, nonce.encode(), hashlib.sha256).hexdigest()
    if doc.get("nonce") != nonce or doc.get("answer") != expect:
        fails.append(f"the answer names {doc.get('nonce')}, want {nonce}; "
                     f"{'the answer to the wanted challenge' if doc.get('answer') == expect else 'not the answer to the wanted challenge'}")


def evidence(a, master, agent, eventlog, fails):
    """A nonce: the report, then (with a TPM) its evidence, nothing else."""
    push = fake_host.read_frames(master, 20, lambda f: len(f) >= 1)
    if [t for t, _ in push] != [b"R"] or json.loads(push[0][1])["nonce"] is not None:
        fails.append(f"want one push report without evidence, got {[t for t, _ in push]}")
    nonce = os.urandom(32).hex()
    os.write(master, fake_host.frame(b"N", nonce.encode()))
    # The answer, then whatever follows it until the agent exits (--max-answers 2).
    frames = fake_host.read_frames(master, 60, lambda f: agent.poll() is not None and len(f) >= 1)
    frames += fake_host.read_frames(master, 1, lambda f: False)
    kinds = [t for t, _ in frames]
    want = [b"R", b"E"] if a.case == "evidence" else [b"R"]
    if kinds != want:
        fails.append(f"frames after the nonce {kinds}, want {want}")
    elif json.loads(frames[0][1])["nonce"] != nonce:
        fails.append("the report does not echo the nonce")
    elif a.case == "evidence":
        check_evidence(nonce, frames[0][1], frames[1][1], eventlog, fails)


def run(a, root, tcti, eventlog):
    extra = {"evidence": ["--tpm-tcti", tcti], "off": ["--tpm", "off", "--tpm-tcti", tcti or ""],
             "no-device": ["--tpm-tcti", "device:/nonexistent/tpmrm0"], "fixture-root": []}.get(a.case,
                                                                                            ["--tpm-tcti", tcti])
    # The push and the nonces each case sends (the last one lets the agent end).
    max_answers = {"ek-request": 3, "ek-flood": 4, "challenge-newest": 4, "challenge-then-malformed": 4}.get(a.case, 2)
    master, agent, slave = start_agent(a, root, extra, max_answers)
    fails, err = [], ""
    try:
        if a.case == "ek-request":
            ek_request(master, agent, fails)
        elif a.case == "ek-flood":
            ek_flood(master, agent, slave, fails)
        elif a.case.startswith("challenge-"):
            challenges(a, master, agent, fails)
        else:
            evidence(a, master, agent, eventlog, fails)
        check_exit(agent, max_answers, fails)
    finally:
        agent.kill()
        err += agent.communicate()[1] or ""
    if a.case == "no-device" and "no TPM evidence" not in err:
        fails.append("the agent does not say why there is no evidence")
    if a.case == "ek-flood" and err.count("read the EK from the TPM") != 1:
        fails.append(f"the EK read from the TPM {err.count('read the EK from the TPM')} times, want once per agent run")
    return fake_host.result(a.case, fails, err)


if __name__ == "__main__":
    sys.exit(main())
