#!/usr/bin/env python3
"""A cuckoo between the probe and a real VM's attestation socket, for
tests/vm/test-tpm.sh tpm-ak-unbound.

The cuckoo attack (Parno, "Bootstrapping Trust in a Trusted Platform", 2008):
a platform answers for another TPM. Here the VM's agent makes its AK and quote
in its own TPM, but the EK document it sends for credential activation (the
`K` frame, docs/protocol.md step 6) is swapped for another TPM's EK public
area and EK certificate, both genuine and certified by a CA the host trusts.
The host then seals its challenge to that other EK; the VM's TPM cannot open
it, so the AK must stay unbound: tpm:quote fails and nothing is pinned. From
the host's side these are exactly the bytes of a guest whose agent is patched
to present another TPM's EK.

    cuckoo-proxy.py LISTEN_SOCKET GUEST_SOCKET EK_PUBLIC EK_CERT LOG [--pass-through]

EK_PUBLIC is a TPM2B_PUBLIC (tpm2_createek -u), EK_CERT a DER certificate.
Host-to-guest bytes pass unchanged; guest-to-host frames pass unchanged except
the agent's `K` frame, re-encoded with its CRC. Frames are found as the probe's
reader finds them: a frame cut short (an RS inside it: the agent resends whole
frames) or with a bad CRC passes on as it is, and the scan goes on. --pass-through swaps nothing
(the control: the proxy itself breaks nothing). Serves one connection, then
exits; LOG says what was swapped. Bounded: exits after 300 s whatever happens.
"""
import base64
import json
import os
import select
import signal
import socket
import sys
import zlib

HEADER = 22
MAX_PAYLOAD = 256 * 1024


def frame(kind, payload):
    return b"\x1eSC1" + kind + b"%08x%08x:" % (len(payload), zlib.crc32(payload)) + payload + b"\n"


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    pass_through = "--pass-through" in sys.argv[1:]
    if len(args) != 5:
        sys.exit(__doc__)
    listen_path, guest_path, ek_pub_path, ek_cert_path, log_path = args
    ek_pub = base64.b64encode(open(ek_pub_path, "rb").read()).decode()
    ek_cert = base64.b64encode(open(ek_cert_path, "rb").read()).decode()
    signal.alarm(300)
    log = open(log_path, "a", buffering=1)

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(listen_path)
    srv.listen(1)
    log.write("listening\n")
    host, _ = srv.accept()
    srv.close()
    guest = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    guest.connect(guest_path)
    log.write("connected\n")

    pending = b""  # guest bytes not yet forwarded: a frame may be incomplete

    def forward_guest():
        nonlocal pending
        out = b""
        while pending:
            i = pending.find(b"\x1e")
            if i < 0:
                out, pending = out + pending, b""
                break
            out, pending = out + pending[:i], pending[i:]
            if len(pending) < HEADER:
                break
            kind, head = pending[4:5], pending[5:21]
            try:
                n = int(head[:8], 16)
            except ValueError:
                n = -1
            if pending[1:4] != b"SC1" or pending[21:22] != b":" or not 0 <= n <= MAX_PAYLOAD:
                out, pending = out + pending[:1], pending[1:]  # not a frame: as the probe's reader would see it
                continue
            # An RS inside a frame means it was cut short (the agent resends whole frames): pass its bytes on
            # as they are and look again from that RS, as the probe's reader does (docs/protocol.md, Resync).
            cut = pending.find(b"\x1e", 1, HEADER + n + 1)
            if cut > 0:
                log.write("passed on a frame cut short (%d bytes)\n" % cut)
                out, pending = out + pending[:cut], pending[cut:]
                continue
            if len(pending) < HEADER + n + 1:
                break
            raw, payload = pending[:HEADER + n + 1], pending[HEADER:HEADER + n]
            if raw[-1:] != b"\n" or b"%08x" % zlib.crc32(payload) != head[8:]:
                out, pending = out + pending[:1], pending[1:]  # a bad frame: the reader drops it byte by byte
                continue
            pending = pending[HEADER + n + 1:]
            if kind == b"K" and not pass_through:
                try:
                    doc = json.loads(payload)
                except ValueError:
                    doc = None
                if isinstance(doc, dict) and doc.get("schema") == "sealcheck.ek.v1":
                    doc["ek_public"], doc["ek_cert"] = ek_pub, ek_cert
                    raw = frame(b"K", json.dumps(doc, separators=(",", ":")).encode())
                    log.write(f"swapped the EK document for nonce {doc.get('nonce')}\n")
            elif kind == b"K":
                log.write("passed the EK document through\n")
            out += raw
        if out:
            host.sendall(out)

    while True:
        r, _, _ = select.select([host, guest], [], [], 300)
        if not r:
            break
        if host in r:
            d = host.recv(65536)
            if not d:
                break
            guest.sendall(d)
        if guest in r:
            d = guest.recv(65536)
            if not d:
                break
            pending += d
            forward_guest()
    log.write("done\n")
    host.close()
    guest.close()
    os.unlink(listen_path)


if __name__ == "__main__":
    main()
