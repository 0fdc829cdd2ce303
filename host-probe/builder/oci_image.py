"""A container image as an OCI image layout (OCI image-spec v1.1: image-layout.md,
manifest.md, config.md), written from a root filesystem tree and read back by
reference, for the bootc-shaped disk builder (build-bootc-disk.py).

    oci_image.py build TREE LAYOUT NAME     -> prints the manifest digest (sha256:...)
    oci_image.py inspect oci:LAYOUT:NAME    -> prints the manifest digest

A reference is containers-transports(5)'s "oci:PATH:REFERENCE"; REFERENCE is the
index's org.opencontainers.image.ref.name annotation, matched exactly (a name
given twice in the index is refused). Reading checks every blob against its
descriptor (sha256 and size), as skopeo does, before any byte of it is used.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"
BLOB_MAX = 4 << 30
JSON_MAX = 4 << 20


class OciError(Exception):
    pass


def _put_blob(layout, data=None, path=None):
    h = hashlib.sha256()
    if path is None:
        h.update(data)
        size = len(data)
    else:
        size = 0
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
                size += len(chunk)
    digest = h.hexdigest()
    dest = os.path.join(layout, "blobs", "sha256", digest)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if path is None:
        with open(dest, "wb") as f:
            f.write(data)
    else:
        os.replace(path, dest)
    return {"digest": "sha256:" + digest, "size": size}


def build(tree, layout, name, created="2026-01-01T00:00:00Z", labels=None):
    """One uncompressed layer holding TREE (numeric owners, xattrs but trusted.*), a config, a manifest,
    and an index naming it NAME. Returns the manifest digest."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    fd, tmp = tempfile.mkstemp(dir=layout, prefix=".layer-")
    os.close(fd)
    # Sorted names and a fixed mtime: the same tree gives the same layer, hence the same digest.
    subprocess.run(["tar", "--numeric-owner", "--xattrs", "--xattrs-exclude=trusted.*", "--sort=name",
                    f"--mtime={created}", "-C", tree, "-cf", tmp, "."], check=True)
    layer = _put_blob(layout, path=tmp)
    config = {"created": created, "architecture": "amd64", "os": "linux",
              "config": {"Labels": dict(labels or {}, **{"containers.bootc": "1"})},
              "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
              "history": [{"created": created, "created_by": "sealcheck host-probe/builder/oci_image.py"}]}
    cfg = _put_blob(layout, json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
    manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST,
                "config": dict(cfg, mediaType=MT_CONFIG), "layers": [dict(layer, mediaType=MT_LAYER)]}
    man = _put_blob(layout, json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())
    index_path = os.path.join(layout, "index.json")
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": []}
    if os.path.exists(index_path):
        index = json.load(open(index_path))
        index["manifests"] = [m for m in index.get("manifests", [])
                              if m.get("annotations", {}).get(REF_NAME) != name]
    index["manifests"].append(dict(man, mediaType=MT_MANIFEST, annotations={REF_NAME: name}))
    with open(index_path + ".tmp", "w") as f:
        json.dump(index, f, indent=1)
    os.replace(index_path + ".tmp", index_path)
    return man["digest"]


def parse_ref(ref):
    if not ref.startswith("oci:"):
        raise OciError(f"{ref!r}: not an oci:PATH:NAME reference (containers-transports(5))")
    # containers/image oci/layout: the path ends at the first ':' (a path with one cannot be named).
    path, sep, name = ref[4:].partition(":")
    if not sep or not path or not name:
        raise OciError(f"{ref!r}: an oci: reference needs PATH:NAME")
    return path, name


