#!/usr/bin/env python3
"""Install a container image onto one GPT disk the way `bootc install to-disk`
lays out a sealed composefs system, with systemd-boot and a UKI signed for
Secure Boot.

    build-bootc-disk.py --image oci:LAYOUT:NAME --out DIR [--keys DIR]
                        [--target-imgref REF] [--alg sha512|sha256]

Makes, in DIR:
  disk.raw, disk.qcow2   GPT as bootc partitions x86-64: 1 BIOS-BOOT (1 MiB), 2 the
                         ESP (FAT32, "EFI-SYSTEM"), 3 the root (ext4 labelled "root",
                         -O verity, the x86-64 root type of the Discoverable
                         Partitions Specification);
      ESP: EFI/BOOT/BOOTX64.EFI and EFI/systemd/systemd-bootx64.efi (the image's
           systemd-boot, signed with db), loader/loader.conf ("timeout 5", as bootc
           writes when the image has none), loader/entries/bootc_<os>-<version>-1.conf
           (an `efi` key: systemd-boot < 258), and the UKI
           EFI/Linux/bootc/bootc_composefs-<digest>.efi: ukify 257 and the image's
           stub, the image's kernel and initramfs, cmdline "composefs=<digest> rw"
           plus kargs, signed with db
           [bootc crates/lib/src/bootc_composefs/boot.rs write_systemd_uki_config,
            composefs_consts.rs UKI_NAME_PREFIX; rhel-bootc-examples sealing/Containerfile]
      root: composefs/{meta.json,objects/,images/<digest>} with fs-verity on every
           object, state/deploy/<digest>/{etc/,var,<digest>.origin}, state/os/default/var
           [composefs-rs crates/composefs/src/repository_format.rs; bootc
            crates/lib/src/bootc_composefs/state.rs write_composefs_state]
  keys/        Secure Boot keys in rhel-bootc-examples' layout (util/keys.py):
               sb-{PK,KEK,db}.{key,crt}, PK.crt -> sb-PK.crt etc., GUID.txt; made when
               --keys is not given
  disk-*.raw   the negative tests' disks: the same with another ESP: insecure (the UKI
               says composefs=?), badkey (the UKI signed by a key not in db),
               bootloader-badkey (systemd-boot signed by a key not in db)
  bootc-disk.json  what was built: digest, image reference, manifest digest, files
The image is read by reference only (oci_image.py checks every blob). Needs root.
"""
import argparse
import configparser
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oci_image  # noqa: E402
from builder_lib import SRC, bsi  # noqa: E402
run, out = bsi.run, bsi.out

ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
BIOS_BOOT_TYPE = "21686148-6449-6E6F-744E-656564454649"
ROOT_X86_64_TYPE = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"  # UAPI Discoverable Partitions Specification
SD_BOOT = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"
SD_STUB = "usr/lib/systemd/boot/efi/linuxx64.efi.stub"
KARGS = "rw console=ttyS0 panic=-1 loglevel=4"


def say(msg):
    if sys.stderr.isatty():
        print(f"build-bootc-disk: {msg}", file=sys.stderr, flush=True)


