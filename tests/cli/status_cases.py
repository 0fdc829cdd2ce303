#!/usr/bin/env python3
"""Whole-program tests: `sealcheck --root TREE` against fixture trees.

Each case starts from a real capture of a sealed guest (tests/fixtures/real-vm),
applies one change, runs sealcheck (human and --json), and checks the exit
status, the verdict line, the status of every check, and the JSON against
docs/report.schema.json.

    status_cases.py --list
    status_cases.py --sealcheck BIN --preload SO --fixtures DIR --schema FILE CASE
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

REAL_DIGEST = ("4d8ad9824efc90f2a9ed32201027828d8dc36139bfe1da72c32aefeed2389513"
               "f10adb7862f4099902ae0b5b736792bca420fc991832554d3fb8b91bad6bc349")
GLOBAL = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
SHIM = "605dab50-e046-4300-abb6-3dd810dd8b23"
EFIVARS = "sys/firmware/efi/efivars"
ATTR = struct.pack("<I", 6)  # bootservice | runtime, as the captures show


class Tree:
    def __init__(self, fixtures, base, tmp):
        self.root = os.path.join(tmp, "root")
        shutil.copytree(os.path.join(fixtures, "real-vm", base), self.root, symlinks=True)
        self.digest = REAL_DIGEST
        self.env = {}

    def path(self, rel):
        return os.path.join(self.root, rel)

    def read(self, rel, mode="r"):
        with open(self.path(rel), mode) as f:
            return f.read()

    def write(self, rel, data):
        os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
        with open(self.path(rel), "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)

    def sub(self, rel, old, new, count=1):
        data = self.read(rel, "rb")
        old, new = old.encode() if isinstance(old, str) else old, new.encode() if isinstance(new, str) else new
        if old not in data:
            raise SystemExit(f"fixture {rel} lacks {old!r}")
        self.write(rel, data.replace(old, new, count if count else data.count(old)))

    def efivar(self, name, guid, data):
        self.write(f"{EFIVARS}/{name}-{guid}", data if data is None else ATTR + data)

    def rm(self, rel):
        os.unlink(self.path(rel))

    def add_image(self, alg="sha512", content=b"composefs erofs image stand-in\n" * 100):
        """A composefs repository whose image is named by its real fs-verity digest."""
        tmp = self.path("image.tmp")
        self.write("image.tmp", content)
        digest = subprocess.run(["fsverity", "digest", f"--hash-alg={alg}", "--compact", tmp],
                                check=True, capture_output=True, text=True).stdout.strip()
        os.unlink(tmp)
        obj = f"sysroot/composefs/objects/{digest[:2]}/{digest[2:]}"
        self.write(obj, content)
        os.makedirs(self.path("sysroot/composefs/images"), exist_ok=True)
        os.symlink(f"../objects/{digest[:2]}/{digest[2:]}", self.path(f"sysroot/composefs/images/{digest}"))
        self.write("sysroot/composefs/meta.json", json.dumps({"version": 1, "algorithm": f"fsverity-{alg}-12"}))
        self.set_digest(digest)
        if alg == "sha256":
            self.env["FAKE_FSVERITY_ALG"] = "sha256"
        return digest

    def set_digest(self, digest):
        for rel in ("proc/cmdline", "proc/self/mountinfo"):
            self.sub(rel, self.digest, digest, count=0)
        self.digest = digest


def esl_x509(der, owner=b"\x11" * 16):
    x509 = bytes.fromhex("a159c0a5e494a74a87b5ab155c2bf072")
    size = 16 + len(der)
    return x509 + struct.pack("<III", 28 + size, 0, size) + owner + der


# Each case: (base capture, mutation, expected exit, verdict, {check: status}, reason substrings)
def sealed(t):
    t.add_image()


def c_insecure(t):
    t.add_image()
    t.sub("proc/cmdline", "composefs=", "composefs=?")


def c_no_verity_opt(t):
    t.add_image()
    t.sub("proc/self/mountinfo", ",verity=require", "")


def c_verity_on(t):
    t.add_image()
    t.sub("proc/self/mountinfo", ",verity=require", ",verity=on")


def c_escaped_lowerdir(t):
    # A directory named "x,verity=require" is escaped by the kernel; it is not the option.
    t.add_image()
    t.sub("proc/self/mountinfo", "lowerdir=/run/img::", "lowerdir=/run/img\\054verity=require::")
    t.sub("proc/self/mountinfo", ",verity=require\n", "\n")


def c_digest_mismatch(t):
    d = t.add_image()
    other = ("0" * 128) if d != "0" * 128 else ("1" * 128)
    t.sub("proc/self/mountinfo", "composefs:" + d, "composefs:" + other)


def c_image_mismatch(t):
    d = t.add_image()
    t.write(f"sysroot/composefs/objects/{d[:2]}/{d[2:]}", b"tampered image\n")


def c_image_missing(t):
    d = t.add_image()
    t.rm(f"sysroot/composefs/images/{d}")


def c_image_no_verity(t):
    t.add_image()
    t.env["FAKE_FSVERITY"] = "nodata"


def c_image_enotty(t):
    t.add_image()
    t.env["FAKE_FSVERITY"] = "notty"


def c_image_sha256(t):
    t.add_image(alg="sha256")


def c_alg_mismatch(t):
    t.add_image()
    t.env["FAKE_FSVERITY_ALG"] = "sha256"


def c_sb_wrong_size(t):
    t.add_image()
    t.efivar("SecureBoot", GLOBAL, b"\x01\x00")


def c_sb_value_2(t):
    t.add_image()
    t.efivar("SecureBoot", GLOBAL, b"\x02")


def c_sb_short_file(t):
    t.add_image()
    t.write(f"{EFIVARS}/SecureBoot-{GLOBAL}", b"\x06\x00")


def c_sb_empty_file(t):
    t.add_image()
    t.write(f"{EFIVARS}/SecureBoot-{GLOBAL}", b"")


def c_mok(t):
    t.add_image()
    t.efivar("MokSBStateRT", SHIM, b"\x01")


def c_no_pk(t):
    t.add_image()
    t.rm(f"{EFIVARS}/PK-{GLOBAL}")


def c_pk_truncated(t):
    t.add_image()
    data = t.read(f"{EFIVARS}/PK-{GLOBAL}", "rb")
    t.write(f"{EFIVARS}/PK-{GLOBAL}", data[:200])


def c_pk_lying_size(t):
    t.add_image()
    data = bytearray(t.read(f"{EFIVARS}/PK-{GLOBAL}", "rb"))
    struct.pack_into("<I", data, 4 + 16, 0xFFFFFFF0)
    t.write(f"{EFIVARS}/PK-{GLOBAL}", bytes(data))


def c_deployed(t):
    t.add_image()
    t.efivar("DeployedMode", GLOBAL, b"\x01")


def c_audit(t):
    t.add_image()
    t.efivar("SecureBoot", GLOBAL, b"\x00")
    t.efivar("SetupMode", GLOBAL, b"\x01")
    t.efivar("AuditMode", GLOBAL, b"\x01")


def c_disabled(t):
    t.add_image()
    t.efivar("SecureBoot", GLOBAL, b"\x00")


def c_efivarfs_unmounted(t):
    t.add_image()
    shutil.rmtree(t.path(EFIVARS))
    os.makedirs(t.path(EFIVARS))


def c_setup(t):
    t.add_image()


def c_bios(t):
    t.add_image()


def c_transient(t):
    t.add_image()
    t.sub("proc/self/mountinfo", "31 30 254:16",
          f"38 30 0:40 / / rw,relatime - overlay transient:composefs={t.digest} "
          "rw,lowerdir=/run/cfs,upperdir=/run/transient/upper,workdir=/run/transient/work\n31 38 254:16")


def c_transient_hidden(t):
    t.add_image()
    t.sub("proc/self/mountinfo", f"30 1 0:23 / / ro,relatime - overlay composefs:{t.digest}",
          f"30 1 0:23 / / rw,relatime - overlay transient:composefs={t.digest}")


def c_ext4_root(t):
    t.add_image()
    t.sub("proc/self/mountinfo", f"0:23 / / ro,relatime - overlay composefs:{t.digest} ",
          "254:3 / / ro,relatime - ext4 /dev/vda3 ")


def c_ext4_over_composefs(t):
    # The real capture with one more line: an ext4 mounted on / over the composefs overlay (mount 30).
    t.add_image()
    t.write("proc/self/mountinfo", t.read("proc/self/mountinfo") + "38 30 254:3 / / rw,relatime - ext4 /dev/vda3 rw\n")


def c_transient_other_digest(t):
    # A transient-looking overlay over the composefs root, but of another digest.
    t.add_image()
    t.write("proc/self/mountinfo", t.read("proc/self/mountinfo") +
            f"38 30 0:40 / / rw,relatime - overlay transient:composefs={'b' * 128} "
            "rw,lowerdir=/run/cfs,upperdir=/run/transient/upper,workdir=/run/transient/work\n")


def image_object(t):
    """The image's object path in the system (the kernel names the file it opened, symlinks resolved)."""
    return f"/sysroot/composefs/objects/{t.digest[:2]}/{t.digest[2:]}"


