#!/usr/bin/env python3
"""sealcheck verify on real EROFS images over object stores with one thing
wrong each.

The repository is made by the image builder's own composefs() function; the
fake fs-verity preload answers FS_IOC_MEASURE_VERITY from the objects' bytes
(this host's kernel has no fs-verity), or ENODATA for a file marked
user.fake_fsverity=none. Reading corrupted verity data (EIO) needs a real
kernel: tests/vm covers it.

Every fixture is deterministic: file contents come from a fixed seed, images
are made with a fixed time and UUID, and the seed is one whose twelve objects
all live in different objects/XX/ directories (checked, not assumed), so a
case that replaces one object's directory touches that object only.

Each case CASE runs the parsed walker (`--walk parse`: the image's own bytes,
no privilege); CASE-mounted runs the kernel-mount walker (`--walk mount`,
needs root to mount the image) and checks that both walkers say the same.
Without root the trusted.overlay.* xattrs mkfs.erofs should copy cannot be
set on the staging tree, so they are set as user.overlay.* and the image's
xattr entries are renamed to the trusted namespace afterwards (one byte per
entry, plus the superblock checksum): the bytes mkfs.erofs writes as root
(the image-rename-matches-root case checks it, as root).

    verify_cases.py --list
    verify_cases.py --sealcheck BIN --preload SO CASE
"""
import argparse
import ctypes
import importlib.util
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "builder", os.path.join(HERE, "..", "..", "host-probe", "builder", "build-sealed-image.py"))
builder = importlib.util.module_from_spec(spec)
spec.loader.exec_module(builder)

SEED = 0  # its 12 objects fall in 12 different objects/XX/ directories (make_repo checks it)
UUID = "5ea1c4ec-0000-4000-8000-000000000001"
ROOT = os.geteuid() == 0
# Where the overlay xattrs go on the staging tree: trusted.* needs CAP_SYS_ADMIN.
XATTR_NS = ["trusted." if ROOT else "user."]


def xname(name):
    """trusted.overlay.X as it is set on this run's staging tree."""
    return XATTR_NS[0] + name[len("trusted."):] if name.startswith("trusted.") else name


class _StagingOs:
    """os for the builder's composefs(): its trusted.* xattrs go to XATTR_NS."""

    def __getattr__(self, n):
        return getattr(os, n)

    @staticmethod
    def setxattr(path, name, value, *a, **k):
        return os.setxattr(path, xname(name), value, *a, **k)


def crc32c(crc, data):
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc


def to_trusted(img):
    """Rename the image's user.overlay.* xattr entries to trusted.overlay.* (as mkfs.erofs writes them as root)."""
    with open(img, "rb") as f:
        d = bytearray(f.read())
    n = 0
    for name in (b"overlay.metacopy", b"overlay.redirect"):
        i = d.find(name)
        while i >= 0:
            # struct erofs_xattr_entry: e_name_len, e_name_index (1 user, 4 trusted), le16 e_value_size, name
            if i >= 4 and d[i - 4] == len(name) and d[i - 3] == 1:
                d[i - 3] = 4
                n += 1
            i = d.find(name, i + 1)
    if n == 0:
        raise SystemExit(f"{img}: no user.overlay.* xattr entries to rename")
    if struct.unpack_from("<I", d, 1024 + 8)[0] & 1:  # EROFS_FEATURE_COMPAT_SB_CHKSUM
        d[1028:1032] = b"\0" * 4
        d[1028:1032] = struct.pack("<I", crc32c(0xFFFFFFFF, d[1024:4096]))
    with open(img, "wb") as f:
        f.write(d)


def mkfs(img, tree):
    subprocess.run(["mkfs.erofs", "--quiet", "-T0", f"-U{UUID}", "--chunksize=4096", img, tree], check=True,
                   stderr=subprocess.DEVNULL)
    if XATTR_NS[0] != "trusted.":
        to_trusted(img)


def make_repo(tmp, n_files=12):
    tree, repo = os.path.join(tmp, "tree"), os.path.join(tmp, "repo")
    os.makedirs(os.path.join(tree, "usr/lib"))
    os.makedirs(os.path.join(tree, "etc"))
    rng = random.Random(SEED)
    for i in range(n_files):
        with open(os.path.join(tree, "usr/lib", f"f{i:03}"), "wb") as f:
            f.write(rng.randbytes(3000 + 997 * i))
    with open(os.path.join(tree, "etc/tiny"), "w") as f:
        f.write("inline\n")
    os.symlink("f000", os.path.join(tree, "usr/lib/link"))
    builder.os = _StagingOs()
    try:
        backing = builder.composefs(tree, repo, "sha512")
    finally:
        builder.os = os
    dirs = [v.split("/")[0] for v in backing.values()]
    if len(set(dirs)) != len(dirs):
        raise SystemExit(f"fixture seed {SEED}: two objects share an objects/XX/ directory ({sorted(dirs)})")
    return tree, repo, backing