def bootc_keys(keys):
    """rhel-bootc-examples util/keys.py's layout: sb-NAME.{key,crt}, NAME.crt a link to sb-NAME.crt."""
    os.makedirs(keys, exist_ok=True)
    for name in ("PK", "KEK", "db", "notindb"):
        crt, key = os.path.join(keys, f"sb-{name}.crt"), os.path.join(keys, f"sb-{name}.key")
        if not os.path.exists(crt):
            run("openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                "-subj", f"/CN=sealcheck bootc {name}/", "-keyout", key, "-out", crt, stderr=subprocess.DEVNULL)
        if name != "notindb" and not os.path.lexists(os.path.join(keys, f"{name}.crt")):
            os.symlink(f"sb-{name}.crt", os.path.join(keys, f"{name}.crt"))
    if not os.path.exists(os.path.join(keys, "GUID.txt")):
        with open(os.path.join(keys, "GUID.txt"), "w") as f:
            f.write(str(uuid.uuid4()) + "\n")


def os_release(tree):
    rel = {}
    path = os.path.join(tree, "usr/lib/os-release")
    for line in open(path):
        k, sep, v = line.strip().partition("=")
        if sep:
            rel[k] = v.strip('"')
    return rel


def sign(keys, name, src, dest):
    run("sbsign", "--key", os.path.join(keys, f"sb-{name}.key"), "--cert", os.path.join(keys, f"sb-{name}.crt"),
        "--output", dest, src, stderr=subprocess.DEVNULL)


def ukify(tools, work, version, cmdline, name):
    """ukify 257 from the image itself (bootc container ukify runs the image's ukify), unsigned."""
    inside = f"/run/ukify-{name}"
    os.makedirs(os.path.join(tools, inside.lstrip("/")), exist_ok=True)
    dest = os.path.join(tools, inside.lstrip("/"), "uki.efi")
    r = subprocess.run(["chroot", tools, "/usr/bin/ukify", "build",
                        f"--linux=/usr/lib/modules/{version}/vmlinuz",
                        f"--initrd=/usr/lib/modules/{version}/initramfs.img",
                        f"--cmdline={cmdline}", "--os-release=@/usr/lib/os-release", f"--uname={version}",
                        f"--stub=/{SD_STUB}", f"--output={inside}/uki.efi"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"build-bootc-disk: ukify build failed:\n{r.stderr[-2000:]}")
    path = os.path.join(work, f"uki-{name}.unsigned.efi")
    shutil.move(dest, path)
    return path


def make_esp(path, files, size_mib):
    if os.path.exists(path):
        os.unlink(path)
    run("mkfs.vfat", "-F", "32", "-n", "EFI-SYSTEM", "-C", path, str(size_mib * 1024), stderr=subprocess.DEVNULL)
    dirs = sorted({os.path.dirname(d) for d in files})
    made = set()
    for d in dirs:
        parts = d.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub and sub not in made:
                run("mmd", "-i", path, "::/" + sub)
                made.add(sub)
    for dest, src in files.items():
        run("mcopy", "-i", path, src, "::/" + dest)


def gpt_disk(path, esp_img, root_img):
    """As bootc install to-disk partitions x86-64 with sfdisk (crates/lib/src/install/baseline.rs sfdisk()):
    1 a 1 MiB BIOS-BOOT, 2 the ESP "EFI-SYSTEM", 3 the root (the Discoverable Partitions Specification's
    x86-64 root type, name "root"), 1 MiB aligned; the images written at their offsets."""
    mib = 1 << 20
    esp_size = os.path.getsize(esp_img)
    root_size = os.path.getsize(root_img)
    esp_start = 2 * mib
    root_start = esp_start + (esp_size + mib - 1) // mib * mib
    total = root_start + (root_size + mib - 1) // mib * mib + mib
    if os.path.exists(path):
        os.unlink(path)
    with open(path, "wb") as f:
        f.truncate(total)
    table = (f"label: gpt\nunit: sectors\n"
             f"start={mib // 512}, size={mib // 512}, bootable, type={BIOS_BOOT_TYPE}, name=\"BIOS-BOOT\"\n"
             f"start={esp_start // 512}, size={esp_size // 512}, type={ESP_TYPE}, name=\"EFI-SYSTEM\"\n"
             f"start={root_start // 512}, size={(root_size + 511) // 512}, type={ROOT_X86_64_TYPE}, name=\"root\"\n")
    subprocess.run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", path], input=table, text=True,
                   check=True, stdout=subprocess.DEVNULL)
    for img, off in ((esp_img, esp_start), (root_img, root_start)):
        run("dd", f"if={img}", f"of={path}", "bs=1M", f"seek={off // mib}", "conv=notrunc,sparse", "status=none")
    return esp_start


def write_origin(path, imgref, manifest_digest, digest):
    """bootc write_composefs_state's <digest>.origin: ostree-ext's image reference, the boot type, the
    manifest digest (crates/lib/src/bootc_composefs/state.rs, composefs_consts.rs)."""
    c = configparser.ConfigParser()
    c.optionxform = str
    c["origin"] = {"container-image-reference": imgref}
    c["boot"] = {"boot_type": "uki", "digest": hashlib.sha256(digest.encode()).hexdigest()}
    c["image"] = {"manifest_digest": manifest_digest}
    with open(path, "w") as f:
        c.write(f)  # "key = value", as bootc's tini writes it


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", required=True, help="the container image, oci:LAYOUT:NAME")
    p.add_argument("--out", required=True)
    p.add_argument("--keys", help="Secure Boot keys in rhel-bootc-examples' layout (made when missing)")
    p.add_argument("--target-imgref", default="localhost/sealed-host:latest",
                   help="the image reference the deployment records (bootc install --target-imgref)")
    p.add_argument("--alg", choices=["sha512", "sha256"], default="sha512")
    p.add_argument("--timeout", type=int, default=300)
    a = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("build-bootc-disk: needs root (trusted.overlay.* xattrs, chroot)")
    t0 = time.monotonic()
    out_dir = os.path.abspath(a.out)
    os.makedirs(out_dir, exist_ok=True)
    keys = os.path.abspath(a.keys or os.path.join(out_dir, "keys"))
    bootc_keys(keys)
    kdir = bsi.out("bash", os.path.join(SRC, "scripts/fetch-guest-kernel.sh")).strip()
    enable_verity = os.environ.get("SEALCHECK_ENABLE_VERITY")
    if not enable_verity or not os.access(enable_verity, os.X_OK):
        sys.exit("build-bootc-disk: SEALCHECK_ENABLE_VERITY must name the builder's enable-verity helper")
    with tempfile.TemporaryDirectory(prefix="sealcheck-disk-", dir=out_dir) as work:
        tree, tools = os.path.join(work, "tree"), os.path.join(work, "tools")
        os.makedirs(tree)
        os.makedirs(tools)
        say(f"reading {a.image}")
        try:
            manifest_digest = oci_image.unpack(a.image, tree)
            oci_image.unpack(a.image, tools)
        except (oci_image.OciError, OSError, ValueError) as e:
            sys.exit(f"build-bootc-disk: {a.image}: {e}")
        versions = os.listdir(os.path.join(tree, "usr/lib/modules"))
        if len(versions) != 1:
            sys.exit(f"build-bootc-disk: the image has {len(versions)} kernels in /usr/lib/modules (one expected)")
        version = versions[0]
        rel = os_release(tree)
        # The agent as the image installed it (the tools copy: the tree's files become metacopy stubs).
        sealcheck = next((os.path.join(tools, d, "sealcheck") for d in ("usr/bin", "usr/local/bin")
                          if os.path.exists(os.path.join(tools, d, "sealcheck"))), None)
        if not sealcheck:
            sys.exit(f"build-bootc-disk: {a.image} has no sealcheck in /usr/bin or /usr/local/bin")

        say("the composefs repository")
        phys = os.path.join(work, "phys")
        repo = os.path.join(phys, "composefs")
        backing = bsi.composefs(tree, repo, a.alg)
        erofs = os.path.join(work, "image.erofs")
        # The same image gives the same digest: a fixed timestamp, and a UUID from its manifest digest.
        fs_uuid = str(uuid.UUID(bytes=bytes.fromhex(manifest_digest[7:39])))
        run("mkfs.erofs", "--quiet", "-T0", f"-U{fs_uuid}", "--chunksize=4096", erofs, tree, stderr=subprocess.DEVNULL)
        digest = bsi.verity_digest(erofs, a.alg)
        obj = os.path.join(repo, "objects", digest[:2], digest[2:])
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        shutil.copy2(erofs, obj)
        os.makedirs(os.path.join(repo, "images", "refs"), exist_ok=True)
        os.symlink(f"../objects/{digest[:2]}/{digest[2:]}", os.path.join(repo, "images", digest))
        with open(os.path.join(repo, "meta.json"), "w") as f:
            json.dump({"version": 1, "algorithm": f"fsverity-{a.alg}-12"}, f)
        with open(os.path.join(repo, ".sealcheck-alg"), "w") as f:
            f.write(a.alg)
        os.chmod(repo, 0o700)
        deploy = os.path.join(phys, "state/deploy", digest)
        os.makedirs(os.path.join(deploy, "etc"))
        os.makedirs(os.path.join(phys, "state/os/default/var"))
        os.symlink("../../os/default/var", os.path.join(deploy, "var"))
        imgref = f"ostree-unverified-registry:{a.target_imgref}"
        write_origin(os.path.join(deploy, f"{digest}.origin"), imgref, manifest_digest, digest)
        root_img = os.path.join(work, "root.img")
        size_mb = max(64, sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(phys) for f in fs)
                      // (1 << 20) * 2 + 32)
        run("mkfs.ext4", "-q", "-b", "4096", "-O", "verity", "-L", "root", "-d", phys, root_img, f"{size_mb}M")
        say(f"install boot: enabling fs-verity on {len(set(backing.values())) + 1} objects inside a guest")
        enabled = bsi.install_boot(work, work, kdir, sealcheck, enable_verity, a.timeout)  # boots work/root.img

        say("systemd-boot, the UKIs, the ESPs")
        uki_name = f"bootc_composefs-{digest}.efi"
        uki_dest = f"EFI/Linux/bootc/{uki_name}"
        sealed_cmdline = f"composefs={digest} {KARGS}"
        unsigned = ukify(tools, work, version, sealed_cmdline, "sealed")
        insecure_unsigned = ukify(tools, work, version, f"composefs=?{digest} {KARGS}", "insecure")
        signed = {}
        for name, src, key in (("uki", unsigned, "db"), ("uki-insecure", insecure_unsigned, "db"),
                               ("uki-badkey", unsigned, "notindb"),
                               ("sd-boot", os.path.join(tools, SD_BOOT), "db"),
                               ("sd-boot-badkey", os.path.join(tools, SD_BOOT), "notindb")):
            signed[name] = os.path.join(work, name + ".efi")
            sign(keys, key, src, signed[name])
        os_id = rel.get("ID", "bootc").replace("-", "_")
        entry_version = rel.get("VERSION_ID", digest)
        entry = os.path.join(work, "entry.conf")
        with open(entry, "w") as f:
            f.write(f"title {rel.get('PRETTY_NAME', os_id)}\nversion {entry_version}\n"
                    f"sort-key bootc-{os_id}-0\nefi /{uki_dest}\n")
        loader_conf = os.path.join(work, "loader.conf")
        with open(loader_conf, "w") as f:
            f.write("timeout 5\n")
        esp_mib = os.path.getsize(signed["uki"]) * 3 // (1 << 20) + 16
        layouts = {"": ("sd-boot", "uki"), "insecure": ("sd-boot", "uki-insecure"),
                   "badkey": ("sd-boot", "uki-badkey"), "bootloader-badkey": ("sd-boot-badkey", "uki")}
        esps = {}
        for variant, (boot, u) in layouts.items():
            files = {"EFI/BOOT/BOOTX64.EFI": signed[boot], "EFI/systemd/systemd-bootx64.efi": signed[boot],
                     "loader/loader.conf": loader_conf,
                     f"loader/entries/bootc_{os_id}-{entry_version}-1.conf": entry, uki_dest: signed[u]}
            esps[variant] = os.path.join(work, f"esp-{variant or 'sealed'}.img")
            make_esp(esps[variant], files, esp_mib)
        say("the GPT disks (raw, then qcow2; the negative tests' raw copies with another ESP)")
        disk = os.path.join(out_dir, "disk.raw")
        esp_offset = gpt_disk(disk, esps[""], root_img)
        run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", disk, os.path.join(out_dir, "disk.qcow2"))
        variants = {}
        for variant in layouts:
            if not variant:
                continue
            variants[variant] = f"disk-{variant}.raw"
            copy = os.path.join(out_dir, variants[variant])
            run("cp", "--sparse=always", disk, copy)
            run("dd", f"if={esps[variant]}", f"of={copy}", "bs=1M", f"seek={esp_offset >> 20}", "conv=notrunc",
                "status=none")

    manifest = {"digest": digest, "algorithm": a.alg, "image": a.image, "image_reference": imgref,
                "manifest_digest": manifest_digest, "disk": "disk.raw", "disk_qcow2": "disk.qcow2",
                "keys": keys, "uki": uki_dest, "cmdline": sealed_cmdline,
                "objects": int(enabled), "variants": variants,
                "port": "org.sealcheck.attest.0", "build_seconds": round(time.monotonic() - t0, 1)}
    with open(os.path.join(out_dir, "bootc-disk.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    say(f"done in {manifest['build_seconds']} s: composefs={digest[:16]}... from {a.image}")
    print(out_dir)


if __name__ == "__main__":
    main()