def c_link_loop(t):
    # The EROFS lower (/run/img in the capture's overlay options) on loop0, whose backing file is the image.
    t.add_image()
    t.write("proc/self/mountinfo", t.read("proc/self/mountinfo") + "40 30 7:0 / /run/img ro,relatime - erofs /dev/loop0 ro\n")
    t.write("sys/dev/block/7:0/loop/backing_file", image_object(t) + "\n")


def c_link_loop_other(t):
    # The same, but the loop device reads another file: the mounted metadata is not the measured image.
    c_link_loop(t)
    t.write("sysroot/composefs/objects/00/other", b"another erofs image\n" * 100)
    t.write("sys/dev/block/7:0/loop/backing_file", "/sysroot/composefs/objects/00/other\n")


def c_link_file_backed(t):
    # File-backed EROFS (Linux 6.12+): an anonymous device, the source the path the kernel opened.
    t.add_image()
    t.write("proc/self/mountinfo", t.read("proc/self/mountinfo") +
            f"40 30 0:41 / /run/img ro,relatime - erofs /sysroot/composefs/images/{t.digest} ro\n")


def c_link_file_backed_other(t):
    c_link_file_backed(t)
    t.write("sysroot/composefs/objects/00/other", b"another erofs image\n" * 100)
    t.sub("proc/self/mountinfo", f"erofs /sysroot/composefs/images/{t.digest} ro", "erofs /sysroot/composefs/objects/00/other ro")