def obj(repo, backing, path="/usr/lib/f003"):
    return os.path.join(repo, "objects", backing[path])


def c_intact(t, tree, repo, b):
    pass


def c_missing(t, tree, repo, b):
    os.unlink(obj(repo, b))


def c_no_verity(t, tree, repo, b):
    os.setxattr(obj(repo, b), "user.fake_fsverity", b"none")


def c_mismatch(t, tree, repo, b):
    with open(obj(repo, b), "r+b") as f:
        f.write(b"tampered")


def c_symlink_object(t, tree, repo, b):
    os.unlink(obj(repo, b))
    os.symlink("/etc/passwd", obj(repo, b))


def c_fifo_object(t, tree, repo, b):
    os.unlink(obj(repo, b))
    os.mkfifo(obj(repo, b))


def c_dir_in_path(t, tree, repo, b):
    # The object's directory replaced by a symlink leading out of the store. No other object lives
    # in that directory (make_repo checks the seed), so exactly one object is cut off.
    d = os.path.dirname(obj(repo, b))
    shutil.rmtree(d)
    os.symlink("/etc", d)


def c_device_object(t, tree, repo, b):
    # A character device where the object should be: a copy of /dev/null (1:3), made with mknod.
    os.unlink(obj(repo, b))
    os.mknod(obj(repo, b), 0o600 | 0o020000, os.makedev(1, 3))


def c_empty_metacopy(t, tree, repo, b):
    os.setxattr(os.path.join(tree, "usr/lib/f003"), xname("trusted.overlay.metacopy"), b"")


def c_bad_metacopy(t, tree, repo, b):
    v = bytearray(os.getxattr(os.path.join(tree, "usr/lib/f003"), xname("trusted.overlay.metacopy")))
    v[3] = 1  # claims SHA-256 over 64 bytes
    os.setxattr(os.path.join(tree, "usr/lib/f003"), xname("trusted.overlay.metacopy"), bytes(v))


def c_escaping_redirect(t, tree, repo, b):
    os.setxattr(os.path.join(tree, "usr/lib/f003"), xname("trusted.overlay.redirect"), b"/../../etc/passwd")


def c_no_redirect(t, tree, repo, b):
    os.removexattr(os.path.join(tree, "usr/lib/f003"), xname("trusted.overlay.redirect"))


# name: (mutation, extra args, exit code, {counter: value}, text)
CASES = {
    "intact": (c_intact, [], 0, {"objects": 12, "inline": 1}, "ALL COVERED"),
    "intact-deep": (c_intact, ["--deep"], 0, {"objects": 12}, "and read"),
    "missing-object": (c_missing, [], 1, {"missing": 1}, "no such object"),
    "object-without-verity": (c_no_verity, [], 1, {"without_verity": 1}, "no fs-verity"),
    "object-mismatch": (c_mismatch, [], 1, {"mismatched": 1}, "content mismatch"),
    "object-is-symlink": (c_symlink_object, [], 1, {"vanished": 1}, "not a regular file"),
    "object-is-fifo": (c_fifo_object, ["--deep"], 1, {"vanished": 1}, "not a regular file"),
    "object-is-device": (c_device_object, ["--deep"], 1, {"vanished": 1}, "not a regular file"),
    "object-dir-is-symlink": (c_dir_in_path, [], 1, {"vanished": 1, "missing": 0}, "not a regular file"),
    "empty-metacopy": (c_empty_metacopy, [], 1, {"bad_xattr": 1}, "empty metacopy"),
    "malformed-metacopy": (c_bad_metacopy, [], 1, {"bad_xattr": 1}, "malformed metacopy"),
    "escaping-redirect": (c_escaping_redirect, [], 1, {"bad_xattr": 1}, "malformed redirect"),
    "metacopy-without-redirect": (c_no_redirect, [], 1, {"bad_xattr": 1}, "without a redirect"),
    # Stopped early is never pass: an error that says the walk is incomplete.
    "max-files": (c_intact, ["--max-files", "5"], 2, {"files": 5, "status": "error", "stopped_early": True},
                  "incomplete"),
    "max-files-deep": (c_intact, ["--deep", "--max-files", "1"], 2,
                       {"files": 1, "status": "error", "stopped_early": True}, "incomplete"),
}
NEEDS = {"object-is-device": "mknod of a device node needs root (CAP_MKNOD)"}
STATUS_CASES = ["status-objects-intact", "status-objects-missing", "verify-running-intact",
                "verify-running-image-swapped", "verify-running-image-without-verity"]

