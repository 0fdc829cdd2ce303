#!/usr/bin/env bash
# Install what sealcheck needs to build and test, only what is missing.
# Debian/Ubuntu (apt) and Fedora/RHEL (dnf). Run as root.
#   scripts/install-deps.sh
set -euo pipefail

deb_pkgs=(
	meson ninja-build pkg-config gcc clang libclang-rt-14-dev
	libmount-dev libefivar-dev libsystemd-dev libssl-dev libcryptsetup-dev libjansson-dev
	libfsverity-dev fsverity libcmocka-dev
	python3 python3-jsonschema python3-cryptography python3-pefile python3-pkg-resources
	qemu-system-x86 qemu-utils ovmf e2fsprogs erofs-utils dosfstools mtools fdisk sbsigntool systemd-boot-efi binutils openssl
	busybox-static cpio xz-utils gzip jq debian-archive-keyring systemd debootstrap kmod attr
	swtpm swtpm-tools tpm2-tools libtss2-dev
	libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients libvirt-dev libmicrohttpd-dev libxml2-dev
	prometheus prometheus-node-exporter time
)
rpm_pkgs=(
	meson ninja-build pkgconf-pkg-config gcc clang compiler-rt
	libmount-devel efivar-devel systemd-devel openssl-devel cryptsetup-devel jansson-devel
	fsverity-utils-devel fsverity-utils libcmocka-devel
	python3 python3-jsonschema python3-cryptography python3-pefile python3-virt-firmware
	qemu-system-x86-core qemu-img edk2-ovmf e2fsprogs erofs-utils dosfstools mtools util-linux sbsigntools systemd-boot-unsigned binutils openssl
	busybox cpio xz gzip jq systemd debootstrap kmod attr
	swtpm swtpm-tools tpm2-tools tpm2-tss-devel
	libvirt-daemon libvirt-daemon-driver-qemu libvirt-client libvirt-devel libmicrohttpd-devel libxml2-devel
	golang-github-prometheus golang-github-prometheus-node-exporter time
)

say() { if [ -t 1 ]; then printf 'install-deps: %s\n' "$*"; fi; }
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"

if command -v apt-get >/dev/null; then
	missing=()
	for p in "${deb_pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		say "installing ${missing[*]}"
		$sudo apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
	fi
elif command -v dnf >/dev/null; then
	missing=()
	for p in "${rpm_pkgs[@]}"; do
		rpm -q "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		say "installing ${missing[*]}"
		$sudo dnf install -y -q "${missing[@]}"
	fi
else
	echo "install-deps: neither apt-get nor dnf found; install by hand: ${deb_pkgs[*]}" >&2
	exit 1
fi
say "dependencies present"
