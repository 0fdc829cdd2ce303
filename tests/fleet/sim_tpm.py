"""A simulated guest's TPM evidence (common/sc-evidence.h), for sim_guests.py's "tpm" guests.

A real boot's evidence document (tests/vm/test-tpm.sh tpm-sealed with FIXTURE_OUT, or
tests/fixtures/evidence/) gives what a TPM cannot be asked to make up: the firmware event log,
the userspace log and the quoted PCR values, which replay to each other and to the UKI that boot
ran. Each simulated guest then answers every nonce as the agent does, with a quote of its own:
a fresh TPMS_ATTEST (TPM 2.0 Part 2, 10.12.12) binding
    extraData = SHA-256(nonce's 64 ASCII characters || SHA-256(report bytes))
with the captured PCR selection and pcrDigest and a clock that moves forward, signed by the
guest's own software attestation key: NIST P-256, ECDSA with SHA-256, the attributes of the
agent's AK (fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|sign), its Name
(nameAlg SHA-256 || SHA-256(TPMT_PUBLIC), Part 1, 16) pinned in the state folder's ak.name as
`run --tpm-state` pins a real TPM's.

So the host does every step of a real TPM round (AK Name, signature, qualifying data, PCR digest,
event log replay, PCR 4/7/9/11/12, the UKI's cmdline, the counters) on real bytes; only the
signature comes from software instead of a TPM.
"""
import base64
import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

TPM_ALG_SHA256, TPM_ALG_NULL, TPM_ALG_ECC, TPM_ALG_ECDSA = 0x000B, 0x0010, 0x0023, 0x0018
TPM_ECC_NIST_P256 = 0x0003
TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE = 0xFF544347, 0x8018
AK_ATTRIBUTES = 0x00050072


def _b2(data):
    return struct.pack(">H", len(data)) + data


def _quote_tail(quote):
    """The captured TPMS_ATTEST's firmwareVersion, pcrSelect and pcrDigest (all after clockInfo)."""
    magic, typ = struct.unpack_from(">IH", quote, 0)
    if magic != TPM_GENERATED_VALUE or typ != TPM_ST_ATTEST_QUOTE:
        raise ValueError("the captured quote is not a TPMS_ATTEST of a quote")
    off = 6
    for _ in range(2):  # qualifiedSigner, extraData
        (n,) = struct.unpack_from(">H", quote, off)
        off += 2 + n
    off += 8 + 4 + 4 + 1  # clockInfo
    return quote[off:]


class Capture:
    """The parts of a real evidence document every simulated guest sends as they are."""

    def __init__(self, path):
        with open(path) as f:
            ev = json.load(f)
        if ev.get("schema") != "sealcheck.evidence.v1":
            raise ValueError("%s: not a sealcheck.evidence.v1 document" % path)
        self.tail = _quote_tail(base64.b64decode(ev["quote"]))
        # The fixed members, serialized once (the agent's own key order is not part of the format).
        self.fixed = json.dumps({"pcrs": ev["pcrs"], "eventlog": ev["eventlog"], "userspace_log": ev["userspace_log"]},
                                separators=(",", ":"))[1:-1].encode()


class SoftAK:
    """One guest's attestation key and quote clock."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        nums = self.key.public_key().public_numbers()
        tpmt = (struct.pack(">HHI", TPM_ALG_ECC, TPM_ALG_SHA256, AK_ATTRIBUTES) + _b2(b"") +
                struct.pack(">HHHHH", TPM_ALG_NULL, TPM_ALG_ECDSA, TPM_ALG_SHA256, TPM_ECC_NIST_P256, TPM_ALG_NULL) +
                _b2(nums.x.to_bytes(32, "big")) + _b2(nums.y.to_bytes(32, "big")))
        self.name = struct.pack(">H", TPM_ALG_SHA256) + hashlib.sha256(tpmt).digest()
        self.public_b64 = base64.b64encode(_b2(tpmt)).decode()
        self.clock = 1000

    def pin(self, state_dir, vm):
        """DIR/VM/ak.name as `run --tpm-state` leaves it (the folder 0700, the file 0600)."""
        d = os.path.join(state_dir, vm)
        os.makedirs(d, mode=0o700, exist_ok=True)
        path = os.path.join(d, "ak.name")
        fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.name)
        os.rename(path + ".new", path)

    def evidence(self, capture, nonce, report_bytes):
        report_sha = hashlib.sha256(report_bytes).digest()
        extra = hashlib.sha256(nonce.encode("ascii") + report_sha).digest()
        self.clock += 1
        attest = (struct.pack(">IH", TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE) + _b2(self.name) + _b2(extra) +
                  struct.pack(">QIIB", self.clock, 1, 0, 1) + capture.tail)
        r, s = decode_dss_signature(self.key.sign(attest, ec.ECDSA(hashes.SHA256())))
        sig = struct.pack(">HH", TPM_ALG_ECDSA, TPM_ALG_SHA256) + _b2(r.to_bytes(32, "big")) + _b2(s.to_bytes(32, "big"))
        head = '{"schema":"sealcheck.evidence.v1","nonce":"%s","report_sha256":"%s","ak_public":"%s","quote":"%s",' \
               '"signature":"%s",' % (nonce, report_sha.hex(), self.public_b64, base64.b64encode(attest).decode(),
                                      base64.b64encode(sig).decode())
        return head.encode() + capture.fixed + b"}"