def c_link_block_device(t):
    # The EROFS lower straight on a disk (no loop device): not the file images/<digest>.
    t.add_image()
    t.write("proc/self/mountinfo", t.read("proc/self/mountinfo") + "40 30 254:48 / /run/img ro,relatime - erofs /dev/vdd ro\n")
    t.write("sys/dev/block/254:48/dev", "254:48\n")


def c_not_composefs_overlay(t):
    t.add_image()
    t.sub("proc/self/mountinfo", f"overlay composefs:{t.digest} ", "overlay overlay ")


def c_ambiguous(t):
    d = t.add_image()
    t.sub("proc/cmdline", "quiet", "quiet composefs=" + "a" * 128)


def c_identical_dup(t):
    d = t.add_image()
    t.sub("proc/cmdline", "quiet", "quiet composefs=" + d)


def c_quoted(t):
    d = t.add_image()
    t.sub("proc/cmdline", "composefs=" + d, f'composefs="{d}"')


def c_digest_form(t):
    d = t.add_image()
    t.sub("proc/cmdline", "composefs=" + d, "composefs.digest=v2-sha512-12:" + d + " composefs=" + "b" * 128)


def c_after_dashdash(t):
    d = t.add_image()
    t.sub("proc/cmdline", "composefs=" + d, "init=/sbin/init -- composefs=" + d)


def c_non_utf8(t):
    t.add_image()
    t.sub("proc/cmdline", b"quiet", b"quiet label=\xff\xfe\x00x\x01")


def c_terminal_escape(t):
    # Guest-controlled text must not drive the user's terminal.
    t.add_image()
    t.sub("proc/cmdline", b"quiet", b"quiet composefs=\x1b[2J\x1b]0;pwned\x07")
    t.sub("proc/self/mountinfo", b"/run/img::", b"/run/img\\033[31m::")


def c_no_cmdline(t):
    t.rm("proc/cmdline")


def c_dmverity(t):
    t.write("proc/cmdline", "console=ttyS0 roothash=" + "ab" * 32 + " root=/dev/mapper/root\n")
    t.sub("proc/self/mountinfo", f"0:23 / / ro,relatime - overlay composefs:{t.digest} ",
          "253:0 / / ro,relatime - erofs /dev/mapper/root ")
    t.write("sys/dev/block/253:0/dm/name", "root\n")
    t.write("sys/dev/block/253:0/dm/uuid", "CRYPT-VERITY-0123456789abcdef-root\n")


def c_dm_not_verity(t):
    c_dmverity(t)
    t.write("sys/dev/block/253:0/dm/uuid", "CRYPT-LUKS2-0123456789abcdef-root\n")


def c_dm_plain_disk(t):
    c_dmverity(t)
    shutil.rmtree(t.path("sys/dev/block/253:0/dm"))


OBJECTS = "/phys/composefs/objects"  # the data-only layer as the real capture names it


def c_second_lower(t):
    # lowerdir=IMG:EVIL::OBJECTS: the kernel merges /var/evil into / and serves its files unverified.
    t.add_image()
    t.sub("proc/self/mountinfo", "lowerdir=/run/img::", "lowerdir=/run/img:/var/evil::")


def c_escaped_colon_one_layer(t):
    # "\\:" (mountinfo shows the backslash as \134) is a colon inside one layer's path: still one lower layer.
    t.add_image()
    t.sub("proc/self/mountinfo", "lowerdir=/run/img::", "lowerdir=/run/im\\134:g::")


