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

# The distribution server is started by the tests on 127.0.0.1, never as a service.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry >/dev/null 2>&1 || true
fi
exit 0