def _blob(layout, desc, limit):
    d = desc.get("digest", "")
    size = desc.get("size")
    if not d.startswith("sha256:") or len(d) != 71 or any(c not in "0123456789abcdef" for c in d[7:]):
        raise OciError(f"descriptor digest {d!r} is not sha256:<64 lowercase hex>")
    if not isinstance(size, int) or size < 0 or size > limit:
        raise OciError(f"blob {d}: size {size!r} not an integer within {limit} bytes")
    path = os.path.join(layout, "blobs", "sha256", d[7:])
    st = os.lstat(path)
    if not os.path.isfile(path) or os.path.islink(path) or st.st_size != size:
        raise OciError(f"blob {d}: not a regular file of {size} bytes")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if "sha256:" + h.hexdigest() != d:
        raise OciError(f"blob {d}: its content hashes to sha256:{h.hexdigest()}")
    return path


def _json_blob(layout, desc):
    with open(_blob(layout, desc, JSON_MAX), "rb") as f:
        return json.loads(f.read())


def resolve(ref):
    """(layout, manifest descriptor, manifest, config) of oci:PATH:NAME, every blob checked."""
    layout, name = parse_ref(ref)
    index_path = os.path.join(layout, "index.json")
    if os.path.getsize(index_path) > JSON_MAX:
        raise OciError(f"{index_path}: over {JSON_MAX} bytes")
    index = json.load(open(index_path))
    hits = [m for m in index.get("manifests", []) if m.get("annotations", {}).get(REF_NAME) == name]
    if len(hits) != 1:
        raise OciError(f"{ref}: {len(hits)} manifests named {name!r} in {index_path} (exactly one needed)")
    desc = hits[0]
    if desc.get("mediaType") != MT_MANIFEST:
        raise OciError(f"{ref}: media type {desc.get('mediaType')!r}, an image manifest is needed")
    manifest = _json_blob(layout, desc)
    if manifest.get("schemaVersion") != 2 or manifest.get("config", {}).get("mediaType") != MT_CONFIG:
        raise OciError(f"{ref}: not an OCI image manifest (schemaVersion 2, config {MT_CONFIG})")
    config = _json_blob(layout, manifest["config"])
    return layout, desc, manifest, config


def unpack(ref, dest):
    """Extract the image's layers in order into DEST (empty). Returns its manifest digest."""
    layout, desc, manifest, config = resolve(ref)
    layers = manifest.get("layers", [])
    if [l.get("digest") for l in layers] != config.get("rootfs", {}).get("diff_ids"):
        raise OciError(f"{ref}: the layers are not the config's diff_ids (only uncompressed layers are read)")
    # One layer, as build-bootc-image.py writes: with more, a symbolic link of one layer could carry a later
    # layer's files outside DEST (GNU tar follows it), and whiteouts would need their own reading.
    if len(layers) != 1:
        raise OciError(f"{ref}: {len(layers)} layers (one is read here)")
    for l in layers:
        if l.get("mediaType") != MT_LAYER:
            raise OciError(f"{ref}: layer media type {l.get('mediaType')!r} (only {MT_LAYER} is read)")
        path = _blob(layout, l, BLOB_MAX)
        names = subprocess.run(["tar", "-tf", path], check=True, capture_output=True, text=True).stdout.split("\n")
        if any(os.path.basename(n.rstrip("/")).startswith(".wh.") for n in names):
            raise OciError(f"{ref}: layer {l['digest']} has whiteouts (not read here)")
        if any(n.startswith("/") or ".." in n.split("/") for n in names):
            raise OciError(f"{ref}: layer {l['digest']} names a path outside the tree")
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", path, "-C", dest],
                       check=True)
    return desc["digest"]


def main():
    try:
        if len(sys.argv) == 5 and sys.argv[1] == "build":
            print(build(sys.argv[2], sys.argv[3], sys.argv[4]))
        elif len(sys.argv) == 3 and sys.argv[1] == "inspect":
            print(resolve(sys.argv[2])[1]["digest"])
        else:
            sys.exit(__doc__)
    except (OciError, OSError, ValueError) as e:
        sys.exit(f"oci_image: {e}")


if __name__ == "__main__":
    main()