def c_lower_plus_layers(t):
    # Linux 6.8+ prints layers one by one: two lowerdir+= are two lower layers.
    t.add_image()
    t.sub("proc/self/mountinfo", f"lowerdir=/run/img::{OBJECTS},",
          f"lowerdir+=/run/img,lowerdir+=/var/evil,datadir+={OBJECTS},")


def c_lower_plus_sealed(t):
    t.add_image()
    t.sub("proc/self/mountinfo", f"lowerdir=/run/img::{OBJECTS},", f"lowerdir+=/run/img,datadir+={OBJECTS},")


def c_upperdir(t):
    t.add_image()
    t.sub("proc/self/mountinfo", f"::{OBJECTS},", f"::{OBJECTS},upperdir=/run/up,workdir=/run/work,")


def c_data_not_objects(t):
    t.add_image()
    t.sub("proc/self/mountinfo", f"::{OBJECTS},", f"::{OBJECTS}::/var/lib/evil,")


def c_data_other_repository(t):
    # Named like a repository's objects, but another directory than <sysroot>/composefs/objects.
    t.add_image()
    os.makedirs(t.path("var/tmp/composefs/objects"))
    t.sub("proc/self/mountinfo", f"::{OBJECTS},", "::/var/tmp/composefs/objects,")


def c_transient_over_unrelated(t):
    # A transient:composefs= label on / over a plain ext4 root: nothing of the image is in it.
    t.add_image()
    t.sub("proc/self/mountinfo", f"30 1 0:23 / / ro,relatime - overlay composefs:{t.digest} "
          f"ro,lowerdir=/run/img::{OBJECTS},redirect_dir=on,metacopy=on,verity=require",
          f"29 1 254:3 / / ro,relatime - ext4 /dev/vda3 ro\n"
          f"30 29 0:40 / / rw,relatime - overlay transient:composefs={t.digest} "
          "rw,lowerdir=/srv/rootfs,upperdir=/run/transient/upper,workdir=/run/transient/work")


def c_transient_lower_other_mount(t):
    # bootc's transient overlay shape over the composefs root, but its lower is the ext4 at /cap.
    c_transient(t)
    t.sub("proc/self/mountinfo", "rw,lowerdir=/run/cfs,", "rw,lowerdir=/cap,")


def c_transient_two_lowers(t):
    c_transient(t)
    t.sub("proc/self/mountinfo", "rw,lowerdir=/run/cfs,", "rw,lowerdir=/run/cfs:/var/evil,")


def c_foreign_usr(t):
    t.add_image()
    t.write("proc/self/mountinfo", t.read("proc/self/mountinfo") + "40 30 254:48 / /usr/bin rw,relatime - ext4 /dev/vdd rw\n")


def c_usr_rebound_readonly(t):
    # systemd's ProtectSystem= and ProtectKernelModules= in the agent's unit: the sealed tree bound onto itself
    # read-only, and the inaccessible node over /usr/lib/modules; neither replaces sealed files.
    t.add_image()
    t.write("proc/self/mountinfo", t.read("proc/self/mountinfo") +
            f"41 30 0:23 /usr /usr ro,relatime - overlay composefs:{t.digest} "
            f"ro,lowerdir=/run/img::{OBJECTS},redirect_dir=on,metacopy=on,verity=require\n"
            "42 41 0:25 /systemd/inaccessible/dir /usr/lib/modules ro,nosuid,nodev,noexec,relatime - tmpfs tmpfs "
            "rw,mode=755\n")


def c_lower_not_erofs(t):
    # The overlay's lower path is visibly a tmpfs, not an EROFS image.
    t.add_image()
    t.write("proc/self/mountinfo", t.read("proc/self/mountinfo") + "40 30 0:50 / /run/img rw,relatime - tmpfs tmpfs rw\n")


def c_pk_garbage_x509(t):
    # A PK list whose one entry says EFI_CERT_X509 but holds no certificate.
    t.add_image()
    t.efivar("PK", GLOBAL, esl_x509(b"\x30\x82garbage, not DER" * 8))


def c_pk_unknown_type(t):
    t.add_image()
    data = bytearray(esl_x509(b"\x00" * 64))
    data[0:16] = b"\x42" * 16
    t.efivar("PK", GLOBAL, bytes(data))


def c_db_garbage(t):
    t.add_image()
    t.efivar("db", "d719b2cb-3d3a-4596-a3bc-dad00e67656f", esl_x509(b"not a certificate" * 4))


P, F, E, S = "pass", "fail", "error", "skip"
ALL_PASS = {"cmdline": P, "root_mount": P, "secure_boot": P, "composefs_image": P}

LOADER = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"  # systemd's loader GUID (LoaderInfo)
MANIFEST = "sha256:" + "9f" * 32


