#!/usr/bin/env python3
"""Build the container image a sealed bootc system is installed from, as an OCI
image layout: a Debian trixie root (systemd 257, systemd-boot 257, ukify) with
the kernel and its initramfs where bootc looks for them, and the sealcheck agent
installed as a package installs it.

    build-bootc-image.py --build BUILD_DIR --layout DIR [--name NAME]   -> prints oci:DIR:NAME

  - root: debootstrap trixie (minbase, cached in $SEALCHECK_CACHE), the way a
    Containerfile's base image and `dnf install` lines would give it;
  - /usr/lib/modules/<version>/{vmlinuz,initramfs.img} and the modules: where
    `bootc container ukify` reads the kernel and initramfs from (bootc
    crates/lib/src/ukify.rs); the initramfs is ours (host-probe/builder/initramfs-init.sh:
    mounts the composefs root with verity=require as bootc's initramfs does);
  - sealcheck: `meson install --tags agent` into the tree (binary, unit, udev
    rule, the TPM group drop-in), nothing enabled: udev starts the agent when
    the host offers the port;
  - the image: one uncompressed layer, config and manifest (oci_image.py),
    label containers.bootc=1 as bootc images carry.
Needs root (chroot-free, but file owners are kept). Progress on a terminal.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oci_image  # noqa: E402
from builder_lib import HERE, SRC, bsi  # noqa: E402

# What the image holds beyond minbase: systemd as init, the boot loader and stub bootc signs and
# builds the UKI with (systemd-boot-efi, systemd-ukify: python3-pefile, and python3-cffi-backend,
# which python3-zstandard needs and debootstrap does not resolve: a virtual package), and the
# agent's libraries (libtss2-* for its TPM evidence, dlopened: agent/core/sc-tpm.h).
PACKAGES = ("systemd,systemd-sysv,udev,kmod,systemd-boot-efi,systemd-ukify,python3-pefile,python3-cffi-backend,"
            "libjansson4,libfsverity0,libssl3t64,libefivar1t64,libtss2-esys-3.0.2-0t64,libtss2-rc0t64,"
            "libtss2-mu-4.0.1-0t64,libtss2-tcti-device0t64,libtss2-tctildr0t64")
SUITE = "trixie"


def say(msg):
    if sys.stderr.isatty():
        print(f"build-bootc-image: {msg}", file=sys.stderr, flush=True)


def trixie_root(cache):
    base = os.path.join(cache, f"debootstrap-{SUITE}-" + hashlib.sha256(PACKAGES.encode()).hexdigest()[:12])
    if not os.path.exists(os.path.join(base, ".complete")):
        say(f"debootstrap: a Debian {SUITE} root (once, about a minute and a half; cached in {cache})")
        shutil.rmtree(base, ignore_errors=True)
        r = subprocess.run(["debootstrap", "--variant=minbase", "--include=" + PACKAGES, SUITE, base,
                            bsi.debian_mirror()], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit(f"build-bootc-image: debootstrap {SUITE} failed:\n{r.stderr[-2000:]}"
                     f"\n(see {base}/debootstrap/debootstrap.log)")
        open(os.path.join(base, ".complete"), "w").close()
    return base


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", required=True, help="sealcheck's meson build directory (built)")
    p.add_argument("--layout", required=True, help="the OCI image layout to write (made if missing)")
    p.add_argument("--name", default="sealed-host:latest", help="the name in the layout's index")
    p.add_argument("--kernel-dir", help="guest kernel tree (default: scripts/fetch-guest-kernel.sh)")
    a = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("build-bootc-image: needs root (the tree keeps its owners)")
    t0 = time.monotonic()
    cache = os.environ.get("SEALCHECK_CACHE", os.path.expanduser("~/.cache/sealcheck"))
    kdir = a.kernel_dir or bsi.out("bash", os.path.join(SRC, "scripts/fetch-guest-kernel.sh")).strip()
    build = os.path.abspath(a.build)
    sealcheck = os.path.join(build, "agent", "sealcheck")
    layout = os.path.abspath(a.layout)
    os.makedirs(layout, exist_ok=True)
    base = trixie_root(cache)
    with tempfile.TemporaryDirectory(prefix="sealcheck-image-", dir=layout) as work:
        tree = os.path.join(work, "tree")
        say("assembling the image's root")
        bsi.run("cp", "-a", base + "/.", tree)
        os.unlink(os.path.join(tree, ".complete"))
        for d in ("var/cache/apt/archives", "var/lib/apt/lists", "debootstrap", "dev"):
            shutil.rmtree(os.path.join(tree, d), ignore_errors=True)
        for d in ("dev", "sysroot", "run", "var", "composefs"):
            os.makedirs(os.path.join(tree, d), exist_ok=True)
        # The kernel, its modules and the initramfs, where bootc container ukify reads them.
        version = os.listdir(os.path.join(kdir, "lib/modules"))[0]
        mdir = os.path.join(tree, "usr/lib/modules", version)
        os.makedirs(os.path.dirname(mdir), exist_ok=True)
        bsi.run("cp", "-a", os.path.join(kdir, "lib/modules", version), mdir)
        bsi.run("depmod", "-b", tree, version)
        shutil.copy2(os.path.join(kdir, "boot/vmlinuz"), os.path.join(mdir, "vmlinuz"))
        initrd = bsi.initramfs(work, kdir, sealcheck, os.path.join(HERE, "initramfs-init.sh"), "initramfs")
        shutil.copy2(initrd, os.path.join(mdir, "initramfs.img"))
        # sealcheck, as its package installs it.
        env = dict(os.environ, DESTDIR=tree)
        r = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet", "--tags", "agent"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit(f"build-bootc-image: meson install --tags agent failed:\n{r.stderr[-2000:]}")
        # A read-only root: an empty machine-id makes systemd mount a transient one.
        open(os.path.join(tree, "etc/machine-id"), "w").close()
        with open(os.path.join(tree, "etc/hostname"), "w") as f:
            f.write("sealed-bootc\n")
        say("writing the OCI image")
        digest = oci_image.build(tree, layout, a.name)
    say(f"done in {time.monotonic() - t0:.1f} s: {a.name} @ {digest}")
    print(f"oci:{layout}:{a.name}")


if __name__ == "__main__":
    main()
