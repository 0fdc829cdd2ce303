#!/usr/bin/env python3
"""sealcheck-probe run: containment, cleanup and hostile manifests.

Each case runs the real probe (and, where it gets that far, the real QEMU
with OVMF) on a small image folder made here: a manifest, an empty ESP and
root disk. Nothing here needs the guest to boot, so the cases take seconds.

    run_cases.py --probe BIN CASE      (--list prints the cases)

Cases:
  signal-TERM, signal-INT, signal-HUP: the signal while QEMU runs; the probe
      must stop QEMU, remove its work directory and exit 2 within 15 s.
  sigkill: the probe killed outright; QEMU must die with it (parent-death signal).
  work-dir-removed: a run that ends by itself (the firmware boots nothing)
      leaves no work directory and no QEMU behind.
  manifest-escape: "root": "../../../etc/hostname" is refused before QEMU starts.
  manifest-comma: a file name with a comma (a QEMU option injection) is refused.
  manifest-symlink: a root.img that is a symlink to a host file is refused.
  esp-comma-path: an ESP path the operator names with a comma in it reaches
      QEMU escaped: QEMU opens that very file (no injected option).
  qemu-cmdline: QEMU runs with -nodefaults, no NIC and the seccomp sandbox.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DIGEST = "ab" * 64


def make_keys(keys, mode=0o755):
    """A Secure Boot key directory as the builder and bcvk lay it out: run enrols it at every boot."""
    os.makedirs(keys, exist_ok=True)
    for k in ("PK", "KEK", "db"):
        subprocess.run(["openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", f"/CN=run_cases {k}/", "-keyout", os.path.join(keys, k + ".key"),
                        "-out", os.path.join(keys, k + ".crt")], check=True, stderr=subprocess.DEVNULL)
    with open(os.path.join(keys, "GUID.txt"), "w") as f:
        f.write("11111111-2222-4333-8444-555555555555\n")
    os.chmod(keys, mode)


def make_image(d, manifest_extra=None, fat_esp=False):
    os.makedirs(d, exist_ok=True)
    for name, size in (("root.img", 1 << 20), ("esp.img", 2 << 20)):
        with open(os.path.join(d, name), "wb") as f:
            f.truncate(size)
    keys = os.path.join(d, "keys")
    make_keys(keys)
    manifest_extra = dict({"keys": keys}, **(manifest_extra or {}))
    if fat_esp:
        # A FAT ESP holding some file as the boot application: the probe copies it out (--tpm).
        esp = os.path.join(d, "esp.img")
        subprocess.run(["mkfs.vfat", esp], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["mmd", "-i", esp, "::/EFI", "::/EFI/BOOT"], check=True)
        subprocess.run(["mcopy", "-i", esp, "/usr/share/OVMF/OVMF_VARS_4M.fd", "::/EFI/BOOT/BOOTX64.EFI"], check=True)
    # A store that came with the image: never booted (run enrols the key directory instead).
    shutil.copy("/usr/share/OVMF/OVMF_VARS_4M.fd", os.path.join(d, "vars.fd"))
    m = {"digest": DIGEST, "algorithm": "sha512", "root": "root.img", "vars": "vars.fd",
         "esps": {"sealed": {"esp": "esp.img"}}}
    m.update(manifest_extra or {})
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(m, f)


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def wait_for(cond, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


class Fail(Exception):
    pass


def start(probe, image, runtime, extra=()):
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
    return subprocess.Popen([probe, "run", "--accel", "tcg", "--timeout", "120", *extra, image],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)


def qemu_of(p):
    if not wait_for(lambda: any("qemu" in open(f"/proc/{c}/comm").read() for c in children(p.pid)
                                if os.path.exists(f"/proc/{c}/comm")), 20):
        raise Fail("QEMU did not start within 20 s")
    return [c for c in children(p.pid) if "qemu" in open(f"/proc/{c}/comm").read()][0]


def case_signal(probe, tmp, sig):
    image, runtime = os.path.join(tmp, "img"), os.path.join(tmp, "run")
    os.makedirs(runtime)
    make_image(image)
    p = start(probe, image, runtime)
    qemu = qemu_of(p)
    if not os.listdir(runtime):
        raise Fail("no work directory while QEMU runs")
    p.send_signal(sig)
    try:
        out, err = p.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        raise Fail(f"the probe did not end within 15 s of {sig.name}")
    if p.returncode != 2:
        raise Fail(f"exit {p.returncode} after {sig.name}, want 2")
    if b"interrupted by " + sig.name.encode() not in out:
        raise Fail(f"the verdict does not say 'interrupted by {sig.name}': {out[-300:]!r}")
    if alive(qemu):
        os.kill(qemu, signal.SIGKILL)
        raise Fail(f"QEMU (pid {qemu}) still runs after the probe ended")
    if os.listdir(runtime):
        raise Fail(f"left behind in the runtime directory: {os.listdir(runtime)}")


def case_sigkill(probe, tmp):
    image, runtime = os.path.join(tmp, "img"), os.path.join(tmp, "run")
    os.makedirs(runtime)
    make_image(image)
    p = start(probe, image, runtime)
    qemu = qemu_of(p)
    p.kill()
    p.wait()
    if not wait_for(lambda: not alive(qemu), 10):
        os.kill(qemu, signal.SIGKILL)
        raise Fail("QEMU outlived a SIGKILLed probe (no parent-death signal?)")


def case_work_dir_removed(probe, tmp):
    image, runtime = os.path.join(tmp, "img"), os.path.join(tmp, "run")
    os.makedirs(runtime)
    make_image(image)
    p = start(probe, image, runtime, ["--timeout", "20"])
    qemu = qemu_of(p)
    out, err = p.communicate(timeout=60)
    if p.returncode != 2 or b"NO REPORT" not in out:
        raise Fail(f"exit {p.returncode}, want 2 with NO REPORT: {out[-300:]!r} {err[-300:]!r}")
    if alive(qemu):
        os.kill(qemu, signal.SIGKILL)
        raise Fail("QEMU still runs")
    if os.listdir(runtime):
        raise Fail(f"left behind: {os.listdir(runtime)}")


def refused(probe, tmp, manifest_extra, want, prepare=None):
    image, runtime = os.path.join(tmp, "img"), os.path.join(tmp, "run")
    os.makedirs(runtime)
    make_image(image, manifest_extra)
    if prepare:
        prepare(image)
    p = start(probe, image, runtime)
    out, err = p.communicate(timeout=30)
    if p.returncode != 2 or want.encode() not in err:
        raise Fail(f"exit {p.returncode}, want 2 saying {want!r}: {err[-400:]!r}")
    if os.listdir(runtime):
        raise Fail(f"left behind: {os.listdir(runtime)}")


def case_esp_comma_path(probe, tmp):
    image, runtime = os.path.join(tmp, "img"), os.path.join(tmp, "run")
    os.makedirs(runtime)
    make_image(image)
    odd = os.path.join(tmp, "a,readonly=off,file=x.img")
    shutil.copy(os.path.join(image, "esp.img"), odd)
    p = start(probe, image, runtime, ["--esp", odd])
    qemu = qemu_of(p)
    # QEMU holds the very file open: the comma did not split the option.
    if not wait_for(lambda: any(os.path.realpath(f"/proc/{qemu}/fd/{fd}") == odd
                                for fd in os.listdir(f"/proc/{qemu}/fd")), 10):
        p.kill()
        raise Fail("QEMU did not open the ESP whose name has commas")
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=15)


def case_qemu_cmdline(probe, tmp):
    image, runtime = os.path.join(tmp, "img"), os.path.join(tmp, "run")
    os.makedirs(runtime)
    make_image(image)
    p = start(probe, image, runtime)
    qemu = qemu_of(p)
    with open(f"/proc/{qemu}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=15)
    for want in (b"-nodefaults", b"-sandbox"):
        if want not in argv:
            raise Fail(f"QEMU runs without {want.decode()}: {argv}")
    if b"-nic" not in argv or argv[argv.index(b"-nic") + 1] != b"none":
        raise Fail("QEMU runs without -nic none")
    for bad in (b"-netdev", b"-net", b"-cdrom", b"user"):
        if bad in argv:
            raise Fail(f"QEMU runs with {bad.decode()}")
    # The console is a socket the probe owns, never a file QEMU writes.
    if any(a.startswith(b"file:") for a in argv):
        raise Fail("QEMU writes a host file for the guest")


def case_tpm(probe, tmp):
    """--tpm: a swtpm of the probe's own, EK made by swtpm_setup with a private CA, gone with the probe."""
    image, runtime = os.path.join(tmp, "img"), os.path.join(tmp, "run")
    os.makedirs(runtime)
    make_image(image, fat_esp=True)
    p = start(probe, image, runtime, ["--tpm"])
    qemu = qemu_of(p)
    with open(f"/proc/{qemu}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    tpms = [c for c in children(p.pid) if open(f"/proc/{c}/comm").read().strip() == "swtpm"]
    work = [os.path.join(runtime, d) for d in os.listdir(runtime)]
    state = os.path.join(work[0], "tpm") if work else ""
    made = sorted(os.listdir(state)) if os.path.isdir(state) else []
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=20)
    if b"tpm-tis,tpmdev=tpm0" not in argv:
        raise Fail(f"QEMU runs without the TPM device: {argv}")
    if not tpms:
        raise Fail("no swtpm child of the probe")
    if "tpm2-00.permall" not in made or "localca" not in made or "ak.name" not in made:
        raise Fail(f"the TPM state lacks the EK or the private CA: {made}")
    if any(alive(t) for t in tpms):
        raise Fail("swtpm still runs after the probe ended")
    if os.listdir(runtime):
        raise Fail(f"left behind: {os.listdir(runtime)}")
    if os.path.exists("/var/lib/swtpm-localca/issuercert.pem") and \
            os.path.getmtime("/var/lib/swtpm-localca/issuercert.pem") > time.time() - 60:
        raise Fail("the system's swtpm local CA was used")


