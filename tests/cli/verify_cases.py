#!/usr/bin/env python3
"""sealcheck verify on real EROFS images (loop-mounted read-only by sealcheck
itself, as root) over object stores with one thing wrong each.

The repository is made by the image builder's own composefs() function; the
fake fs-verity preload answers FS_IOC_MEASURE_VERITY from the objects' bytes
(this host's kernel has no fs-verity), or ENODATA for a file marked
user.fake_fsverity=none. Reading corrupted verity data (EIO) needs a real
kernel: tests/vm covers it.

    verify_cases.py --list
    verify_cases.py --sealcheck BIN --preload SO CASE
"""
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "builder", os.path.join(HERE, "..", "..", "host-probe", "builder", "build-sealed-image.py"))
builder = importlib.util.module_from_spec(spec)
spec.loader.exec_module(builder)


def make_repo(tmp, n_files=12):
    tree, repo = os.path.join(tmp, "tree"), os.path.join(tmp, "repo")
    os.makedirs(os.path.join(tree, "usr/lib"))
    os.makedirs(os.path.join(tree, "etc"))
    for i in range(n_files):
        with open(os.path.join(tree, "usr/lib", f"f{i:03}"), "wb") as f:
            f.write(os.urandom(3000 + 997 * i))
    with open(os.path.join(tree, "etc/tiny"), "w") as f:
        f.write("inline\n")
    os.symlink("f000", os.path.join(tree, "usr/lib/link"))
    backing = builder.composefs(tree, repo, "sha512")
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
    # The object's directory replaced by a symlink leading out of the store.
    d = os.path.dirname(obj(repo, b))
    shutil.rmtree(d)
    os.symlink("/etc", d)


def c_empty_metacopy(t, tree, repo, b):
    os.setxattr(os.path.join(tree, "usr/lib/f003"), "trusted.overlay.metacopy", b"")


def c_bad_metacopy(t, tree, repo, b):
    v = bytearray(os.getxattr(os.path.join(tree, "usr/lib/f003"), "trusted.overlay.metacopy"))
    v[3] = 1  # claims SHA-256 over 64 bytes
    os.setxattr(os.path.join(tree, "usr/lib/f003"), "trusted.overlay.metacopy", bytes(v))


def c_escaping_redirect(t, tree, repo, b):
    os.setxattr(os.path.join(tree, "usr/lib/f003"), "trusted.overlay.redirect", b"/../../etc/passwd")


def c_no_redirect(t, tree, repo, b):
    os.removexattr(os.path.join(tree, "usr/lib/f003"), "trusted.overlay.redirect")


# name: (mutation, extra args, exit code, {counter: value}, text)
CASES = {
    "intact": (c_intact, [], 0, {"objects": 12, "inline": 1}, "ALL COVERED"),
    "intact-deep": (c_intact, ["--deep"], 0, {"objects": 12}, "and read"),
    "missing-object": (c_missing, [], 1, {"missing": 1}, "no such object"),
    "object-without-verity": (c_no_verity, [], 1, {"without_verity": 1}, "no fs-verity"),
    "object-mismatch": (c_mismatch, [], 1, {"mismatched": 1}, "content mismatch"),
    "object-is-symlink": (c_symlink_object, [], 1, {"vanished": 1}, "not a regular file"),
    "object-is-fifo": (c_fifo_object, [], 1, {"vanished": 1}, "not a regular file"),
    "object-dir-is-symlink": (c_dir_in_path, [], 1, {"vanished": 1}, "not a regular file"),
    "empty-metacopy": (c_empty_metacopy, [], 1, {"bad_xattr": 1}, "empty metacopy"),
    "malformed-metacopy": (c_bad_metacopy, [], 1, {"bad_xattr": 1}, "malformed metacopy"),
    "escaping-redirect": (c_escaping_redirect, [], 1, {"bad_xattr": 1}, "malformed redirect"),
    "metacopy-without-redirect": (c_no_redirect, [], 1, {"bad_xattr": 1}, "without a redirect"),
    "max-files": (c_intact, ["--max-files", "5"], 2, {"files": 5}, "--max-files reached"),
}


def status_case(a, name):
    """sealcheck status --verify-objects on a sealed fixture tree whose repository is a real one."""
    sys.path.insert(0, HERE)
    import status_cases
    with tempfile.TemporaryDirectory(prefix="sealcheck-verify-") as tmp:
        tree, repo, backing = make_repo(tmp)
        img = os.path.join(tmp, "image.erofs")
        subprocess.run(["mkfs.erofs", "--quiet", "-T0", "--chunksize=4096", img, tree], check=True,
                       stderr=subprocess.DEVNULL)
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
            subprocess.run(["mkfs.erofs", "--quiet", "-T0", "--chunksize=4096", other, tree], check=True,
                           stderr=subprocess.DEVNULL)
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--list", action="store_true")
    p.add_argument("--sealcheck")
    p.add_argument("--preload")
    p.add_argument("--fixtures")
    p.add_argument("case", nargs="?")
    a = p.parse_args()
    if a.list:
        print("\n".join(list(CASES) + ["status-objects-intact", "status-objects-missing", "verify-running-intact",
                                       "verify-running-image-swapped", "verify-running-image-without-verity"]))
        return 0
    if a.case.startswith("status-") or a.case.startswith("verify-running"):
        if os.geteuid() != 0:
            print(f"# {a.case}: needs root (a loop mount of the EROFS image): skipped")
            return 77
        return status_case(a, a.case)
    mutate, extra, want_rc, want_counts, want_text = CASES[a.case]
    if os.geteuid() != 0:
        print(f"# {a.case}: needs root (a loop mount of the EROFS image, trusted.* xattrs): skipped")
        return 77
    with tempfile.TemporaryDirectory(prefix="sealcheck-verify-") as tmp:
        tree, repo, backing = make_repo(tmp)
        mutate(tmp, tree, repo, backing)
        img = os.path.join(tmp, "image.erofs")
        subprocess.run(["mkfs.erofs", "--quiet", "-T0", "--chunksize=4096", img, tree], check=True,
                       stderr=subprocess.DEVNULL)
        env = dict(os.environ, LD_PRELOAD=os.path.abspath(a.preload))
        cmd = [a.sealcheck, "verify", "--image", img, "--objects", os.path.join(repo, "objects")] + extra
        # Both walkers: the image parsed from its bytes, and mounted by the kernel. Same answer.
        docs = {}
        fails = []
        for walk in ("parse", "mount"):
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
        if len(docs) == 2 and docs["parse"] != docs["mount"]:
            fails.append(f"the walkers differ: parsed {json.dumps(docs['parse'])} mounted {json.dumps(docs['mount'])}")
    print(f"{'not ok' if fails else 'ok'} - {a.case}{': ' + '; '.join(fails) if fails else ''}")
    if fails:
        print(f"# stdout:\n{human.stdout}\n# stderr:\n{human.stderr}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
