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
PKGS=(qemu-system-x86 qemu-utils caddy debootstrap busybox-static kmod e2fsprogs nftables
      openssh-server openssh-client git curl socat iproute2 cpio zstd xz-utils ca-certificates procps psmisc
      util-linux passwd  # setpriv and useradd: git runs as its own unprivileged user
      chromium    # chromium: the web console's browser test (headless)
      dnsmasq-base)  # dnsmasq-base: the DNS server custom-domain verification is tested against (no service)

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
    cat > /etc/systemd/system/fcm.service <<UNIT
[Unit]
Description=fcm daemon (apps in microVMs)
After=network-online.target caddy-api.service
Wants=network-online.target caddy-api.service

[Service]
ExecStart=$(command -v node) $(pwd)/dist/api/cli/main.js daemon
Restart=on-failure
KillMode=process
EnvironmentFile=-/etc/fcm/env

[Install]
WantedBy=multi-user.target
UNIT
    systemctl daemon-reload
  fi
  # git push over SSH (root@<server>:<app>.git) through the host's own OpenSSH: for root only,
  # sshd asks fcm for a key by its fingerprint (AuthorizedKeysCommand) instead of fcm editing an
  # authorized_keys file. Every key fcm returns is `restrict`ed (no shell, pty or forwarding) to
  # fcm's git-only forced command, which setpriv starts as the git user. Root's own
  # ~/.ssh/authorized_keys keeps working as before; root key logins must be allowed
  # (PermitRootLogin prohibit-password, Debian's default, or forced-commands-only if no admin logs
  # in as root). sshd runs the command only from a root-owned path no one else can write, which
  # the state dir is, and as the git user (AuthorizedKeysCommandUser). See daemon/deploys.md.
  # (no /etc/fcm/env is normal: `|| true` keeps set -e/pipefail from ending the script here)
  setting() { { sed -n "s/^$1=//p" /etc/fcm/env 2>/dev/null || true; } | tail -n1; }
  state=$(setting FCM_STATE_DIR)
  state=${state:-${FCM_STATE_DIR:-/var/lib/fcm}}
  # git, the forced command, the pre-receive hook and the key lookup run as this unprivileged
  # system user, never root (the daemon creates it too when it is missing).
  gituser=$(setting FCM_GIT_USER)
  gituser=${gituser:-${FCM_GIT_USER:-fcm-git}}
  if ! id -u "$gituser" >/dev/null 2>&1; then
    say "Creating the git user $gituser"
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --comment 'fcm git pushes' "$gituser"
  fi
  mkdir -p /etc/ssh/sshd_config.d
  # sshd's privilege separation directory: ssh.service creates it when it starts, so where sshd
  # never ran it is missing, and `sshd -t` fails for that reason alone.
  mkdir -p /run/sshd
  snippet=/etc/ssh/sshd_config.d/fcm.conf
  want="# fcm: git push over SSH (written by fcm's daemon/host-setup.sh; see daemon/deploys.md)
Match User root
    AuthorizedKeysCommand $state/git/bin/fcm-ssh-keys %u %f
    AuthorizedKeysCommandUser $gituser"
  if [[ ! -f $snippet ]] || [[ $(cat "$snippet") != "$want" ]]; then
    printf '%s\n' "$want" > "$snippet"
    if ! /usr/sbin/sshd -t 2>/dev/null; then
      rm -f "$snippet"
      say "sshd rejected $snippet (removed it): git push over SSH will not work; HTTPS push still does"
    elif command -v systemctl >/dev/null && systemctl is-active --quiet ssh 2>/dev/null; then
      systemctl reload ssh || say "could not reload sshd; restart it to enable git push over SSH"
    fi
  fi
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