def bootc_examples_layout(keys):
    """The key directory as rhel-bootc-examples' util/keys.py leaves it: sb-PK.crt ..., PK.crt -> sb-PK.crt."""
    for k in ("PK", "KEK", "db"):
        os.rename(os.path.join(keys, k + ".crt"), os.path.join(keys, "sb-" + k + ".crt"))
        os.symlink("sb-" + k + ".crt", os.path.join(keys, k + ".crt"))


def case_vars_from_keys(probe, tmp, layout=None):
    """The store QEMU boots is made from the key directory, not the image folder's vars.fd."""
    image, runtime = os.path.join(tmp, "img"), os.path.join(tmp, "run")
    os.makedirs(runtime)
    make_image(image)
    if layout:
        layout(os.path.join(image, "keys"))
    with open(os.path.join(image, "vars.fd"), "r+b") as f:
        f.write(b"not the store the probe boots")
    p = start(probe, image, runtime)
    qemu = qemu_of(p)
    with open(f"/proc/{qemu}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    booted = [a for a in argv if a.startswith(b"if=pflash") and b"unit=1" in a]
    path = booted[0].split(b"file=", 1)[1].split(b",")[0].decode() if len(booted) == 1 else ""
    store = open(path, "rb").read() if path and os.path.exists(path) else b""
    pk = subprocess.run(["openssl", "x509", "-in", os.path.join(image, "keys", "PK.crt"), "-outform", "DER"],
                        capture_output=True, check=True).stdout
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=15)
    if not store or store.startswith(b"not the store") or pk not in store:
        raise Fail(f"QEMU's variable store ({path or booted}) is not the key directory enrolled "
                   f"({'the image folder' if store.startswith(b'not the store') else 'no PK certificate in it'})")