def origin(t, verity, ref="ostree-unverified-image:docker://quay.io/example/sealed-host:latest",
           manifest=MANIFEST, extra=""):
    """The deployment's .origin as bootc's write_composefs_state() writes it (tini: "key = value")."""
    t.write(f"sysroot/state/deploy/{verity}/{verity}.origin",
            f"[origin]\ncontainer-image-reference = {ref}\n\n[boot]\nboot_type = uki\n\n"
            f"[image]\nmanifest_digest = {manifest}\n{extra}")


def c_bootc(t):
    d = t.add_image()
    origin(t, d)
    t.efivar("LoaderInfo", LOADER, "systemd-boot 257.9\0".encode("utf-16-le"))
    t.write("run/composefs/staged-deployment", json.dumps({"depl_id": "e" * 128, "finalization_locked": False}))


def c_bootc_soft_reboot(t):
    # The root mounted from another deployment than the command line names (bootc's soft reboot):
    # said with both digests; the mount check still fails (the command line proves nothing of this root).
    d = t.add_image()
    other = ("0" * 128) if d != "0" * 128 else ("1" * 128)
    t.sub("proc/self/mountinfo", "composefs:" + d, "composefs:" + other)
    origin(t, other, ref="ostree-unverified-registry:quay.io/example/next:2")


def c_bootc_hostile_origin(t):
    # A guest's origin naming its image with terminal escapes: shown escaped, never raw.
    d = t.add_image()
    origin(t, d, ref="ostree-unverified-image:docker://quay.io/x\x1b[2J\x1b]0;pwned\x07:1")


def c_bootc_origin_twice(t):
    # A second manifest_digest a loose reader would take one of: the origin refused, the reason said.
    d = t.add_image()
    origin(t, d, extra="manifest_digest = sha256:" + "00" * 32 + "\n")


