#!/usr/bin/env bash
# Fetch from bookworm-backports into a cache folder, without touching the
# host's apt sources:
#   scripts/fetch-guest-kernel.sh [CACHE_DIR]
#       the cloud kernel (fs-verity, overlayfs verity=, virtio); prints its
#       tree (vmlinuz under boot/, modules under lib/modules/<version>/)
#   scripts/fetch-guest-kernel.sh --virt-firmware [CACHE_DIR]
#       python3-virt-firmware (virt-fw-vars, as bcvk uses to enroll Secure
#       Boot keys); prints the folder to put on PYTHONPATH
# CACHE_DIR defaults to $SEALCHECK_CACHE/kernel (~/.cache/sealcheck/kernel).
set -euo pipefail

want=kernel
if [ "${1:-}" = --virt-firmware ]; then
	want=virt-firmware
	shift
fi
cache=${1:-${SEALCHECK_CACHE:-$HOME/.cache/sealcheck}/kernel}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

say() { if [ -t 2 ]; then printf 'fetch-guest-kernel: %s\n' "$*" >&2; fi; }

if [ "$want" = kernel ] && [ -e "$cache/kernel/.complete" ]; then
	echo "$cache/kernel"
	exit 0
fi
if [ "$want" = virt-firmware ] && [ -e "$cache/virt-firmware/.complete" ]; then
	echo "$cache/virt-firmware/usr/lib/python3/dist-packages"
	exit 0
fi

# The Debian mirror already configured on this host (deb822 or one-line format).
mirror=$(
	{ cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" {print $2}';
	  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		sed -nE 's/^deb (\[[^]]*\] )?([^ ]+).*/\2/p'; } |
	grep -E '/debian/?$' | head -n 1
) || true
if [ -z "$mirror" ]; then
	echo "fetch-guest-kernel: no Debian mirror found in /etc/apt/sources.list{,.d}" >&2
	exit 1
fi

mkdir -p "$cache/lists/partial" "$cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm-backports main" >"$cache/sources.list"
O=(-o "Dir::Etc::SourceList=$cache/sources.list" -o Dir::Etc::SourceParts=/dev/null
   -o "Dir::State::Lists=$cache/lists" -o "Dir::Cache::Archives=$cache/archives"
   -o Debug::NoLocking=1 -o APT::Sandbox::User=root)

if [ ! -e "$cache/lists/.updated" ] || [ -n "$(find "$cache/lists/.updated" -mmin +1440)" ]; then
	say "updating the bookworm-backports package list from $mirror"
	apt-get "${O[@]}" -q update >&2
	touch "$cache/lists/.updated"
fi
if [ "$want" = virt-firmware ]; then
	say "downloading python3-virt-firmware"
	rm -f "$cache"/python3-virt-firmware_*.deb
	(cd "$cache" && apt-get "${O[@]}" -q download python3-virt-firmware >&2)
	rm -rf "$cache/virt-firmware"
	dpkg -x "$cache"/python3-virt-firmware_*.deb "$cache/virt-firmware"
	touch "$cache/virt-firmware/.complete"
	echo "$cache/virt-firmware/usr/lib/python3/dist-packages"
	exit 0
fi
# linux-image-cloud-amd64 is a metapackage: its Depends names the current kernel.
pkg=$(apt-cache "${O[@]}" depends linux-image-cloud-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$pkg" ]; then
	echo "fetch-guest-kernel: cannot resolve linux-image-cloud-amd64 in bookworm-backports" >&2
	exit 1
fi
say "downloading $pkg"
rm -f "$cache"/linux-image-*.deb
(cd "$cache" && apt-get "${O[@]}" -q download "$pkg" >&2)
rm -rf "$cache/kernel"
dpkg -x "$cache"/linux-image-*.deb "$cache/kernel"
ln -sf "$(cd "$cache/kernel/boot" && ls vmlinuz-* | head -n 1)" "$cache/kernel/boot/vmlinuz"
touch "$cache/kernel/.complete"
echo "$cache/kernel"
