#!/usr/bin/env bash
# Builds everything an fcm guest boots from, out of Debian packages (no Docker):
#   vmlinuz      Debian linux-image-cloud-amd64 kernel (QEMU; see firecracker-kernel.sh
#                for Firecracker)
#   initrd.img   busybox-static + virtio/ext4 modules; mounts /dev/vda, switch_root
#   rootfs.ext4  raw ext4 base image (debootstrap minbase + packages.txt + guest/)
#   manifest.json
#
# usage: rootfs/build.sh [--refresh]    (as root; installs missing host tools with apt)
#   --refresh   rebuild the cached base tree with current Debian package versions
#               (security updates); yields a new image only if a version changed
# env:
#   FCM_CACHE_DIR               cache and output root (default /var/cache/fcm)
#   FCM_DEBIAN_MIRROR           default http://deb.debian.org/debian
#   FCM_DEBIAN_SECURITY_MIRROR  default http://deb.debian.org/debian-security
#   FCM_GUEST_NODE              the Node.js binary to ship in the guest, with its npm in
#                               <prefix>/lib/node_modules/npm and headers in
#                               <prefix>/include/node (default: `command -v node`, the
#                               Node that runs fcm); see "Node.js runtime" below
#
# Output: $FCM_CACHE_DIR/images/<hash>/ and the symlink $FCM_CACHE_DIR/images/current,
# replaced atomically only after a complete build. <hash> covers every input file
# under rootfs/ (this script, packages.txt, base/, initramfs/, guest/), the exact
# kernel and busybox-static package versions, the installed package list of the
# base tree and the shipped Node.js runtime (version + checksums). Progress goes to stderr; the last line on stdout is the output directory.
# An existing image directory is never rebuilt, replaced or deleted here: VM overlays
# are backed by its rootfs.ext4 (garbage collection is the daemon's job).
set -euo pipefail
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${FCM_CACHE_DIR:-/var/cache/fcm}
export FCM_SUITE=bookworm
export FCM_DEBIAN_MIRROR=${FCM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
export FCM_DEBIAN_SECURITY_MIRROR=${FCM_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
kernel_meta=linux-image-cloud-amd64
refresh=0
for arg in "$@"; do
  case $arg in
    --refresh) refresh=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
secs() { local ms=$(( $(now_ms) - $1 )); printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100)); }
t_start=$(now_ms)
t_step=$t_start
step() { echo "-----> $*" >&2; }
info() { echo "       $*" >&2; }
took() { info "done in $(secs "$t_step")"; t_step=$(now_ms); }
die() { echo " !     $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "build.sh must run as root (debootstrap, chroot, mknod)"

# ---------------------------------------------------------------- host tools
need=()
for tool in debootstrap:debootstrap depmod:kmod modprobe:kmod mkfs.ext4:e2fsprogs \
            e2fsck:e2fsprogs cpio:cpio gzip:gzip xz:xz-utils flock:util-linux; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if ((${#need[@]})); then
  step "Installing host tools: ${need[*]}"
  apt-get -q update >&2
  DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends "${need[@]}" >&2
fi

mkdir -p "$cache"/{debs,kernel,base,images,tmp}
exec 9>"$cache/build.lock"
flock 9   # one build at a time per cache dir

# ---------------------------------------------------------------- resolve versions
apt_field() { # <package> <field>: candidate's field from the host's apt lists
  apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n "s/^$2: //p" | head -n1
}
if [[ -z $(apt_field "$kernel_meta" Version) ]]; then
  step "Refreshing apt lists"
  apt-get -q update >&2
fi
kernel_pkg=$(apt_field "$kernel_meta" Depends | grep -o 'linux-image-[^ ,]*' | head -n1)
[[ -n $kernel_pkg ]] || die "cannot resolve $kernel_meta to a kernel package"
kernel_ver=$(apt_field "$kernel_pkg" Version)
busybox_ver=$(apt_field busybox-static Version)
[[ -n $kernel_ver && -n $busybox_ver ]] || die "cannot resolve kernel/busybox-static versions"
krel=${kernel_pkg#linux-image-}

tmp=$(mktemp -d "$cache/tmp/build.XXXXXX")
log=$tmp/build.log
: > "$log"
cleanup() {
  local rc=$?
  if [[ $rc != 0 && -s $log ]]; then
    cp "$log" "$cache/last-failed-build.log"
    echo " !     build failed; last lines of $cache/last-failed-build.log:" >&2
    tail -n 40 "$log" >&2
  fi
  # nothing may stay mounted below a tree we are about to delete
  awk -v p="$tmp/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r \
    | while read -r m; do umount -l "$m" || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

hash_files() { # <dir> <paths...>: stable digest of names + contents
  (cd "$1" && shift && find "$@" -type f ! -name '*~' ! -name '.*.sw?' -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

# ---------------------------------------------------------------- base tree (cached)
base_hash=$(hash_files "$here" packages.txt base)
base=$cache/base/$base_hash
if [[ ! -f $base/packages.lst || $refresh == 1 ]]; then
  step "Building base image (debootstrap $FCM_SUITE + packages.txt)"
  "$here/base/build-base.sh" "$tmp/base" "$cache" "$here/packages.txt" 2>>"$log" \
    | tee -a "$log" | grep '^       ' >&2 || true
  [[ -f $tmp/base/packages.lst ]] || die "base build failed"
  rm -rf "$base" && mv "$tmp/base" "$base"
  # older base trees are only intermediates: keep the newest two
  ls -1dt "$cache"/base/*/ | tail -n +3 | xargs -r rm -rf
  took
else
  step "Base image $base_hash (cached)"
fi

# ---------------------------------------------------------------- Node.js runtime
# The guest's Node is the host's own (the one running fcm, or FCM_GUEST_NODE), not
# Debian's: bookworm's nodejs 18 (end of life since 2025-04-30, no security fixes) is
# built as a shared library without the code cache of Node's built-in modules and
# without Node's startup snapshot, which made every Node start under QEMU TCG compile
# Node's bootstrap from source (~1.6x the CPU of a Node that has both; see
# rootfs/README.md). It must have both, and run on the guest's glibc: checked below,
# in the staged tree's chroot, and the build fails if not (there is no fallback).
node_src=${FCM_GUEST_NODE:-$(command -v node || true)}
[[ -n $node_src ]] || die "no Node.js found for the guest: put node on PATH or set FCM_GUEST_NODE"
node_src=$(readlink -f "$node_src")
node_prefix=$(dirname "$(dirname "$node_src")")
npm_dir=$node_prefix/lib/node_modules/npm
node_inc=$node_prefix/include/node
[[ -x $node_src && -f $npm_dir/bin/npm-cli.js && -f $node_inc/node.h && -f $node_inc/common.gypi ]] \
  || die "$node_src: expected its npm in $npm_dir and its headers in $node_inc (a Node.js install" \
         "from nodejs.org or NodeSource has both); set FCM_GUEST_NODE to such a node"
node_info=$("$node_src" -p 'const v = process.config.variables;
  [process.version, v.node_use_node_code_cache, v.node_use_node_snapshot, v.node_shared].join(" ")') \
  || die "$node_src does not run"
read -r node_ver node_cc node_snap node_shared <<< "$node_info"
[[ $node_cc == true && $node_snap == true && $node_shared == false ]] \
  || die "$node_src ($node_ver) is built with node_use_node_code_cache=$node_cc," \
         "node_use_node_snapshot=$node_snap, node_shared=$node_shared: the guest needs a Node" \
         "with its built-ins' code cache and startup snapshot, as one binary (set FCM_GUEST_NODE)"
npm_ver=$("$node_src" -p 'require(process.argv[1]).version' "$npm_dir/package.json")
node_id="node=$node_ver $(sha256sum < "$node_src" | cut -c1-16) npm=$npm_ver $(hash_files "$npm_dir" .)"
node_id+=" headers=$(hash_files "$node_inc" .)"

# ---------------------------------------------------------------- inputs hash
hash=$( { hash_files "$here" build.sh packages.txt base initramfs guest
          echo "$node_id"
          echo "$kernel_pkg=$kernel_ver busybox-static=$busybox_ver suite=$FCM_SUITE"
          sha256sum < "$base/packages.lst"
        } | sha256sum | cut -c1-16)
out=$cache/images/$hash

set_current() {
  ln -sfn "$hash" "$cache/images/.current.$$"
  mv -T "$cache/images/.current.$$" "$cache/images/current"
}

if [[ -f $out/manifest.json ]]; then
  step "Image $hash is up to date"
  set_current
  echo "$out"
  exit 0
fi
step "Building image $hash ($kernel_pkg $kernel_ver)"

# ---------------------------------------------------------------- downloads
fetch_deb() { # <package> <version>: path of the cached .deb
  local f="$cache/debs/${1}_${2//:/%3a}_amd64.deb"
  if [[ ! -s $f ]]; then
    info "downloading $1 $2"
    (cd "$tmp" && apt-get -q download -o APT::Sandbox::User=root "$1=$2" >>"$log" 2>&1)
    mv "$tmp/$(basename "$f")" "$f"
  fi
  echo "$f"
}
kernel_deb=$(fetch_deb "$kernel_pkg" "$kernel_ver")
busybox_deb=$(fetch_deb busybox-static "$busybox_ver")

# ---------------------------------------------------------------- kernel (cached)
kdir=$cache/kernel/${kernel_pkg}_${kernel_ver//:/%3a}
if [[ ! -f $kdir/vmlinuz ]]; then
  step "Unpacking kernel $krel"
  kt=$tmp/kernel; mkdir -p "$kt"
  dpkg-deb -x "$kernel_deb" "$kt/x"
  [[ -d $kt/x/lib/modules/$krel ]] || die "kernel deb has no lib/modules/$krel"
  mkdir -p "$kt/out/modules/lib/modules"
  mv "$kt/x/lib/modules/$krel" "$kt/out/modules/lib/modules/"
  cp "$kt/x/boot/vmlinuz-$krel" "$kt/out/vmlinuz"
  cp "$kt/x/boot/config-$krel" "$kt/out/config"
  # xz like the kernel's own MODULE_COMPRESS_XZ (kmod in the guest reads .ko.xz):
  # 91 MB of modules become ~25 MB in every image.
  find "$kt/out/modules" -name '*.ko' -print0 \
    | xargs -0 -r -n 32 -P "$(nproc)" xz -q --check=crc32 --lzma2=dict=1MiB
  depmod -b "$kt/out/modules" "$krel"
  echo "$krel" > "$kt/out/release"
  rm -rf "$kdir" && mv "$kt/out" "$kdir"
  rm -rf "$kt"
  took
fi
modules=$kdir/modules

bbdir=$cache/busybox/${busybox_ver//:/%3a}
if [[ ! -x $bbdir/busybox ]]; then
  dpkg-deb -x "$busybox_deb" "$tmp/busybox"
  mkdir -p "$bbdir" && install -m 0755 "$tmp/busybox/bin/busybox" "$bbdir/busybox.new"
  mv "$bbdir/busybox.new" "$bbdir/busybox"
fi
busybox=$bbdir/busybox

# ---------------------------------------------------------------- initramfs
step "Building initramfs"
ird=$tmp/initrd
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,lib/modules}
install -m 0755 "$busybox" "$ird/bin/busybox"
for applet in $("$busybox" --list); do
  [[ $applet == busybox ]] || ln -s busybox "$ird/bin/$applet"
done
mknod -m 0600 "$ird/dev/console" c 5 1
install -m 0755 "$here/initramfs/init" "$ird/init"
: > "$ird/lib/modules/load.list"
declare -A seen=()
for m in $(sed -e 's/#.*//' "$here/initramfs/modules.txt"); do
  deps=$(modprobe -d "$modules" -S "$krel" --show-depends "$m") \
    || die "module $m not found in $krel"
  while read -r kind path _; do
    [[ $kind == insmod && -z ${seen[$path]:-} ]] || continue
    seen[$path]=1
    name=$(basename "$path" .xz)
    xz -dc "$path" > "$ird/lib/modules/$name"
    echo "$name" >> "$ird/lib/modules/load.list"
  done <<< "$deps"
done
info "modules: $(tr '\n' ' ' < "$ird/lib/modules/load.list")"
(cd "$ird" && find . -print0 | LC_ALL=C sort -z \
  | cpio --null -o -H newc -R 0:0 --reproducible --quiet) | gzip -9n > "$tmp/initrd.img"
took

# ---------------------------------------------------------------- rootfs.ext4
step "Assembling rootfs"
stage=$tmp/root
# Hardlinked copy: fast, but a file in $stage must never be modified in place (that
# would change the cached base). Everything added below is a new path or replaces one
# with rm + create.
cp -al "$base/root" "$stage"
put() { # <src> <dest-in-stage> <mode>
  rm -f "$stage$2"
  install -D -m "$3" "$1" "$stage$2"
}
link() { # <target> <link-in-stage>
  rm -f "$stage$2"
  ln -s "$1" "$stage$2"
}
put "$busybox" /usr/lib/fcm/busybox 0755
for f in "$here"/guest/*; do
  case $f in
    *.py|*/rc.*|*/console|*/respawn|*/tcg-layout) put "$f" "/usr/lib/fcm/$(basename "$f")" 0755 ;;
    */inittab) put "$f" /etc/inittab 0644 ;;
    */acpi-power) put "$f" /usr/lib/fcm/acpi/PWRF/00000080 0755 ;;
    */profile.sh) put "$f" /etc/profile.d/fcm.sh 0644 ;;
    *) put "$f" "/usr/lib/fcm/$(basename "$f")" 0644 ;;
  esac
done
# Node.js, npm and the headers node-gyp builds native addons against, in the layout of
# the nodejs.org/NodeSource packages; npm's builtin config points node-gyp at those
# headers (nodedir), so it never downloads them.
put "$node_src" /usr/bin/node 0755
link node /usr/bin/nodejs
mkdir -p "$stage/usr/lib/node_modules" "$stage/usr/include"
cp -a "$npm_dir" "$stage/usr/lib/node_modules/npm"
cp -a "$node_inc" "$stage/usr/include/node"
chown -R 0:0 "$stage/usr/lib/node_modules/npm" "$stage/usr/include/node"
chmod -R go-w "$stage/usr/lib/node_modules/npm" "$stage/usr/include/node"
rm -f "$stage/usr/lib/node_modules/npm/npmrc"
printf 'nodedir=/usr\n' > "$stage/usr/lib/node_modules/npm/npmrc"
link ../lib/node_modules/npm/bin/npm-cli.js /usr/bin/npm
link ../lib/node_modules/npm/bin/npx-cli.js /usr/bin/npx
# Linked against the host's glibc/libstdc++: it must run on the guest's.
chroot_out=$(chroot "$stage" /usr/bin/node -p 'process.version' 2>&1) && [[ $chroot_out == "$node_ver" ]] \
  || die "$node_src ($node_ver) does not run in the guest's $FCM_SUITE tree (a newer glibc or" \
         "libstdc++ on this host?): ${chroot_out:0:300}. Set FCM_GUEST_NODE to a Node.js built for" \
         "glibc <= 2.36 (nodejs.org's and NodeSource's builds are)"
chroot_out=$(chroot "$stage" /usr/bin/npm --version 2>&1) && [[ $chroot_out == "$npm_ver" ]] \
  || die "npm $npm_ver does not run in the guest's tree: ${chroot_out:0:300}"
info "node $node_ver (code cache + snapshot), npm $npm_ver"

# busybox init is PID 1; poweroff/reboot/halt signal it so the ::shutdown: action runs.
# Relative links: the initramfs checks /newroot/sbin/init before switch_root.
for l in init poweroff reboot halt; do
  link ../lib/fcm/busybox "/usr/sbin/$l"
done
# Applets for the guest init's own PATH only (see guest/rc.init): exec of a static
# busybox is ~4x cheaper than of a dynamic binary under QEMU TCG.
mkdir -p "$stage/usr/lib/fcm/bin"
for a in awk cat cut grep head ip ln mkdir mount mv od rm sed sleep stat tr; do
  link ../busybox "/usr/lib/fcm/bin/$a"
done
mkdir -p "$stage/usr/lib/modules" "$stage/app"
cp -al "$modules/lib/modules/$krel" "$stage/usr/lib/modules/$krel"

# Size: contents + 10% + 48 MiB (journal, metadata, a little free space). The image
# only needs to boot; each VM's overlay is larger and the guest grows the fs online
# (mke2fs reserves GDT blocks for 1024x growth). One inode per 8 KiB, because
# node_modules and site-packages are many small files; new groups added by online
# growth get the same inodes per group.
used_kib=$(du -s --block-size=1K "$stage" | cut -f1)
size_mib=$(( (used_kib * 11 / 10) / 1024 + 48 ))
mkfs.ext4 -q -F -L fcm-root -b 4096 -i 8192 -m 0 -e remount-ro \
  -E root_owner=0:0,lazy_itable_init=0,lazy_journal_init=1 \
  -d "$stage" "$tmp/rootfs.ext4" "${size_mib}M" >>"$log" 2>&1 \
  || die "mkfs.ext4 failed (see above)"
e2fsck -fn "$tmp/rootfs.ext4" >>"$log" 2>&1 || die "e2fsck found problems in rootfs.ext4"
rm -rf "$stage"
took

# ---------------------------------------------------------------- publish
step "Publishing"
json_str() { # values are package names/versions/paths: reject anything that needs escaping
  [[ $1 =~ ^[A-Za-z0-9.+:~_/=-]*$ ]] || die "unexpected characters in manifest value: $1"
  printf '"%s"' "$1"
}
result=$tmp/out
mkdir -p "$result"
mv "$tmp/initrd.img" "$tmp/rootfs.ext4" "$result/"
cp "$kdir/vmlinuz" "$result/vmlinuz"
rootfs_bytes=$(stat -c %s "$result/rootfs.ext4")
{
  echo "{"
  echo "  \"hash\": $(json_str "$hash"),"
  echo "  \"kernelVersion\": $(json_str "$krel"),"
  echo "  \"kernelPackage\": $(json_str "$kernel_pkg=$kernel_ver"),"
  echo "  \"kernel\": \"vmlinuz\","
  echo "  \"initrd\": \"initrd.img\","
  echo "  \"rootfs\": \"rootfs.ext4\","
  echo "  \"rootfsBytes\": $rootfs_bytes,"
  echo "  \"builtAt\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"node\": $(json_str "$node_ver"),"
  echo "  \"npm\": $(json_str "$npm_ver"),"
  echo "  \"packages\": ["
  sep=""
  while read -r p; do printf '%s    %s' "$sep" "$(json_str "$p")"; sep=$',\n'; done < "$base/packages.lst"
  printf '\n  ]\n}\n'
} > "$result/manifest.json"
mv -T "$result" "$out"
set_current
took
info "rootfs.ext4: $((rootfs_bytes >> 20)) MiB apparent," \
  "$(( $(stat -c %b "$out/rootfs.ext4") * 512 >> 20 )) MiB allocated; total $(secs "$t_start")"
echo "$out"