CASES = {
    "sealed": ("snakeoil-user", sealed, 0, "sealed", ALL_PASS, []),
    # The booted bootc deployment as bootc status names it (system.deployment; agent/core/sc-bootc.h).
    "bootc-deployment": ("snakeoil-user", c_bootc, 0, "sealed", ALL_PASS,
                         ["Image:   quay.io/example/sealed-host:latest @ " + MANIFEST + " (registry, signature insecure)",
                          "boot type uki, boot loader systemd", "staged for the next boot: eeeeeeeeeeeeeeee..."]),
    "bootc-soft-reboot": ("snakeoil-user", c_bootc_soft_reboot, 1, "unsealed", {"root_mount": F},
                          ["Image:   quay.io/example/next:2 @ ", "soft-rebooted: the kernel command line names "]),
    "bootc-hostile-origin": ("snakeoil-user", c_bootc_hostile_origin, 0, "sealed", ALL_PASS,
                             ["quay.io/x\\x1b[2J\\x1b]0;pwned\\x07:1 @ "]),
    "bootc-origin-twice": ("snakeoil-user", c_bootc_origin_twice, 0, "sealed", ALL_PASS,
                           ["Image:   unknown: ", "manifest_digest given twice"]),
    "sealed-sha256": ("snakeoil-user", c_image_sha256, 0, "sealed", ALL_PASS, []),
    "sealed-deployed-mode": ("snakeoil-user", c_deployed, 0, "sealed", ALL_PASS, ["deployed mode"]),
    "sealed-transient-root": ("snakeoil-user", c_transient, 0, "sealed", ALL_PASS, ["transient"]),
    # A repeated seal token fails even with the same value: the guest and the host read one token.
    "identical-duplicate": ("snakeoil-user", c_identical_dup, 1, "unsealed", {"cmdline": F}, ["composefs= given twice"]),
    "sealed-digest-form-wins": ("snakeoil-user", c_digest_form, 0, "sealed", ALL_PASS, ["composefs.digest="]),
    "sealed-non-utf8-cmdline": ("snakeoil-user", c_non_utf8, 0, "sealed", ALL_PASS, []),
    "cmdline-terminal-escapes": ("snakeoil-user", c_terminal_escape, 1, "unsealed", {"cmdline": F},
                                 ["composefs=\\x1b[2J\\x1b]0;pwned\\x07"]),
    "real-capture-no-repository": ("snakeoil-user", lambda t: None, 1, "unsealed",
                                   {"composefs_image": F}, ["no composefs repository"]),
    "setup-mode": ("setup-mode", c_setup, 1, "unsealed", {"secure_boot": F}, ["mode: setup"]),
    "bios": ("bios", c_bios, 1, "unsealed", {"secure_boot": F}, ["not booted with UEFI"]),
    "sb-disabled": ("snakeoil-user", c_disabled, 1, "unsealed", {"secure_boot": F}, ["mode: disabled"]),
    "sb-audit": ("snakeoil-user", c_audit, 1, "unsealed", {"secure_boot": F}, ["mode: audit"]),
    "sb-wrong-size": ("snakeoil-user", c_sb_wrong_size, 2, "error", {"secure_boot": E}, ["malformed"]),
    "sb-value-2": ("snakeoil-user", c_sb_value_2, 2, "error", {"secure_boot": E}, ["malformed"]),
    "sb-short-file": ("snakeoil-user", c_sb_short_file, 2, "error", {"secure_boot": E}, ["malformed"]),
    "sb-empty-file": ("snakeoil-user", c_sb_empty_file, 1, "unsealed", {"secure_boot": F}, ["unsupported"]),
    "mok-validation-off": ("snakeoil-user", c_mok, 1, "unsealed", {"secure_boot": F}, ["disabled in shim"]),
    "no-pk": ("snakeoil-user", c_no_pk, 1, "unsealed", {"secure_boot": F}, ["no PK"]),
    "pk-truncated": ("snakeoil-user", c_pk_truncated, 2, "error", {"secure_boot": E}, ["PK"]),
    "pk-lying-size": ("snakeoil-user", c_pk_lying_size, 2, "error", {"secure_boot": E}, ["SignatureListSize"]),
    "efivarfs-unmounted": ("snakeoil-user", c_efivarfs_unmounted, 2, "error", {"secure_boot": E},
                           ["efivarfs is not mounted"]),
    "cmdline-insecure": ("snakeoil-user", c_insecure, 1, "unsealed", {"cmdline": F}, ["insecure"]),
    "cmdline-ambiguous": ("snakeoil-user", c_ambiguous, 1, "unsealed", {"cmdline": F}, ["ambiguous"]),
    "cmdline-quoted": ("snakeoil-user", c_quoted, 1, "unsealed", {"cmdline": F}, ["quoted"]),
    "cmdline-after-dashdash": ("snakeoil-user", c_after_dashdash, 1, "unsealed", {"cmdline": F},
                               ["No composefs image"]),
    "cmdline-missing": ("snakeoil-user", c_no_cmdline, 2, "error",
                        {"cmdline": E, "root_mount": E, "composefs_image": E}, ["cannot read"]),
    "mount-no-verity": ("snakeoil-user", c_no_verity_opt, 1, "unsealed", {"root_mount": F}, ["verity=off"]),
    "mount-verity-on": ("snakeoil-user", c_verity_on, 1, "unsealed", {"root_mount": F}, ["verity=on"]),
    "mount-escaped-lowerdir": ("snakeoil-user", c_escaped_lowerdir, 1, "unsealed", {"root_mount": F},
                               ["verity=off"]),
    "mount-digest-mismatch": ("snakeoil-user", c_digest_mismatch, 1, "unsealed", {"root_mount": F},
                              ["digest mismatch"]),
    "mount-ext4-root": ("snakeoil-user", c_ext4_root, 1, "unsealed", {"root_mount": F}, ["root is not composefs"]),
    "mount-ext4-over-composefs": ("snakeoil-user", c_ext4_over_composefs, 1, "unsealed", {"root_mount": F},
                                  ["ext4 from /dev/vda3 (mount 38) is mounted over the composefs root"]),
    "mount-transient-other-digest": ("snakeoil-user", c_transient_other_digest, 1, "unsealed", {"root_mount": F},
                                     ["is mounted over the composefs root"]),
    "image-link-label-only": ("snakeoil-user", sealed, 0, "sealed", ALL_PASS, ["known by its label only"]),
    "image-link-loop": ("snakeoil-user", c_link_loop, 0, "sealed", ALL_PASS, []),
    "image-link-loop-other-file": ("snakeoil-user", c_link_loop_other, 1, "unsealed", {"root_mount": F},
                                   ["reads /sysroot/composefs/objects/00/other, not the file images/"]),
    "image-link-file-backed": ("snakeoil-user", c_link_file_backed, 0, "sealed", ALL_PASS, []),
    "image-link-file-backed-other-file": ("snakeoil-user", c_link_file_backed_other, 1, "unsealed",
                                          {"root_mount": F}, ["not the file images/"]),
    "image-link-block-device": ("snakeoil-user", c_link_block_device, 1, "unsealed", {"root_mount": F},
                                ["not a loop device"]),
    "mount-plain-overlay": ("snakeoil-user", c_not_composefs_overlay, 1, "unsealed", {"root_mount": F},
                            ["root is not composefs"]),
    "mount-transient-hidden": ("snakeoil-user", c_transient_hidden, 2, "error", {"root_mount": E}, ["transient"]),
    "image-content-mismatch": ("snakeoil-user", c_image_mismatch, 1, "unsealed", {"composefs_image": F},
                               ["content mismatch"]),
    "image-missing": ("snakeoil-user", c_image_missing, 1, "unsealed", {"composefs_image": F}, ["not found"]),
    "image-no-verity": ("snakeoil-user", c_image_no_verity, 1, "unsealed", {"composefs_image": F},
                        ["no fs-verity"]),
    "image-enotty": ("snakeoil-user", c_image_enotty, 2, "error", {"composefs_image": E}, ["ENOTTY"]),
    "image-alg-mismatch": ("snakeoil-user", c_alg_mismatch, 1, "unsealed", {"composefs_image": F},
                           ["algorithm mismatch"]),
    "dmverity-fixture": ("snakeoil-user", c_dmverity, 2, "error",
                         {"cmdline": P, "root_mount": E, "composefs_image": S}, ["not read under --root"]),
    "dmverity-not-verity-target": ("snakeoil-user", c_dm_not_verity, 1, "unsealed", {"root_mount": F},
                                   ["not an active dm-verity"]),
    "dmverity-plain-disk": ("snakeoil-user", c_dm_plain_disk, 1, "unsealed", {"root_mount": F},
                            ["not an active dm-verity"]),
    "layers-second-lower": ("snakeoil-user", c_second_lower, 1, "unsealed", {"root_mount": F},
                            ["second lower layer /var/evil besides the image /run/img"]),
    "layers-escaped-colon-one-layer": ("snakeoil-user", c_escaped_colon_one_layer, 0, "sealed", ALL_PASS, []),
    "layers-lowerdir-plus-second": ("snakeoil-user", c_lower_plus_layers, 1, "unsealed", {"root_mount": F},
                                    ["second lower layer /var/evil"]),
    "sealed-lowerdir-plus": ("snakeoil-user", c_lower_plus_sealed, 0, "sealed", ALL_PASS, []),
    "layers-upperdir": ("snakeoil-user", c_upperdir, 1, "unsealed", {"root_mount": F},
                        ["upper layer (upperdir=/run/up): / is writable"]),
    "layers-data-not-objects": ("snakeoil-user", c_data_not_objects, 1, "unsealed", {"root_mount": F},
                                ["data-only layer /var/lib/evil"]),
    "layers-data-other-repository": ("snakeoil-user", c_data_other_repository, 1, "unsealed", {"root_mount": F},
                                     ["data-only layer /var/tmp/composefs/objects"]),
    "transient-over-unrelated": ("snakeoil-user", c_transient_over_unrelated, 1, "unsealed", {"root_mount": F},
                                 ["lies over ext4 from /dev/vda3 (mount 29), not over a composefs overlay"]),
    "transient-lower-other-mount": ("snakeoil-user", c_transient_lower_other_mount, 1, "unsealed",
                                    {"root_mount": F}, ["is over /cap, which is ext4 from /dev/vdc (mount 37)"]),
    "transient-two-lowers": ("snakeoil-user", c_transient_two_lowers, 1, "unsealed", {"root_mount": F},
                             ["not over one lower layer"]),
    "foreign-mount-usr": ("snakeoil-user", c_foreign_usr, 1, "unsealed", {"root_mount": F},
                          ["ext4 from /dev/vdd (mount 40) is mounted on /usr/bin, inside the sealed tree"]),
    "sealed-usr-rebound-readonly": ("snakeoil-user", c_usr_rebound_readonly, 0, "sealed", ALL_PASS, []),
    "image-link-lower-not-erofs": ("snakeoil-user", c_lower_not_erofs, 1, "unsealed", {"root_mount": F},
                                   ["lower layer /run/img is tmpfs from tmpfs (mount 40), not an EROFS image"]),
    "pk-garbage-x509": ("snakeoil-user", c_pk_garbage_x509, 1, "unsealed", {"secure_boot": F},
                        ["no PK is enrolled"]),
    "pk-unknown-type": ("snakeoil-user", c_pk_unknown_type, 1, "unsealed", {"secure_boot": F},
                        ["no PK is enrolled"]),
    "db-garbage": ("snakeoil-user", c_db_garbage, 1, "unsealed", {"secure_boot": F}, ["db"]),
}