def case_console_marked(probe, tmp):
    """The guest's console lines are marked as the guest's, and the probe's verdict is its last line."""
    image, runtime = os.path.join(tmp, "img"), os.path.join(tmp, "run")
    os.makedirs(runtime)
    make_image(image)

    def firmware_spoke():
        # The probe's own copy of the console (its work directory's console.log): OVMF's boot attempts.
        for d in os.listdir(runtime):
            try:
                with open(os.path.join(runtime, d, "console.log"), "rb") as f:
                    if b"BdsDxe" in f.read():
                        return True
            except OSError:
                pass
        return False

    # Stopped once the firmware has spoken, not after a fixed timeout a loaded machine may not reach.
    p = start(probe, image, runtime)
    if not wait_for(firmware_spoke, 100):
        p.kill()
        p.communicate()
        raise Fail("OVMF wrote no BdsDxe line to the console within 100 s")
    p.send_signal(signal.SIGTERM)
    try:
        out, _ = p.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        raise Fail("the probe did not end within 15 s of SIGTERM")
    lines = out.decode("utf-8", "replace").rstrip("\n").split("\n")
    if p.returncode != 2 or not lines[-1].startswith("Verdict: NO REPORT"):
        raise Fail(f"exit {p.returncode}, last line {lines[-1]!r} (want the probe's verdict)")
    if "Console of the VM (its last lines, the guest's own text):" not in lines:
        raise Fail(f"no console section (OVMF prints its boot attempts there): {lines}")
    first = lines.index("Console of the VM (its last lines, the guest's own text):") + 1
    shown = lines[first:lines.index("", first)]
    if not shown or any(not l.startswith("console| ") for l in shown):
        raise Fail(f"console lines not all marked: {shown}")
    if not any("BdsDxe" in l for l in shown):
        raise Fail(f"the firmware's lines are missing: {shown}")


