#!/usr/bin/env python3
"""Build a sealed demo image in bootc's composefs layout, bootable under OVMF
with Secure Boot, for sealcheck's host probe and its end-to-end tests.

    build-sealed-image.py --sealcheck BIN --out DIR [--keys DIR] [--alg sha512|sha256]

Makes, in DIR:
  root.img        ext4 (-O verity, 4 KiB blocks, LABEL=sealroot) holding
                  composefs/{objects/XX/..., images/<digest>, meta.json};
                  fs-verity enabled on every object by an install boot
  esp.img         FAT ESP with EFI/BOOT/BOOTX64.EFI: a UKI (systemd-stub,
                  guest kernel, initramfs, cmdline composefs=<digest>) signed with db
  esp-<variant>.img   UKIs for the negative tests: insecure (composefs=?),
                  noverity (overlay without verity=require), wrongdigest,
                  badkey (signed with a key not in db), sblie (the sealed UKI on
                  an ESP labelled SEALTESTLIE: the guest forges its EFI variables)
  keys/           PK, KEK, db (.key/.crt) and GUID.txt, bcvk's layout (made if --keys is not given)
  vars.fd         OVMF variable store with those keys enrolled, Secure Boot on
  manifest.json   digest, algorithm, file names
Needs root (trusted.* xattrs for the EROFS image) and the guest kernel
(scripts/fetch-guest-kernel.sh). Progress goes to stderr on a terminal.
"""
import argparse
import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
STUB = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
INLINE_MAX = 64  # files this small stay inline in the EROFS image, covered by its digest
MODULES = ["virtio_blk", "loop", "libcrc32c", "erofs", "overlay", "efivarfs"]
ALG_IDS = {"sha256": (1, 32), "sha512": (2, 64)}


def say(msg):
    if sys.stderr.isatty():
        print(f"build-sealed-image: {msg}", file=sys.stderr, flush=True)


def run(*cmd, **kw):
    kw.setdefault("check", True)
    kw.setdefault("stdout", subprocess.DEVNULL)
    return subprocess.run([str(c) for c in cmd], **kw)


def out(*cmd):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True).stdout


def verity_digest(path, alg):
    return out("fsverity", "digest", f"--hash-alg={alg}", "--compact", path).strip()