# Facts a case must show: {case: {(check, fact): value}}.
FACTS = {
    "sealed": {("root_mount", "image_link"): "label-only"},
    "image-link-label-only": {("root_mount", "image_link"): "label-only"},
    "image-link-loop": {("root_mount", "image_link"): "loop-backing-file"},
    "image-link-loop-other-file": {("root_mount", "image_link"): "mismatch"},
    "image-link-file-backed": {("root_mount", "image_link"): "erofs-source-file"},
    "image-link-file-backed-other-file": {("root_mount", "image_link"): "mismatch"},
    "image-link-block-device": {("root_mount", "image_link"): "mismatch"},
}

VERDICT_LINE = {"sealed": "Verdict: SEALED", "unsealed": "Verdict: NOT SEALED", "error": "Verdict: UNDETERMINED"}


# system.deployment in the JSON report, key path -> value.
DEPLOYMENT = {
    "bootc-deployment": {"source": "bootc", "image.image": "quay.io/example/sealed-host:latest",
                         "image.transport": "registry", "image.signature": "insecure",
                         "image.reference": "ostree-unverified-image:docker://quay.io/example/sealed-host:latest",
                         "image_digest": MANIFEST, "boot_type": "uki", "bootloader": "systemd", "soft_reboot": False,
                         "cmdline_verity": None, "staged.verity": "e" * 128, "staged.finalization_locked": False,
                         "origin_error": None, "staged_error": None},
    "bootc-soft-reboot": {"soft_reboot": True, "verity": "0" * 128, "image.image": "quay.io/example/next:2",
                          "bootloader": "none"},
    "bootc-hostile-origin": {"image.image": "quay.io/x\x1b[2J\x1b]0;pwned\x07:1"},
    "bootc-origin-twice": {"image": None, "image_digest": None},
}

