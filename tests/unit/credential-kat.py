#!/usr/bin/env python3
"""Known answers for TPM2_MakeCredential's symmetric half (tests/unit/test-credential.c).

An independent reference (python3 `cryptography`, not the probe's C): KDFa with
HMAC-SHA256 (TPM 2.0 Part 1, 11.4.10.2), then for an EK of nameAlg SHA-256 and
AES-128-CFB: symKey = KDFa(seed, "STORAGE", name, -, 128), encIdentity =
AES-128-CFB(symKey, IV 0, TPM2B_DIGEST(secret)), HMACkey = KDFa(seed,
"INTEGRITY", -, -, 256), outerHMAC = HMAC(HMACkey, encIdentity || name), the blob
TPM2B_ID_OBJECT(TPM2B_DIGEST(outerHMAC) || encIdentity). Prints the C constants
the test compares with; run it to regenerate them.
"""
import hashlib
import hmac
import struct
import warnings

warnings.simplefilter("ignore")  # CFB moves to "decrepit" in newer releases; the mode is what a TPM uses
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def kdfa(key, label, u, v, bits):
    out, i = b"", 1
    while len(out) < bits // 8:
        out += hmac.new(key, struct.pack(">I", i) + label.encode() + b"\0" + u + v + struct.pack(">I", bits),
                        hashlib.sha256).digest()
        i += 1
    return out[:bits // 8]


SEED = bytes(range(1, 33))
NAME = b"\x00\x0b" + hashlib.sha256(b"sealcheck test AK").digest()
SECRET = bytes(range(0xa0, 0xc0))

sym = kdfa(SEED, "STORAGE", NAME, b"", 128)
hkey = kdfa(SEED, "INTEGRITY", b"", b"", 256)
enc = Cipher(algorithms.AES(sym), modes.CFB(b"\0" * 16)).encryptor()
ident = enc.update(struct.pack(">H", len(SECRET)) + SECRET) + enc.finalize()
outer = hmac.new(hkey, ident + NAME, hashlib.sha256).digest()
inner = struct.pack(">H", len(outer)) + outer + ident
blob = struct.pack(">H", len(inner)) + inner
print(f'#define KAT_SYMKEY "{sym.hex()}"')
print(f'#define KAT_HMACKEY "{hkey.hex()}"')
print(f'#define KAT_BLOB "{blob.hex()}"')
