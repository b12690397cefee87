#!/usr/bin/env bash
# Installs, as root on Debian/Ubuntu, what eib and its test suite need.
# Idempotent and quiet: re-running it on a prepared host changes nothing.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-host.sh: run as root (it installs Debian packages)" >&2
  exit 2
fi

export DEBIAN_FRONTEND=noninteractive
packages=(
  uidmap            # newuidmap/newgidmap for subordinate id ranges
  util-linux        # unshare
  qemu-user-static  # emulation of foreign-arch binaries in the chroot
  e2fsprogs         # mke2fs -d, e2fsck, debugfs
  docker-registry   # a real OCI registry for the tests
  apache2-utils     # htpasswd, for registry auth tests
  skopeo umoci      # independent readers of OCI layouts
  openssl           # test keys and certificates
  busybox-static    # static binaries that the test packages are built from
  gcc libc6-dev     # the hostile-script tests build a static chroot-escape program
  file
  attr              # getfattr/setfattr: layer xattrs (security.capability, user.*)
  libcap2-bin       # setcap: file capabilities in the export tests
  squashfs-tools    # mksquashfs/unsquashfs: squashfs export and its tests
  erofs-utils       # mkfs.erofs/fsck.erofs/dump.erofs: erofs export and its tests
  qemu-system-arm   # eib boot: aarch64/armv7 images in a virtual machine
  cpio              # the boot tests read initramfs archives back with cpio -t
  zsh               # the completion tests run the generated zsh script
  fdisk             # sfdisk: writes disk image partition tables; fdisk -l in the tests
  dosfstools        # mkfs.vfat/fsck.vfat: vfat partitions of disk images
  mtools            # mmd/mcopy fill vfat partitions without mounting; mdir in the tests
  zstd              # .img.zst copies of disk images
  bmap-tools        # bmaptool copy: the disk tests flash the image with its .bmap
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
updated=no
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq >/dev/null
  updated=yes
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The arm64 busybox-static gives test packages a real aarch64 binary. It
# cannot be installed beside the amd64 one (same path), so it is unpacked
# into a fixed folder instead.
arm64_dir=/var/cache/eib-test/busybox-arm64
if [ ! -x "$arm64_dir/bin/busybox" ]; then
  dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; updated=no; }
  [ "$updated" = yes ] || apt-get update -qq >/dev/null
  tmp=$(mktemp -d) && chmod 755 "$tmp"
  (cd "$tmp" && apt-get download -qq busybox-static:arm64 >/dev/null)
  mkdir -p "$arm64_dir"
  dpkg-deb -x "$tmp"/busybox-static_*_arm64.deb "$arm64_dir"
  rm -rf "$tmp"
fi

# Debian's arm64 kernel boots test images in qemu-system-aarch64 (eib boot).
# linux-image-arm64 is a metapackage: download the image package it depends
# on and unpack it (no install) to a fixed folder, with a stable name.
kernel_dir=/var/cache/eib-test/linux-arm64
if [ ! -f "$kernel_dir/vmlinuz" ]; then
  dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; updated=no; }
  [ "$updated" = yes ] || apt-get update -qq >/dev/null
  image=$(apt-cache depends linux-image-arm64:arm64 | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n 1)
  tmp=$(mktemp -d) && chmod 755 "$tmp"
  (cd "$tmp" && apt-get download -qq "$image" >/dev/null)
  rm -rf "$kernel_dir.new" && mkdir -p "$kernel_dir.new"
  dpkg-deb -x "$tmp"/linux-image-*.deb "$kernel_dir.new/root"
  cp "$kernel_dir.new"/root/boot/vmlinuz-* "$kernel_dir.new/vmlinuz"
  rm -rf "$kernel_dir.new/root" "$tmp" "$kernel_dir"
  mv "$kernel_dir.new" "$kernel_dir"
fi

# The distribution server is started by the tests on 127.0.0.1, never as a service.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry >/dev/null 2>&1 || true
fi
exit 0