def run_case(args, name):
    base, mutate, want_rc, want_verdict, want_checks, want_text = CASES[name]
    failures = []
    with tempfile.TemporaryDirectory(prefix="sealcheck-case-") as tmp:
        t = Tree(args.fixtures, base, tmp)
        mutate(t)
        env = dict(os.environ, NO_COLOR="1", LD_PRELOAD=os.path.abspath(args.preload), **t.env)
        human = subprocess.run([args.sealcheck, "--root", t.root], env=env, capture_output=True, timeout=60)
        js = subprocess.run([args.sealcheck, "status", "--json", "--root", t.root], env=env,
                            capture_output=True, timeout=60)
    out = human.stdout.decode("utf-8", "replace")
    if human.returncode != want_rc:
        failures.append(f"human: exit {human.returncode}, expected {want_rc}")
    if js.returncode != want_rc:
        failures.append(f"json: exit {js.returncode}, expected {want_rc}")
    if VERDICT_LINE[want_verdict] not in out:
        failures.append(f"no '{VERDICT_LINE[want_verdict]}' line")
    if "\033" in out:
        failures.append("escape characters on the terminal (colour despite NO_COLOR, or guest text unfiltered)")
    for s in want_text:
        if s not in out:
            failures.append(f"human report lacks {s!r}")
    try:
        doc = json.loads(js.stdout.decode("utf-8"))  # strict: the bytes must be UTF-8
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        failures.append(f"invalid JSON: {e}")
        doc = None
    if doc is not None:
        if args.schema:
            import jsonschema
            with open(args.schema) as f:
                schema = json.load(f)
            try:
                jsonschema.validate(doc, schema)
            except jsonschema.ValidationError as e:
                failures.append(f"schema: {e.message} at {list(e.absolute_path)}")
        if doc.get("verdict") != want_verdict:
            failures.append(f"json verdict {doc.get('verdict')!r}, expected {want_verdict!r}")
        for check, status in want_checks.items():
            got = doc.get("checks", {}).get(check, {}).get("status")
            if got != status:
                failures.append(f"check {check}: {got!r}, expected {status!r} "
                                f"({doc['checks'][check].get('reason')})")
        for (check, fact), value in FACTS.get(name, {}).items():
            got = doc.get("checks", {}).get(check, {}).get(fact)
            if got != value:
                failures.append(f"check {check}: {fact} {got!r}, expected {value!r}")
        dep = doc.get("system", {}).get("deployment")
        for key, value in DEPLOYMENT.get(name, {}).items():
            got = dep
            for k in key.split("."):
                got = got.get(k) if isinstance(got, dict) else None
            if got != value:
                failures.append(f"system.deployment.{key}: {got!r}, expected {value!r}")
        if name not in DEPLOYMENT and dep is not None:
            failures.append(f"system.deployment {dep!r} on a tree without bootc state")
        if name == "sealed-non-utf8-cmdline" and "\\xff\\xfe\\x00x" not in doc["checks"]["cmdline"]["raw"]:
            failures.append("non-UTF-8 cmdline bytes not escaped as \\xNN in the JSON")
    if failures:
        print(f"--- {name}: human output:\n{out}\n--- stderr:\n{human.stderr.decode(errors='replace')}")
        for f in failures:
            print(f"not ok - {name}: {f}")
        return 1
    print(f"ok - {name}")
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--list", action="store_true")
    p.add_argument("--sealcheck")
    p.add_argument("--preload")
    p.add_argument("--fixtures")
    p.add_argument("--schema")
    p.add_argument("case", nargs="?")
    args = p.parse_args()
    if args.list:
        print("\n".join(CASES))
        return 0
    return run_case(args, args.case)


if __name__ == "__main__":
    sys.exit(main())