IN_OPEN = 0x20
_libc = ctypes.CDLL(None, use_errno=True)


class OpenWatch:
    """Counts real opens of a file (inotify IN_OPEN; an O_PATH descriptor is not an open of the file)."""

    def __init__(self, path):
        self.fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or _libc.inotify_add_watch(self.fd, path.encode(), IN_OPEN) < 0:
            raise OSError(ctypes.get_errno(), f"inotify on {path}")

    def opens(self):
        n = 0
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return n
            off = 0
            while off + 16 <= len(buf):
                _, mask, _, ln = struct.unpack_from("iIII", buf, off)
                n += bool(mask & IN_OPEN)
                off += 16 + ln


def status_case(a, name):
    """sealcheck status --verify-objects on a sealed fixture tree whose repository is a real one."""
    sys.path.insert(0, HERE)
    import status_cases
    with tempfile.TemporaryDirectory(prefix="sealcheck-verify-") as tmp:
        tree, repo, backing = make_repo(tmp)
        img = os.path.join(tmp, "image.erofs")
        mkfs(img, tree)
        t = status_cases.Tree(a.fixtures, "snakeoil-user", os.path.join(tmp, "t"))
        digest = t.add_image(content=open(img, "rb").read())
        shutil.rmtree(t.path("sysroot/composefs/objects/" + digest[:2]))
        shutil.copytree(os.path.join(repo, "objects"), t.path("sysroot/composefs/objects"), dirs_exist_ok=True)
        os.makedirs(t.path(f"sysroot/composefs/objects/{digest[:2]}"), exist_ok=True)
        shutil.copy(img, t.path(f"sysroot/composefs/objects/{digest[:2]}/{digest[2:]}"))
        if name == "status-objects-missing":
            os.unlink(t.path("sysroot/composefs/objects/" + backing["/usr/lib/f005"]))
        if name == "verify-running-image-swapped":
            # The file the cmdline's digest names now holds another (valid) image: a different tree.
            os.unlink(os.path.join(tree, "etc/tiny"))
            other = os.path.join(tmp, "other.erofs")
            mkfs(other, tree)
            shutil.copy(other, t.path(f"sysroot/composefs/objects/{digest[:2]}/{digest[2:]}"))
        if name == "verify-running-image-without-verity":
            os.setxattr(t.path(f"sysroot/composefs/objects/{digest[:2]}/{digest[2:]}"), "user.fake_fsverity", b"none")
        env = dict(os.environ, LD_PRELOAD=os.path.abspath(a.preload))
        if name.startswith("verify-"):
            # sealcheck verify without --image: the running system's image and store, from the cmdline.
            js = subprocess.run([a.sealcheck, "--root", t.root, "verify", "--json"],
                                env=env, capture_output=True, text=True, timeout=60)
        else:
            js = subprocess.run([a.sealcheck, "status", "--verify-objects", "--deep", "--json", "--root", t.root],
                                env=env, capture_output=True, text=True, timeout=60)
    want = {"status-objects-intact": ("sealed", "pass", 0), "status-objects-missing": ("unsealed", "fail", 1),
            "verify-running-intact": (digest, "pass", 0),
            "verify-running-image-swapped": (None, "fail", 1),
            "verify-running-image-without-verity": (None, "fail", 1)}[name]
    try:
        doc = json.loads(js.stdout)
        if name.startswith("verify-"):
            got = (doc["image_digest"] and doc["image_digest"].split(":")[1] if name.endswith("intact") else None,
                   doc["status"], js.returncode)
            if name.endswith("swapped") and "not the digest the cmdline names" not in doc["reason"] or \
                    name.endswith("without-verity") and "no fs-verity on this file" not in doc["reason"]:
                got = (doc["reason"], doc["status"], js.returncode)
        else:
            got = (doc["verdict"], doc["checks"]["objects"]["status"], js.returncode)
    except (json.JSONDecodeError, KeyError) as e:
        got = (f"bad JSON: {e}", js.stderr, js.returncode)
    ok = got == want
    print(f"{'ok' if ok else 'not ok'} - {name}: {got}{'' if ok else f', want {want}'}")
    return 0 if ok else 1


