#!/usr/bin/env bash
# The deep-verification benchmark, inside a 6.12 guest under QEMU
# (fs-verity needs the guest kernel). For each object count N: a generated
# store (most objects under 16 KiB, about 1 % up to 1 MiB, random bytes), its
# EROFS image, fs-verity enabled in the guest; then, warm (median of 3) and
# after `echo 3 > /proc/sys/vm/drop_caches` (once each):
# (warm: the median of BENCH_REPS runs, default 3, 1 from 50,000 objects)
#   floor   tests/bench/floor.c: walk + xattrs + open/FS_IOC_MEASURE_VERITY/close, one thread
#   peer    getfattr -R -d -m trusted.overlay -e hex + find|xargs fsverity measure + an awk join
#   ours    sealcheck verify          deep  sealcheck verify --deep
#   cat     find|xargs cat >/dev/null (the same objects)
# Prints a Markdown table with ratios and peak RSS.
#   tests/bench/run-benchmark.sh BUILD_DIR [N...]     (default N: 10000 100000)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
. "$src/tests/vm/lib.sh"
VM_TEST_NAME=benchmark
build=$(cd "$1" && pwd)
shift
counts=("${@:-10000 100000}")
[ $# -gt 0 ] || counts=(10000 100000)
kdir=$(vm_kernel_dir)
bench_timeout=${BENCH_TIMEOUT:-7200}   # lib.sh's VM_TIMEOUT is for test boots

for n in "${counts[@]}"; do
	work=$(mktemp -d "${TMPDIR:-/var/tmp}/sealcheck-bench.XXXXXX")
	vm_say "N=$n: generating the store"
	/usr/bin/python3 - "$work" "$n" <<'PY'
import importlib.util, os, random, subprocess, sys
work, n = sys.argv[1], int(sys.argv[2])
spec = importlib.util.spec_from_file_location("b", os.path.join(os.environ.get("SRC", "."), "host-probe/builder/build-sealed-image.py"))
PY
	SRC=$src /usr/bin/python3 - "$work" "$n" <<'PY'
import importlib.util, os, random, shutil, subprocess, sys
work, n = sys.argv[1], int(sys.argv[2])
spec = importlib.util.spec_from_file_location("b", os.path.join(os.environ["SRC"], "host-probe/builder/build-sealed-image.py"))
b = importlib.util.module_from_spec(spec); spec.loader.exec_module(b)
rng = random.Random(n)
tree, repo = os.path.join(work, "tree"), os.path.join(work, "phys/composefs")
total = 0
for i in range(n):
    d = os.path.join(tree, f"d{i // 100:04}")
    if i % 100 == 0:
        os.makedirs(d)
    size = rng.randint(16 << 10, 1 << 20) if rng.random() < 0.01 else rng.randint(512, 16 << 10)
    total += size
    with open(os.path.join(d, f"f{i:06}"), "wb") as f:
        f.write(rng.randbytes(size))
b.composefs(tree, repo, "sha512")
img = os.path.join(work, "image.erofs")
subprocess.run(["mkfs.erofs", "--quiet", "-T0", "--chunksize=4096", img, tree], check=True, stderr=subprocess.DEVNULL)
digest = b.verity_digest(img, "sha512")
os.makedirs(os.path.join(repo, "images"))
os.makedirs(os.path.join(repo, "objects", digest[:2]), exist_ok=True)
shutil.copy(img, os.path.join(repo, "objects", digest[:2], digest[2:]))
os.symlink(f"../objects/{digest[:2]}/{digest[2:]}", os.path.join(repo, "images", digest))
shutil.rmtree(tree)
# Room for data, per-file verity metadata and ext4 overhead.
size_mb = (total + n * 16384) * 13 // 10 // (1 << 20) + 256
subprocess.run(["mkfs.ext4", "-q", "-b", "4096", "-O", "verity", "-N", str(n * 2 + 1000), "-L", "sealroot",
                "-d", os.path.join(work, "phys"), os.path.join(work, "store.img"), f"{size_mb}M"], check=True)
print(f"{total} bytes in {n} objects", file=sys.stderr)
PY
	root="$work/initramfs"
	vm_initramfs_base "$root"
	vm_initramfs_add_binary "$root" "$build/agent/sealcheck" "$build/tests/bench/bench-floor" \
		"$build/tests/bench/benchrun" "$build/host-probe/enable-verity" "$(command -v getfattr)" "$(command -v fsverity)"
	install -m 0755 "$src/tests/bench/peer.sh" "$root/bin/peer.sh"
	[ -z "${BENCH_DIAGNOSE:-}" ] || touch "$root/bin/bench-diagnose"
	# Warm runs: the median of 3, or of 1 from 50,000 objects (the peer alone takes minutes there).
	reps=${BENCH_REPS:-$([ "$n" -ge 50000 ] && echo 1 || echo 3)}
	echo "$reps" >"$root/bin/bench-reps"
	install -m 0644 "$src/tests/bench/peer-join.awk" "$root/bin/peer-join.awk"
	vm_initramfs_add_module "$root" "$kdir" virtio_blk loop libcrc32c erofs
	cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
for m in virtio_blk loop libcrc32c erofs; do insmod /lib/modules/$m.ko; done
for i in $(seq 1 50); do [ -b /dev/vda ] && break; sleep 0.1; done
mkdir -p /sysroot /mnt/img
mount -t ext4 /dev/vda /sysroot
echo "@@phase enabling fs-verity"
benchrun install enable-verity sha512 /sysroot/composefs/objects
umount /sysroot; mount -t ext4 -o ro /dev/vda /sysroot
O=/sysroot/composefs/objects; I=$(ls -d /sysroot/composefs/images/*)
mount -t erofs -o ro,loop "$I" /mnt/img
cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
catall() { find "$O" -type f | xargs cat >/dev/null; }
echo "@@phase warm-up"
catall; bench-floor /mnt/img "$O" >/dev/null; peer.sh /mnt/img "$O" >/dev/null
for i in $(seq 1 $(cat /bin/bench-reps)); do
	benchrun warm-floor bench-floor /mnt/img "$O"
	benchrun warm-peer peer.sh /mnt/img "$O"
	benchrun warm-ours sealcheck verify --image "$I" --objects "$O"
	benchrun warm-deep sealcheck verify --deep --image "$I" --objects "$O"
	benchrun warm-cat sh -c "find $O -type f | xargs cat >/dev/null"
done
if [ -e /bin/bench-diagnose ]; then
	for i in 1 2 3; do
		benchrun diag-startup sealcheck --version
		benchrun diag-mounted sealcheck verify --mounted /mnt/img --image "$I" --objects "$O"
		benchrun diag-walk-mount sealcheck verify --walk mount --image "$I" --objects "$O"
	done
	cold; benchrun diag-cold-walk-mount sealcheck verify --walk mount --image "$I" --objects "$O"
	cold; benchrun diag-cold-t64 sealcheck verify --threads 64 --image "$I" --objects "$O"
fi
for t in floor peer ours deep cat; do
	cold
	case $t in
	floor) benchrun cold-floor bench-floor /mnt/img "$O" ;;
	peer) benchrun cold-peer peer.sh /mnt/img "$O" ;;
	ours) benchrun cold-ours sealcheck verify --image "$I" --objects "$O" ;;
	deep) benchrun cold-deep sealcheck verify --deep --image "$I" --objects "$O" ;;
	cat) benchrun cold-cat sh -c "find $O -type f | xargs cat >/dev/null" ;;
	esac
done
echo "@@bytes $(du -sb "$O" | cut -f1)"
echo "@@end"
poweroff -f
INIT
	chmod +x "$root/init"
	vm_initramfs_pack "$root" "$work/initrd.gz"
	vm_say "N=$n: booting the benchmark guest (TCG, 1 vCPU, 4 GiB)"
	timeout --foreground -k 5 "$bench_timeout" qemu-system-x86_64 -machine q35 -cpu qemu64,-cx16 -smp 1 -m 4096 \
		-display none -no-reboot -monitor none -serial "file:$work/console.log" \
		-kernel "$kdir/boot/vmlinuz" -initrd "$work/initrd.gz" -append "console=ttyS0 panic=-1 loglevel=4" \
		-drive "if=none,id=store,file=$work/store.img,format=raw,cache=none" -device virtio-blk-pci,drive=store || true
	tr -d '\r' <"$work/console.log" >"$work/console.txt"
	if ! grep -q '@@end' "$work/console.txt"; then
		echo "benchmark N=$n did not finish; console:" >&2
		tail -n 30 "$work/console.txt" >&2
		exit 1
	fi
	/usr/bin/python3 - "$work/console.txt" "$n" <<'PY'
import json, statistics, sys
lines = open(sys.argv[1]).read().splitlines()
n = int(sys.argv[2])
runs = {}
for l in lines:
    if l.startswith("@@bench "):
        r = json.loads(l[8:])
        runs.setdefault(r["name"], []).append(r)
nbytes = int(next(l.split()[1] for l in lines if l.startswith("@@bytes ")))
def t(name):
    return statistics.median(r["seconds"] for r in runs[name])
def rss(name):
    return max(r["maxrss_kib"] for r in runs[name])
bad = [r for v in runs.values() for r in v if r["exit"] != 0 and r["name"] != "install"]
print(f"\n### {n} objects, {nbytes / 1e6:.0f} MB (enabling fs-verity took {t('install'):.1f} s)\n")
reps = len(runs["warm-floor"])
print(f"| run | warm (s, median of {reps}) | cold (s) | peak RSS (KiB) |")
print("|---|---|---|---|")
for k, label in (("floor", "floor (1 thread, syscalls only)"), ("peer", "peer: getfattr + fsverity measure + join"),
                 ("ours", "sealcheck verify"), ("deep", "sealcheck verify --deep"), ("cat", "cat of all objects")):
    print(f"| {label} | {t('warm-' + k):.3f} | {t('cold-' + k):.3f} | {max(rss('warm-' + k), rss('cold-' + k))} |")
print()
print(f"- ours / floor, warm: **{t('warm-ours') / t('warm-floor'):.2f}x** (target <= 1.3x)")
print(f"- peer / ours, warm: **{t('warm-peer') / t('warm-ours'):.1f}x faster** (target >= 4x)")
print(f"- floor / ours, cold: **{t('cold-floor') / t('cold-ours'):.2f}x** (target > 1: faster than the single-threaded floor)")
print(f"- deep throughput / cat throughput, cold: **{t('cold-cat') / t('cold-deep'):.2f}x** (target >= 0.8x); "
      f"deep {nbytes / t('cold-deep') / 1e6:.0f} MB/s, cat {nbytes / t('cold-cat') / 1e6:.0f} MB/s")
print(f"- peak RSS of sealcheck verify --deep: **{max(rss('warm-deep'), rss('cold-deep')) / 1024:.1f} MiB** (target < 32 MiB)")
for k in sorted(x for x in runs if x.startswith("diag-")):
    print(f"- {k}: {t(k):.3f} s")
if bad:
    print(f"- runs that did not exit 0: {[(r['name'], r['exit']) for r in bad]}")
PY
	rm -rf "$work"
done
