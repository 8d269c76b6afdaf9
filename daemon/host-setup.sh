#!/usr/bin/env bash
# Prepares this machine to run the fcm daemon and its tests, idempotently:
#   1. Debian packages the daemon drives (QEMU, Caddy, nftables, OpenSSH, git...)
#   2. node_modules (npm ci) when package-lock.json changed
#   3. the guest kernel, initramfs and base image (rootfs/build.sh, cached)
#   4. the TypeScript build (dist/), used by the `fcm` binary
# Called by `npm start` and `npm test`; safe to run again. Needs root for 1 and 3;
# without root it skips them and says so (host tests will then skip loudly).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "-----> $*" >&2; }

# The last value of an FCM_* setting in /etc/fcm/env (empty if unset).
fcm_env() { { sed -n "s/^$1=//p" /etc/fcm/env 2>/dev/null || true; } | tail -n1; }

# fcm.service on stdout (test/unit/systemd-unit.test.ts verifies it with systemd-analyze).
# Hardening that leaves the daemon working. It must create taps, bridges and nft rules
# (CAP_NET_ADMIN, /proc/sys/net writable), make per-VM cgroups (/sys/fs/cgroup writable),
# make device nodes for each VM's QEMU (CAP_MKNOD, real /dev), build each QEMU's mount view
# (bubblewrap: mount, pivot_root, chroot; mnt/ipc/uts namespaces), drop to per-VM uids
# (CAP_SETUID/SETGID/SETPCAP), signal and read the files of those uids (CAP_KILL,
# CAP_DAC_OVERRIDE), and run QEMU/TCG and Node's JIT (writable+executable memory).
# Everything it inherits, QEMU inherits too (then confines itself further).
# Not used, and why:
#   PrivateDevices=       hides /dev/net/tun and /dev/kvm, drops CAP_MKNOD
#   ProtectKernelTunables= makes /proc/sys read-only (ip_forward, disable_ipv6 per tap)
#   ProtectControlGroups= makes /sys/fs/cgroup read-only (per-VM cgroups)
#   ProtectClock=         adds a device allow-list (DeviceAllow=) that would close /dev/net/tun and /dev/kvm
#   MemoryDenyWriteExecute= breaks V8's JIT and QEMU's TCG translator
#   SystemCallFilter=     inherited by bwrap and QEMU, which need mount/pivot_root and much of
#                         the kernel; QEMU gets its own seccomp filter (-sandbox) instead
#   PrivateNetwork=, IPAddressDeny=, RestrictNamespaces=net  the daemon owns the host's networking
#   DynamicUser=, User=   the daemon must be root (see above); the VMs run unprivileged
#   KillMode=control-group (the default) VMs are detached children that outlive daemon restarts
#   UMask=0077            the images and published snapshot templates must stay readable by
#                         every VM's uid (the daemon sets modes itself where it matters)
# ProtectSystem=strict also keeps the daemon from creating the git user itself (/etc is
# read-only to it): this script creates it below, before the daemon runs.
fcm_unit() {
  local state templates jail
  state=$(fcm_env FCM_STATE_DIR); state=${state:-${FCM_STATE_DIR:-/var/lib/fcm}}
  templates=$(fcm_env FCM_TEMPLATES_DIR); templates=${templates:-$state/templates}
  jail=$(fcm_env FCM_FIRECRACKER_CHROOT_BASE); jail=${jail:-$state/jail}
  cat <<UNIT
[Unit]
Description=fcm daemon (apps in microVMs)
After=network-online.target caddy-api.service
Wants=network-online.target caddy-api.service

[Service]
ExecStart=$1 $2 daemon
# systemctl reload fcm: the allowlists in the FCM_CONFIG file apply at once (see daemon/auth.md).
ExecReload=/bin/kill -HUP \$MAINPID
Restart=on-failure
KillMode=process
EnvironmentFile=-/etc/fcm/env
NoNewPrivileges=yes
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_SYS_ADMIN CAP_SYS_CHROOT CAP_MKNOD CAP_CHOWN CAP_FOWNER CAP_FSETID CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_SETUID CAP_SETGID CAP_SETPCAP CAP_KILL
ProtectSystem=strict
ReadWritePaths=$state -$templates -$jail
ProtectHome=read-only
PrivateTmp=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectHostname=yes
RestrictNamespaces=mnt ipc uts
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
UNIT
}
PKGS=(qemu-system-x86 qemu-utils caddy debootstrap busybox-static kmod e2fsprogs nftables
      openssh-server openssh-client git curl socat iproute2 cpio zstd xz-utils ca-certificates procps psmisc
      util-linux passwd  # setpriv and useradd: git runs as its own unprivileged user
      bubblewrap  # bubblewrap (+ setpriv above): QEMU runs unprivileged in its own mount view
      systemd  # systemd-analyze: test/unit/systemd-unit.test.ts checks fcm.service
      chromium    # chromium: the web console's browser test (headless)
      dnsmasq-base  # dnsmasq-base: the DNS server custom-domain verification is tested against (no service)
      python3  # python3: makes the sealed memfd a template RAM image is shared through (drivers/qemu/template-ram.ts)
      python3-venv   # the deploy benchmark's host-PaaS baseline builds a venv on the host
      fish   # fish: the CLI's fish completion is tested in the real shell
      postgresql)  # postgresql: FCM_DATABASE_URL's store is tested against throwaway clusters (initdb, Unix socket only)

if [[ $(id -u) == 0 ]]; then
  missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    say "Installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Caddy is the HTTPS front. Debian's caddy.service serves /etc/caddy/Caddyfile and
  # would overwrite API-loaded routes on restart; caddy-api.service (--resume) is the
  # one meant for API configuration — the daemon re-applies every route anyway.
  # fcm.service runs the daemon; KillMode=process because VMs (QEMU/Firecracker and
  # console holders) are detached children that must survive daemon restarts.
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    systemctl disable --now caddy >/dev/null 2>&1 || true
    systemctl enable --now caddy-api >/dev/null 2>&1 || say "could not enable caddy-api.service"
    # ProtectSystem=strict: the daemon can write only where ReadWritePaths= says, and those must exist.
    for d in "$(fcm_env FCM_STATE_DIR)" "$(fcm_env FCM_TEMPLATES_DIR)" "$(fcm_env FCM_FIRECRACKER_CHROOT_BASE)"; do
      [[ -n $d ]] && mkdir -p -m 0700 "$d"
    done
    mkdir -p -m 0700 /var/lib/fcm
    fcm_unit "$(command -v node)" "$(pwd)/dist/api/cli/main.js" > /etc/systemd/system/fcm.service
    systemctl daemon-reload
  fi
  # git push over SSH through the host's own OpenSSH (daemon/ssh-setup.sh says how).
  bash daemon/ssh-setup.sh
else
  say "Not root: skipping Debian packages and the base image (host tests will skip)"
fi

stamp=node_modules/.fcm-lock-stamp
if [[ ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
  say "Installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund >&2
  cp package-lock.json "$stamp"
fi

if [[ $(id -u) == 0 ]]; then
  rootfs/build.sh >/dev/null
fi

say "Building TypeScript"
npx tsc -p tsconfig.build.json && chmod +x dist/api/cli/main.js
