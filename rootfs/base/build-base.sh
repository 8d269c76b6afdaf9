#!/usr/bin/env bash
# Builds the Debian base tree for fcm guests into <target>/root (a plain directory,
# later turned into ext4 with `mkfs.ext4 -d`). Called by ../build.sh, which caches the
# result keyed by the hash of this directory and ../packages.txt.
#
# usage: build-base.sh <target-dir> <cache-dir> <packages-file>
#   <target-dir> must not exist; on success it holds root/ and packages.lst.
# env: FCM_SUITE, FCM_DEBIAN_MIRROR, FCM_DEBIAN_SECURITY_MIRROR (set by build.sh)
#
# Download caches (outside the target, survive base rebuilds):
#   <cache>/debootstrap/<suite>-minbase.tgz   debootstrap --make-tarball
#   <cache>/apt-archives/*.deb                 debs of the last base build, hardlinked
#                                              into the chroot's apt cache
set -euo pipefail

target=$1 cache=$2 packages_file=$3
suite=${FCM_SUITE:-bookworm}
mirror=${FCM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${FCM_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
root=$target/root

[[ ! -e $target ]] || { echo "build-base: $target already exists" >&2; exit 1; }
mkdir -p "$cache/debootstrap" "$cache/apt-archives" "$cache/tmp"

# debootstrap mounts proc/sys inside the target while it runs; make sure nothing stays
# mounted there if we fail half-way (../build.sh deletes the tree afterwards).
unmount_under() {
  local m
  for m in $(awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$m" || true
  done
}
trap 'unmount_under "$root"' EXIT

tarball=$cache/debootstrap/$suite-minbase.tgz
if [[ ! -s $tarball ]]; then
  echo "       downloading $suite minbase (debootstrap --make-tarball)"
  work=$(mktemp -d "$cache/tmp/debootstrap.XXXXXX")
  debootstrap --variant=minbase --make-tarball="$work/minbase.tgz" \
    "$suite" "$work/root" "$mirror"
  mv "$work/minbase.tgz" "$tarball"
  rm -rf "$work"
fi

echo "       debootstrap --variant=minbase $suite (from cached tarball)"
mkdir -p "$target"
debootstrap --variant=minbase --unpack-tarball="$tarball" "$suite" "$root" "$mirror"
unmount_under "$root"

in_root() {
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 HOME=/root "$@"
}

# Docs, man pages and translations are never installed, now or by apt inside a VM.
cat > "$root/etc/dpkg/dpkg.cfg.d/01-fcm-nodoc" <<'EOF'
# fcm: keep guest images small
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
EOF
cat > "$root/etc/apt/apt.conf.d/01-fcm" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
EOF
# No service may start inside the build chroot.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
# debootstrap copies the host's resolv.conf; keep it only while apt needs it.
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$packages_file" | grep -v '^$')
archives=$root/var/cache/apt/archives
find "$cache/apt-archives" -maxdepth 1 -name '*.deb' -exec ln -t "$archives" {} + 2>/dev/null || true

echo "       apt-get install ${packages[*]}"
in_root apt-get -q update
in_root apt-get -q -y -o Dpkg::Options::=--force-confold dist-upgrade
in_root apt-get -q -y -o Dpkg::Options::=--force-confold install "${packages[@]}"

# Keep exactly the debs this build used as the download cache for the next one.
fresh=$(mktemp -d "$cache/tmp/apt-archives.XXXXXX")
find "$archives" -maxdepth 1 -name '*.deb' -exec ln -t "$fresh" {} +
old=$cache/apt-archives.old.$$
mv "$cache/apt-archives" "$old"
mv "$fresh" "$cache/apt-archives"
rm -rf "$old"

in_root dpkg-query -W -f '${Package}=${Version}\n' | LC_ALL=C sort > "$target/packages.lst"

echo "       slimming and locking down"
in_root apt-get -q clean
rm -f "$root/usr/sbin/policy-rc.d"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
  "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
  "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/lintian \
  "$root"/tmp/* "$root"/var/tmp/* "$root"/root/.cache "$root"/root/.npm
find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
find "$root/var/log" -type f -exec truncate -s 0 {} +

# Root is locked (no password can ever match) and no account has a password. The
# serial console starts a root shell without login; it is only reachable through the
# authenticated fcm daemon.
in_root passwd -l root >/dev/null
# Deployed apps run as this unprivileged, locked, login-less user (rootfs/guest/agent.py).
in_root useradd --system --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin app
if awk -F: '$2 !~ /^[!*]/ { bad = 1; print "build-base: account with a password: " $1 } END { exit bad }' \
     "$root/etc/shadow"; then :; else exit 1; fi

# Per-VM identity is created on first boot by the guest init.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
# An empty resolv.conf: python's http.server otherwise waits ~10 s on unreachable DNS.
rm -f "$root/etc/resolv.conf"
: > "$root/etc/resolv.conf"
echo fcm > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
printf '# <device> <mountpoint> <type> <options> <dump> <pass>\n/dev/vda / ext4 rw,relatime 0 1\n' \
  > "$root/etc/fstab"
echo 'LANG=C.UTF-8' > "$root/etc/default/locale"
