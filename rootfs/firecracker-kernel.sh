#!/usr/bin/env bash
# Builds the guest kernel for the Firecracker driver. Debian's kernels cannot boot under
# Firecracker: it needs an uncompressed ELF vmlinux with virtio-mmio built in and
# VIRTIO_MMIO_CMDLINE_DEVICES (it has no ACPI/initramfs path for them). This builds one
# from Debian's linux-source-6.1 package with Debian's cloud-amd64 config (the kernel
# the QEMU driver boots) plus rootfs/firecracker-kernel.config.
#
# usage: rootfs/firecracker-kernel.sh [--config-only] [-j N]    (as root)
#   --config-only  stop after `make olddefconfig` and the check that every option in
#                  the fragment survived (seconds instead of ~1 h on 2 cores)
# env: FCM_CACHE_DIR (default /var/cache/fcm)
#
# Output: $FCM_CACHE_DIR/images/firecracker/{vmlinux,config,release}, replaced
# atomically. Sources and the build tree are cached under $FCM_CACHE_DIR/firecracker/
# (a rebuild after a fragment change is incremental).
#
# Boot it with root=/dev/vda rw and no initrd; the guest init (guest/rc.init) mounts
# /proc, /sys, /dev itself when there was no initramfs. Only what is built in is
# available: the rootfs's /lib/modules belongs to the Debian QEMU kernel.
set -euo pipefail
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${FCM_CACHE_DIR:-/var/cache/fcm}
fragment=$here/firecracker-kernel.config
config_only=0
jobs=$(nproc)
while (($#)); do
  case $1 in
    --config-only) config_only=1 ;;
    -j) jobs=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "firecracker-kernel.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

step() { echo "-----> $*" >&2; }
info() { echo "       $*" >&2; }
die() { echo " !     $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (apt-get install of build tools)"

need=()
for tool in gcc:build-essential make:build-essential flex:flex bison:bison bc:bc \
            xz:xz-utils; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
# objtool needs libelf, certs/ tools need openssl headers
dpkg -s libelf-dev >/dev/null 2>&1 || need+=(libelf-dev)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
if ((${#need[@]})); then
  step "Installing host build tools: ${need[*]}"
  apt-get -q update >&2
  DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends "${need[@]}" >&2
fi

mkdir -p "$cache"/{debs,firecracker,images/firecracker,tmp}
exec 9>"$cache/firecracker/build.lock"
flock 9

apt_field() {
  apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n "s/^$2: //p" | head -n1
}
[[ -n $(apt_field linux-source-6.1 Version) ]] || apt-get -q update >&2
kernel_pkg=$(apt_field linux-image-cloud-amd64 Depends | grep -o 'linux-image-[^ ,]*' | head -n1)
kernel_ver=$(apt_field "$kernel_pkg" Version)
source_ver=$(apt_field linux-source-6.1 Version)
[[ -n $kernel_pkg && -n $kernel_ver && -n $source_ver ]] || die "cannot resolve package versions"
[[ $kernel_ver == "$source_ver" ]] \
  || info "note: config from $kernel_pkg $kernel_ver, source $source_ver"

fetch_deb() { # <package> <version>
  local f="$cache/debs/${1}_${2//:/%3a}_$3.deb"
  if [[ ! -s $f ]]; then
    info "downloading $1 $2"
    local d; d=$(mktemp -d "$cache/tmp/dl.XXXXXX")
    (cd "$d" && apt-get -q download -o APT::Sandbox::User=root "$1=$2" >&2)
    mv "$d"/*.deb "$f"
    rm -rf "$d"
  fi
  echo "$f"
}

src=$cache/firecracker/src/linux-source-$source_ver
if [[ ! -f $src/Makefile ]]; then
  step "Unpacking linux-source-6.1 $source_ver"
  deb=$(fetch_deb linux-source-6.1 "$source_ver" all)
  work=$(mktemp -d "$cache/tmp/linux-src.XXXXXX")
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" ./usr/src/
  tarball=$(ls "$work"/usr/src/linux-source-6.1.tar.*)
  mkdir -p "$work/src"
  tar -xf "$tarball" -C "$work/src" --strip-components=1
  rm -rf "$src" && mkdir -p "$(dirname "$src")" && mv "$work/src" "$src"
  rm -rf "$work"
fi

step "Configuring (Debian cloud-amd64 config + $(basename "$fragment"))"
kdeb=$(fetch_deb "$kernel_pkg" "$kernel_ver" amd64)
obj=$cache/firecracker/build/$source_ver
mkdir -p "$obj"
dpkg-deb --fsys-tarfile "$kdeb" | tar -xO "./boot/config-${kernel_pkg#linux-image-}" > "$obj/base.config"
# merge_config.sh writes .config into the output dir; olddefconfig fills in the rest
(cd "$src" && scripts/kconfig/merge_config.sh -m -O "$obj" \
  "$obj/base.config" "$fragment" >"$obj/merge.log" 2>&1) || { cat "$obj/merge.log" >&2; die "merge_config failed"; }
make -s -C "$src" O="$obj" olddefconfig >&2

# Every option of the fragment must have survived (a missing dependency silently
# drops a =y).
bad=0
while IFS= read -r line; do
  case $line in
    CONFIG_*=*) opt=${line%%=*} want=$line ;;
    "# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt%% *} want="" ;;
    *) continue ;;
  esac
  have=$(grep -E "^$opt=" "$obj/.config" || true)
  if [[ $have != "$want" ]]; then
    echo " !     $opt: wanted '${want:-not set}', olddefconfig gave '${have:-not set}'" >&2
    bad=1
  fi
done < "$fragment"
((bad == 0)) || die "config fragment not applied as intended"
release=$(make -s -C "$src" O="$obj" kernelrelease)
info "kernel release $release: all $(grep -cE '^(CONFIG_|# CONFIG_)' "$fragment") fragment options applied"

if ((config_only)); then
  info "config: $obj/.config (--config-only: not building)"
  exit 0
fi

step "Building vmlinux with $jobs jobs (long: ~1 h on 2 cores from scratch)"
start=$SECONDS
make -C "$src" O="$obj" -j"$jobs" vmlinux >"$obj/build.log" 2>&1 \
  || { tail -n 40 "$obj/build.log" >&2; die "kernel build failed (log: $obj/build.log)"; }
info "built in $((SECONDS - start)) s"

out=$cache/images/firecracker
install -m 0644 "$obj/vmlinux" "$out/vmlinux.new"
install -m 0644 "$obj/.config" "$out/config.new"
echo "$release" > "$out/release.new"
mv "$out/vmlinux.new" "$out/vmlinux"
mv "$out/config.new" "$out/config"
mv "$out/release.new" "$out/release"
echo "$out/vmlinux"