def copy_with_libs(binary, root, dest):
    """Copy a binary and the shared libraries ldd names, at the same paths."""
    target = os.path.join(root, dest.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(binary, target)
    for line in out("ldd", binary).splitlines():
        parts = line.split()
        lib = parts[2] if "=>" in parts and len(parts) > 2 and parts[2].startswith("/") else (
            parts[0] if parts and parts[0].startswith("/") else None)
        if not lib:
            continue
        t = os.path.join(root, lib.lstrip("/"))
        if not os.path.exists(t):
            os.makedirs(os.path.dirname(t), exist_ok=True)
            shutil.copy2(os.path.realpath(lib), t)


# What the agent loads with dlopen for its TPM evidence (agent/core/sc-tpm.h): ldd of the agent
# does not name them. The guest kernel has TPM TIS and CRB built in (no module to load).
TSS_LIBS = ["libtss2-esys.so.0", "libtss2-mu.so.0", "libtss2-tctildr.so.0", "libtss2-tcti-device.so.0"]


def copy_dlopen_libs(root, sonames):
    """Each soname as the host's loader finds it, with the libraries ldd names for it, at the same paths."""
    cache = out("ldconfig", "-p")
    for so in sonames:
        path = next((line.split("=>")[-1].strip() for line in cache.splitlines()
                     if line.strip().startswith(so + " ") and "x86-64" in line), None)
        if not path:
            say(f"{so} is not installed on this host (libtss2-dev): the guest's agent sends no TPM evidence")
            continue
        copy_with_libs(path, root, path)  # copy2 follows the soname's symlink: a plain file


def add_busybox(root):
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    shutil.copy2("/bin/busybox", os.path.join(root, "bin/busybox"))
    for applet in out("/bin/busybox", "--list").split():
        link = os.path.join(root, "bin", applet)
        if not os.path.exists(link):
            os.symlink("busybox", link)


EFI_GLOBAL = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
EFI_SECURITY_DB = "d719b2cb-3d3a-4596-a3bc-dad00e67656f"
EFI_CERT_X509 = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072"
FORGED_EFIVARS = "usr/lib/sealcheck-test/forged-efivars"
LIE_LABEL = "SEALTESTLIE"  # the FAT volume label of esp-sblie.img (guest-init.sh)


def forged_efivars(dest, keys):
    """What a guest that lies about Secure Boot shows its agent: efivarfs files
    (4-byte attributes, then the data) saying SecureBoot=1 in user mode with the
    image's PK, KEK and db enrolled, as an honest sealed boot shows them. Only
    guest-init.sh's test switch (esp-sblie.img) mounts them, over efivarfs:
    from the host's side that is a guest whose agent is patched to claim Secure
    Boot; PCR 7 must expose it (tests/vm/test-tpm.sh tpm-secure-boot-lie)."""
    import ssl

    os.makedirs(dest, exist_ok=True)
    owner = uuid.UUID(open(os.path.join(keys, "GUID.txt")).read().strip()).bytes_le

    def var(name, guid, attrs, data):
        with open(os.path.join(dest, f"{name}-{guid}"), "wb") as f:
            f.write(struct.pack("<I", attrs) + data)

    def esl(crt):
        der = ssl.PEM_cert_to_DER_cert(open(os.path.join(keys, crt)).read())
        size = 16 + len(der)  # EFI_SIGNATURE_DATA: owner, then the certificate
        return uuid.UUID(EFI_CERT_X509).bytes_le + struct.pack("<III", 28 + size, 0, size) + owner + der

    runtime, authenticated = 0x06, 0x27  # BS|RT; NV|BS|RT|TIME_BASED_AUTHENTICATED_WRITE_ACCESS
    var("SecureBoot", EFI_GLOBAL, runtime, b"\x01")
    var("SetupMode", EFI_GLOBAL, runtime, b"\x00")
    var("AuditMode", EFI_GLOBAL, runtime, b"\x00")
    var("DeployedMode", EFI_GLOBAL, runtime, b"\x00")
    var("PK", EFI_GLOBAL, authenticated, esl("PK.crt"))
    var("KEK", EFI_GLOBAL, authenticated, esl("KEK.crt"))
    var("db", EFI_SECURITY_DB, authenticated, esl("db.crt"))


def guest_tree(tree, sealcheck, keys):
    """The sealed root: busybox, sealcheck with its libraries, /sbin/init, and
    the forged EFI variables of the Secure Boot lie test (forged_efivars)."""
    for d in ("proc", "sys", "dev", "run", "tmp", "var", "sysroot", "etc", "sbin", "usr/bin", "mnt"):
        os.makedirs(os.path.join(tree, d), exist_ok=True)
    add_busybox(tree)
    copy_with_libs(sealcheck, tree, "/usr/bin/sealcheck")
    copy_dlopen_libs(tree, TSS_LIBS)
    shutil.copy2(os.path.join(HERE, "guest-init.sh"), os.path.join(tree, "sbin/init"))
    os.chmod(os.path.join(tree, "sbin/init"), 0o755)
    forged_efivars(os.path.join(tree, FORGED_EFIVARS), keys)
    with open(os.path.join(tree, "etc/machine-id"), "w") as f:
        f.write(uuid.uuid4().hex + "\n")
    with open(os.path.join(tree, "etc/os-release"), "w") as f:
        f.write('ID=sealcheck-demo\nNAME="sealcheck sealed demo"\nVERSION_ID=1\n')
    with open(os.path.join(tree, "etc/hostname"), "w") as f:
        f.write("sealed-demo\n")
    # Data no process reads at boot: damage to its object stays invisible to the
    # kernel until someone reads it, which the agent's deep walk does.
    os.makedirs(os.path.join(tree, "usr/share/sealcheck-demo"), exist_ok=True)
    with open(os.path.join(tree, "usr/share/sealcheck-demo/payload.bin"), "wb") as f:
        f.write(hashlib.sha256(b"sealcheck-demo payload").digest() * 8192)  # 256 KiB


def debian_mirror():
    """The Debian mirror the host's apt already uses (deb822 or one-line sources)."""
    import glob
    for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for line in open(f):
            if line.startswith("URIs:"):
                for uri in line.split()[1:]:
                    if uri.rstrip("/").endswith("/debian"):
                        return uri
    for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if os.path.exists(f):
            for line in open(f):
                w = [x for x in line.split() if not x.startswith("[") and not x.endswith("]")]
                if len(w) > 1 and w[0] == "deb" and w[1].rstrip("/").endswith("/debian"):
                    return w[1]
    sys.exit("build-sealed-image: no Debian mirror in /etc/apt/sources.list{,.d}")


def systemd_tree(tree, sealcheck, kdir, cache):
    """A Debian bookworm root with systemd as init (debootstrap minbase, cached), the
    guest kernel's modules, sealcheck, and the project's unit and udev rule."""
    # The TSS libraries systemd 252 dlopens (libtss2-esys.so.0, libtss2-rc.so.0, libtss2-mu.so.0, and the
    # device TCTI esys loads): without them systemd-pcrphase{,-sysinit}.service exit quietly (--graceful)
    # and PCR 11 holds the stub's measurements only. The cache's name follows the package list.
    packages = "systemd,systemd-sysv,udev,kmod,libtss2-esys-3.0.2-0,libtss2-rc0,libtss2-mu0,libtss2-tcti-device0"
    base = os.path.join(cache, "debootstrap-bookworm-" + hashlib.sha256(packages.encode()).hexdigest()[:12])
    if not os.path.exists(os.path.join(base, ".complete")):
        say("debootstrap: a Debian root with systemd (once; cached in " + cache + ")")
        shutil.rmtree(base, ignore_errors=True)
        run("debootstrap", "--variant=minbase", "--include=" + packages, "bookworm", base,
            debian_mirror(), stderr=subprocess.DEVNULL)
        open(os.path.join(base, ".complete"), "w").close()
    run("cp", "-a", base + "/.", tree)
    os.unlink(os.path.join(tree, ".complete"))
    for d in ("var/cache/apt/archives", "var/lib/apt/lists"):
        shutil.rmtree(os.path.join(tree, d), ignore_errors=True)
    # Devices come from devtmpfs; nodes left by debootstrap are not part of an image.
    shutil.rmtree(os.path.join(tree, "dev"), ignore_errors=True)
    for d in ("dev", "sysroot", "run", "var"):
        os.makedirs(os.path.join(tree, d), exist_ok=True)
    version = os.listdir(os.path.join(kdir, "lib/modules"))[0]
    os.makedirs(os.path.join(tree, "usr/lib/modules"), exist_ok=True)
    run("cp", "-a", os.path.join(kdir, "lib/modules", version), os.path.join(tree, "usr/lib/modules", version))
    run("depmod", "-b", tree, version)
    copy_with_libs(sealcheck, tree, "/usr/bin/sealcheck")
    copy_dlopen_libs(tree, TSS_LIBS)
    unit = open(os.path.join(SRC, "units/sealcheck-agent.service.in")).read().replace("@bindir@", "/usr/bin")
    with open(os.path.join(tree, "usr/lib/systemd/system/sealcheck-agent.service"), "w") as f:
        f.write(unit)
    shutil.copy2(os.path.join(SRC, "units/90-sealcheck.rules"), os.path.join(tree, "usr/lib/udev/rules.d/"))
    # tpm-udev (a dependency of every libtss2 package) makes /dev/tpmrm0 tss:tss 0660; the agent is root
    # without capabilities (CapabilityBoundingSet=), so only the tss group opens it: the project's drop-in,
    # where meson installs it (units/meson.build, -Dtss_group=tss).
    os.makedirs(os.path.join(tree, "usr/lib/systemd/system/sealcheck-agent.service.d"), exist_ok=True)
    with open(os.path.join(tree, "usr/lib/systemd/system/sealcheck-agent.service.d/tss.conf"), "w") as f:
        f.write(open(os.path.join(SRC, "units/sealcheck-agent.service.d/tss.conf.in")).read().replace("@tss_group@", "tss"))
    # A read-only root: an empty machine-id makes systemd mount a transient one.
    with open(os.path.join(tree, "etc/machine-id"), "w"):
        pass
    with open(os.path.join(tree, "etc/hostname"), "w") as f:
        f.write("sealed-systemd\n")
    # Say the verdict on the console too, for people reading the boot log.
    with open(os.path.join(tree, "usr/lib/systemd/system/sealcheck-console.service"), "w") as f:
        f.write("[Unit]\nDescription=sealcheck verdict on the console\nAfter=local-fs.target\n"
                "[Service]\nType=oneshot\nExecStart=/usr/bin/sealcheck status\n"
                "StandardOutput=tty\nTTYPath=/dev/console\n[Install]\nWantedBy=multi-user.target\n")
    os.symlink("/usr/lib/systemd/system/sealcheck-console.service",
               os.path.join(tree, "etc/systemd/system/multi-user.target.wants/sealcheck-console.service"))


def composefs(tree, repo, alg):
    """Move file contents into the object store; leave metacopy/redirect stubs in a staging tree."""
    algo_id, size_of = ALG_IDS[alg]
    objects = os.path.join(repo, "objects")
    os.makedirs(objects, exist_ok=True)
    backing = {}
    seen = set()  # hard links: an inode is stubbed once (a second look would hash the stub)
    todo = []
    for dirpath, _, files in os.walk(tree):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_size <= INLINE_MAX:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            todo.append((path, st.st_size))
    # One fsverity process per 500 files: per-file processes dominate at 100,000 objects.
    digests = {}
    for i in range(0, len(todo), 500):
        batch = [p for p, _ in todo[i:i + 500]]
        lines = out("fsverity", "digest", f"--hash-alg={alg}", *batch).splitlines()
        if len(lines) != len(batch):
            sys.exit(f"build-sealed-image: fsverity digest printed {len(lines)} lines for {len(batch)} files")
        for path, line in zip(batch, lines):
            d, _, name = line.partition(" ")
            if name != path or not d.startswith(alg + ":"):
                sys.exit(f"build-sealed-image: unexpected fsverity output {line!r}")
            digests[path] = d[len(alg) + 1:]
    for path, size in todo:
        digest = digests[path]
        obj = os.path.join(objects, digest[:2], digest[2:])
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        if not os.path.exists(obj):
            shutil.copy2(path, obj)
            os.chmod(obj, 0o644)
        backing["/" + os.path.relpath(path, tree)] = f"{digest[:2]}/{digest[2:]}"
        # struct ovl_metacopy: version 0, len, flags 0, digest_algo, digest
        metacopy = struct.pack("BBBB", 0, 4 + size_of, 0, algo_id) + bytes.fromhex(digest)
        os.truncate(path, 0)
        os.truncate(path, size)
        os.setxattr(path, "trusted.overlay.metacopy", metacopy)
        os.setxattr(path, "trusted.overlay.redirect", f"/{digest[:2]}/{digest[2:]}".encode())
    return backing


def make_keys(keys):
    os.makedirs(keys, exist_ok=True)
    for name in ("PK", "KEK", "db"):
        if not os.path.exists(os.path.join(keys, f"{name}.crt")):
            run("openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                "-subj", f"/CN=sealcheck demo {name}/", "-keyout", os.path.join(keys, f"{name}.key"),
                "-out", os.path.join(keys, f"{name}.crt"), stderr=subprocess.DEVNULL)
    if not os.path.exists(os.path.join(keys, "GUID.txt")):
        with open(os.path.join(keys, "GUID.txt"), "w") as f:
            f.write(str(uuid.uuid4()) + "\n")


def enroll(keys, vars_out, virt_fw_path):
    guid = open(os.path.join(keys, "GUID.txt")).read().strip()
    env = dict(os.environ, PYTHONPATH=virt_fw_path)
    run("/usr/bin/python3", "-m", "virt.firmware.vars", "-i", OVMF_VARS, "-o", vars_out,
        "--set-pk", guid, os.path.join(keys, "PK.crt"), "--add-kek", guid, os.path.join(keys, "KEK.crt"),
        "--add-db", guid, os.path.join(keys, "db.crt"), "--sb", env=env, stderr=subprocess.DEVNULL)


def initramfs(work, kdir, sealcheck, init_script, name, extra=()):
    root = os.path.join(work, name)
    os.makedirs(os.path.join(root, "lib/modules"), exist_ok=True)
    for d in ("proc", "sys", "dev", "mnt", "tmp"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    shutil.copy2("/bin/busybox", os.path.join(root, "bin/busybox"))
    copy_with_libs(sealcheck, root, "/bin/sealcheck")
    for b in extra:
        copy_with_libs(b, root, "/bin/" + os.path.basename(b))
    mods = {}
    for dirpath, _, files in os.walk(os.path.join(kdir, "lib/modules")):
        for f in files:
            if f.endswith(".ko.xz"):
                mods[f[:-6]] = os.path.join(dirpath, f)
    for m in MODULES:
        with open(os.path.join(root, "lib/modules", m + ".ko"), "wb") as f:
            f.write(out_bytes("xz", "-dc", mods[m]))
    shutil.copy2(init_script, os.path.join(root, "init"))
    os.chmod(os.path.join(root, "init"), 0o755)
    img = os.path.join(work, name + ".cpio.gz")
    files = subprocess.run("find . -print0 | cpio --null -o -H newc --quiet | gzip -1", shell=True, cwd=root,
                           check=True, capture_output=True).stdout
    with open(img, "wb") as f:
        f.write(files)
    return img


def out_bytes(*cmd):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True).stdout


def uki(work, kdir, initrd, cmdline, keys, sign_key, name):
    """systemd-stub(7): sections after the stub's last one, aligned; then sbsign."""
    align = int(next(l.split()[1] for l in out("objdump", "-p", STUB).splitlines()
                     if l.startswith("SectionAlignment")), 16)
    end = 0
    for line in out("objdump", "-h", STUB).splitlines():
        f = line.split()
        if len(f) == 7 and f[0].isdigit():
            end = max(end, int(f[3], 16) + int(f[2], 16))
    osrel = os.path.join(work, "os-release")
    with open(osrel, "w") as f:
        f.write('ID=sealcheck-demo\nNAME="sealcheck sealed demo"\nVERSION_ID=1\n')
    cmd_file = os.path.join(work, f"cmdline-{name}")
    with open(cmd_file, "w") as f:
        f.write(cmdline)
    args = []
    offset = (end + align - 1) // align * align
    for sec, path in ((".osrel", osrel), (".cmdline", cmd_file), (".linux", os.path.join(kdir, "boot/vmlinuz")),
                      (".initrd", initrd)):
        args += ["--add-section", f"{sec}={path}", "--change-section-vma", f"{sec}={offset:#x}"]
        offset += (os.path.getsize(path) + align - 1) // align * align
    unsigned = os.path.join(work, f"uki-{name}.unsigned.efi")
    signed = os.path.join(work, f"uki-{name}.efi")
    run("objcopy", *args, STUB, unsigned)
    run("sbsign", "--key", os.path.join(keys, f"{sign_key}.key"), "--cert", os.path.join(keys, f"{sign_key}.crt"),
        "--output", signed, unsigned, stderr=subprocess.DEVNULL)
    return signed


def esp(uki_path, esp_path, label=None):
    if os.path.exists(esp_path):
        os.unlink(esp_path)
    size_kib = os.path.getsize(uki_path) // 1024 + 4096
    run("mkfs.vfat", "-C", *(["-n", label] if label else []), esp_path, str(size_kib))
    run("mmd", "-i", esp_path, "::/EFI", "::/EFI/BOOT")
    run("mcopy", "-i", esp_path, uki_path, "::/EFI/BOOT/BOOTX64.EFI")


def install_boot(out_dir, work, kdir, sealcheck, enable_verity, timeout):
    """Enable fs-verity on every object inside a guest (direct kernel boot, TCG)."""
    initrd = initramfs(work, kdir, sealcheck, os.path.join(HERE, "install-init.sh"), "install",
                       extra=[enable_verity])
    log = os.path.join(work, "install-console.log")
    rc = subprocess.run(["timeout", "-k", "5", str(timeout), "qemu-system-x86_64", "-machine", "q35",
                         "-cpu", "qemu64,-cx16", "-smp", "1", "-m", "1024", "-display", "none", "-no-reboot",
                         "-monitor", "none", "-serial", f"file:{log}", "-kernel", os.path.join(kdir, "boot/vmlinuz"),
                         "-initrd", initrd, "-append", "console=ttyS0 panic=-1 loglevel=4",
                         "-drive", f"if=none,id=root,file={os.path.join(out_dir, 'root.img')},format=raw",
                         "-device", "virtio-blk-pci,drive=root"]).returncode
    text = open(log, errors="replace").read()
    if "@@install-done" not in text:
        sys.exit(f"build-sealed-image: the install boot failed (qemu status {rc}); console:\n{text[-3000:]}")
    return text.split("@@install-done objects=")[1].split()[0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sealcheck", required=True, help="the sealcheck binary to put in the image")
    p.add_argument("--enable-verity", help="the builder's enable-verity helper (default: beside sealcheck's build)")
    p.add_argument("--out", required=True)
    p.add_argument("--keys", help="Secure Boot keys in bcvk's layout (made when missing)")
    p.add_argument("--alg", choices=["sha512", "sha256"], default="sha512")
    p.add_argument("--guest", choices=["busybox", "systemd"], default="busybox",
                   help="busybox init (fast) or a Debian root with systemd, the agent's unit and udev rule")
    p.add_argument("--kernel-dir", help="guest kernel tree (default: scripts/fetch-guest-kernel.sh)")
    p.add_argument("--variants", default="insecure,noverity,wrongdigest,badkey,sblie")
    p.add_argument("--timeout", type=int, default=180)
    a = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("build-sealed-image: needs root (trusted.overlay.* xattrs)")
    t0 = time.monotonic()
    out_dir = os.path.abspath(a.out)
    os.makedirs(out_dir, exist_ok=True)
    kdir = a.kernel_dir or out("bash", os.path.join(SRC, "scripts/fetch-guest-kernel.sh")).strip()
    virt_fw = out("bash", os.path.join(SRC, "scripts/fetch-guest-kernel.sh"), "--virt-firmware").strip()
    keys = os.path.abspath(a.keys or os.path.join(out_dir, "keys"))
    sealcheck = os.path.abspath(a.sealcheck)
    if not a.enable_verity:
        a.enable_verity = os.path.join(os.path.dirname(os.path.dirname(sealcheck)), "host-probe", "enable-verity")
    if not os.access(a.enable_verity, os.X_OK):
        sys.exit(f"build-sealed-image: {a.enable_verity}: not found (ninja -C BUILD host-probe/enable-verity)")

    with tempfile.TemporaryDirectory(prefix="sealcheck-build-", dir=out_dir) as work:
        make_keys(keys)  # before the root: the busybox root holds forged copies of their ESLs
        say("assembling the guest root")
        tree = os.path.join(work, "tree")
        if a.guest == "systemd":
            os.makedirs(tree)
            systemd_tree(tree, sealcheck, kdir, os.environ.get("SEALCHECK_CACHE",
                                                               os.path.expanduser("~/.cache/sealcheck")))
        else:
            guest_tree(tree, sealcheck, keys)
        phys = os.path.join(work, "phys")
        repo = os.path.join(phys, "composefs")
        backing = composefs(tree, repo, a.alg)
        say(f"{len(set(backing.values()))} objects; packing the EROFS image")
        erofs = os.path.join(work, "image.erofs")
        run("mkfs.erofs", "--quiet", "-T0", "--chunksize=4096", erofs, tree, stderr=subprocess.DEVNULL)
        digest = verity_digest(erofs, a.alg)
        obj = os.path.join(repo, "objects", digest[:2], digest[2:])
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        shutil.copy2(erofs, obj)
        os.makedirs(os.path.join(repo, "images"), exist_ok=True)
        os.symlink(f"../objects/{digest[:2]}/{digest[2:]}", os.path.join(repo, "images", digest))
        with open(os.path.join(repo, "meta.json"), "w") as f:
            json.dump({"version": 1, "algorithm": f"fsverity-{a.alg}-12"}, f)
        with open(os.path.join(repo, ".sealcheck-alg"), "w") as f:
            f.write(a.alg)
        os.chmod(repo, 0o700)
        root_img = os.path.join(out_dir, "root.img")
        if os.path.exists(root_img):
            os.unlink(root_img)
        size_mb = max(64, sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(phys) for f in fs)
                      // (1 << 20) * 2 + 32)
        run("mkfs.ext4", "-q", "-b", "4096", "-O", "verity", "-L", "sealroot", "-d", phys, root_img, f"{size_mb}M")

        say(f"install boot: enabling fs-verity on {len(set(backing.values())) + 1} objects inside a guest")
        enabled = install_boot(out_dir, work, kdir, sealcheck, os.path.abspath(a.enable_verity), a.timeout)

        say("keys, variable store, signed UKIs")
        if a.keys is None or not os.path.exists(os.path.join(keys, "wrong.crt")):
            pass
        # A key that is not in db, for the "firmware refuses" test.
        if not os.path.exists(os.path.join(keys, "notindb.crt")):
            run("openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                "-subj", "/CN=sealcheck key not in db/", "-keyout", os.path.join(keys, "notindb.key"),
                "-out", os.path.join(keys, "notindb.crt"), stderr=subprocess.DEVNULL)
        enroll(keys, os.path.join(out_dir, "vars.fd"), virt_fw)
        initrd = initramfs(work, kdir, sealcheck, os.path.join(HERE, "initramfs-init.sh"), "boot")
        base = "console=ttyS0 panic=-1 loglevel=4" + (" systemd.show_status=1" if a.guest == "systemd" else "")
        other = hashlib.sha512(digest.encode()).hexdigest()[:len(digest)]
        variants = {
            "": (f"composefs={digest} {base}", "db"),
            "insecure": (f"composefs=?{digest} {base}", "db"),
            "noverity": (f"composefs={digest} sealtest.verity=off {base}", "db"),
            "wrongdigest": (f"composefs={other} {base}", "db"),
            "badkey": (f"composefs={digest} {base}", "notindb"),
        }
        wanted = [""] + [v for v in a.variants.split(",") if v]
        esps = {}
        for v in wanted:
            name = f"esp-{v}.img" if v else "esp.img"
            if v == "sblie":
                # The sealed UKI itself, byte for byte (so PCRs 4, 9 and 11 are the sealed boot's), on an ESP
                # whose FAT label, which nothing measures, tells guest-init.sh to forge the EFI variables.
                esp(sealed_uki, os.path.join(out_dir, name), label=LIE_LABEL)
                esps[v] = dict(esps["sealed"], esp=name, label=LIE_LABEL)
                continue
            cmdline, key = variants[v]
            u = uki(work, kdir, initrd, cmdline, keys, key, v or "sealed")
            if not v:
                sealed_uki = u
            esp(u, os.path.join(out_dir, name))
            esps[v or "sealed"] = {"esp": name, "cmdline": cmdline, "signed_with": key}

    manifest = {"digest": digest, "algorithm": a.alg, "guest": a.guest, "root": "root.img", "vars": "vars.fd", "keys": keys,
                "objects": int(enabled), "backing_objects": backing, "esps": esps, "port": "org.sealcheck.attest.0",
                "build_seconds": round(time.monotonic() - t0, 1)}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    say(f"done in {manifest['build_seconds']} s: composefs={digest[:16]}... ({a.alg})")
    print(out_dir)


if __name__ == "__main__":
    main()