CASES = {
    "console-marked": case_console_marked,
    "vars-from-keys": case_vars_from_keys,
    "keys-group-writable": lambda p, t: refused(
        p, t, {}, "writable by its group (mode 0775): others could change what SEALED means",
        prepare=lambda d: os.chmod(os.path.join(d, "keys"), 0o775)),
    # rhel-bootc-examples' key directory (PK.crt a link to sb-PK.crt beside it): taken, enrolled.
    "keys-bootc-examples-layout": lambda p, t: case_vars_from_keys(p, t, bootc_examples_layout),
    "keys-link-to-link": lambda p, t: refused(
        p, t, {}, "db.crt -> sb-db.crt: a link to a link (one step only)",
        prepare=lambda d: (bootc_examples_layout(os.path.join(d, "keys")),
                           os.rename(os.path.join(d, "keys", "sb-db.crt"), os.path.join(d, "keys", "real-db.crt")),
                           os.symlink("real-db.crt", os.path.join(d, "keys", "sb-db.crt")))),
    "keys-link-up": lambda p, t: refused(
        p, t, {}, "db.crt: a symbolic link out of the key directory",
        prepare=lambda d: (os.rename(os.path.join(d, "keys", "db.crt"), os.path.join(d, "db-elsewhere.crt")),
                           os.symlink("../db-elsewhere.crt", os.path.join(d, "keys", "db.crt")))),
    "keys-symlink": lambda p, t: refused(
        p, t, {}, "db.crt: a symbolic link out of the key directory",
        prepare=lambda d: (os.rename(os.path.join(d, "keys", "db.crt"), os.path.join(d, "db-elsewhere.crt")),
                           os.symlink(os.path.join(d, "db-elsewhere.crt"), os.path.join(d, "keys", "db.crt")))),
    "keys-missing": lambda p, t: refused(
        p, t, {}, "GUID.txt: No such file or directory",
        prepare=lambda d: os.unlink(os.path.join(d, "keys", "GUID.txt"))),
    "tpm": case_tpm,
    "signal-TERM": lambda p, t: case_signal(p, t, signal.SIGTERM),
    "signal-INT": lambda p, t: case_signal(p, t, signal.SIGINT),
    "signal-HUP": lambda p, t: case_signal(p, t, signal.SIGHUP),
    "sigkill": case_sigkill,
    "work-dir-removed": case_work_dir_removed,
    "manifest-escape": lambda p, t: refused(p, t, {"root": "../../../etc/hostname"}, "not a plain file name"),
    "manifest-comma": lambda p, t: refused(p, t, {"root": "root.img,file=/etc/shadow"}, "not a plain file name"),
    "manifest-symlink": lambda p, t: refused(
        p, t, {}, "not a regular file",
        prepare=lambda d: (os.unlink(os.path.join(d, "root.img")), os.symlink("/etc/hostname", os.path.join(d, "root.img")))),
    "esp-comma-path": case_esp_comma_path,
    "qemu-cmdline": case_qemu_cmdline,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("case", nargs="?")
    a = ap.parse_args()
    if a.list:
        print("\n".join(CASES))
        return 0
    if shutil.which("qemu-system-x86_64") is None or not os.path.exists("/usr/share/OVMF/OVMF_VARS_4M.fd"):
        print(f"not ok - {a.case}: QEMU and OVMF are needed (scripts/install-deps.sh installs them)")
        return 1
    if shutil.which("virt-fw-vars") is None:
        # run enrols the key directory with virt-fw-vars: python3-virt-firmware from the cache (Debian 12).
        fetch = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "fetch-guest-kernel.sh")
        vf = subprocess.run(["bash", fetch, "--virt-firmware"], capture_output=True, text=True)
        if vf.returncode != 0:
            print(f"not ok - {a.case}: fetching python3-virt-firmware failed: {vf.stderr[-300:]}")
            return 1
        os.environ["PYTHONPATH"] = vf.stdout.strip() + (":" + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    tmp = tempfile.mkdtemp(prefix="sealcheck-run-case-")
    try:
        CASES[a.case](os.path.abspath(a.probe), tmp)
    except Fail as e:
        print(f"not ok - {a.case}: {e}")
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"ok - {a.case}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