def rename_case():
    """The user.* -> trusted.* rename gives the bytes mkfs.erofs writes from real trusted.* xattrs."""
    images = []
    with tempfile.TemporaryDirectory(prefix="sealcheck-verify-") as tmp:
        for ns in ("trusted.", "user."):
            XATTR_NS[0] = ns
            d = os.path.join(tmp, ns.rstrip("."))
            os.makedirs(d)
            tree, _, _ = make_repo(d)
            mkfs(os.path.join(d, "image.erofs"), tree)
            with open(os.path.join(d, "image.erofs"), "rb") as f:
                images.append(f.read())
    ok = images[0] == images[1]
    print(f"{'ok' if ok else 'not ok'} - image-rename-matches-root")
    return 0 if ok else 1


def verify_case(a, name, walkers):
    mutate, extra, want_rc, want_counts, want_text = CASES[name]
    fails = []
    with tempfile.TemporaryDirectory(prefix="sealcheck-verify-") as tmp:
        tree, repo, backing = make_repo(tmp)
        mutate(tmp, tree, repo, backing)
        img = os.path.join(tmp, "image.erofs")
        mkfs(img, tree)
        st = os.lstat(obj(repo, backing)) if os.path.lexists(obj(repo, backing)) else None
        # A FIFO or device node in the store must be judged by its type, never opened.
        watch = OpenWatch(obj(repo, backing)) if st and not (os.path.stat.S_ISREG(st.st_mode) or
                                                             os.path.stat.S_ISLNK(st.st_mode)) else None
        env = dict(os.environ, LD_PRELOAD=os.path.abspath(a.preload))
        cmd = [a.sealcheck, "verify", "--image", img, "--objects", os.path.join(repo, "objects")] + extra
        docs = {}
        for walk in walkers:
            human = subprocess.run(cmd + ["--walk", walk], env=env, capture_output=True, text=True, timeout=60)
            js = subprocess.run(cmd + ["--walk", walk, "--json"], env=env, capture_output=True, text=True, timeout=60)
            if human.returncode != want_rc or js.returncode != want_rc:
                fails.append(f"{walk}: exit {human.returncode}/{js.returncode}, want {want_rc}")
            if want_text not in human.stdout + js.stdout:
                fails.append(f"{walk}: output lacks {want_text!r}")
            try:
                doc = json.loads(js.stdout)
                for k, v in want_counts.items():
                    got = doc["problems"].get(k, doc.get(k))
                    if got != v:
                        fails.append(f"{walk}: {k} = {got}, want {v}")
                if doc["walker"] != {"parse": "parsed", "mount": "mounted"}[walk]:
                    fails.append(f"{walk}: walker {doc['walker']}")
                docs[walk] = {k: v for k, v in doc.items() if k not in ("seconds", "walker")}
            except (json.JSONDecodeError, KeyError) as e:
                fails.append(f"{walk}: bad JSON: {e}")
            if watch and watch.opens():
                fails.append(f"{walk}: the object that is not a regular file was opened")
        if len(docs) == 2 and docs["parse"] != docs["mount"]:
            fails.append(f"the walkers differ: parsed {json.dumps(docs['parse'])} mounted {json.dumps(docs['mount'])}")
    label = name + ("-mounted" if "mount" in walkers else "")
    print(f"{'not ok' if fails else 'ok'} - {label}{': ' + '; '.join(fails) if fails else ''}")
    if fails:
        print(f"# stdout:\n{human.stdout}\n# stderr:\n{human.stderr}")
    return 1 if fails else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--list", action="store_true")
    p.add_argument("--sealcheck")
    p.add_argument("--preload")
    p.add_argument("--fixtures")
    p.add_argument("case", nargs="?")
    a = p.parse_args()
    if a.list:
        print("\n".join(list(CASES) + [c + "-mounted" for c in CASES] + STATUS_CASES + ["image-rename-matches-root"]))
        return 0
    # Only the kernel's mount (and mknod, and setting trusted.* xattrs for real) needs root.
    if a.case in STATUS_CASES:
        return status_case(a, a.case)  # the parsed walker (auto): no privilege
    if a.case == "image-rename-matches-root":
        if not ROOT:
            print(f"# {a.case}: skipped: setting trusted.* xattrs needs root (CAP_SYS_ADMIN)")
            return 77
        return rename_case()
    name, walkers = a.case, ["parse"]
    if name.endswith("-mounted"):
        name, walkers = name[:-len("-mounted")], ["parse", "mount"]
        if not ROOT:
            print(f"# {a.case}: skipped: the kernel-mount walker mounts the EROFS image, which needs root "
                  f"(CAP_SYS_ADMIN); the parsed walker's case {name} runs without it")
            return 77
    if name in NEEDS and not ROOT:
        print(f"# {a.case}: skipped: {NEEDS[name]}")
        return 77
    return verify_case(a, name, walkers)


if __name__ == "__main__":
    sys.exit(main())
