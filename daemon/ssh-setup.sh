#!/usr/bin/env bash
# git push over SSH for fcm, set up on the host's own OpenSSH (run as root by
# daemon/host-setup.sh; idempotent). Settings: FCM_STATE_DIR and FCM_GIT_USER from
# /etc/fcm/env, else the environment, else the defaults. Must work on a host where
# sshd never ran (no /run/sshd yet): test/host/ssh-fresh-host.test.ts runs it there.
set -euo pipefail

say() { echo "-----> $*" >&2; }

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
# A host whose sshd never ran (openssh-server installed but ssh.service not started): start it,
# or git push over SSH has nobody to answer. Only where systemd runs; elsewhere say so.
if [[ -f $snippet ]] && ! pgrep -x sshd >/dev/null 2>&1; then
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    systemctl enable --now ssh >/dev/null 2>&1 || say "could not start ssh.service: git push over SSH needs a running sshd"
  else
    say "sshd is not running: start it (/usr/sbin/sshd) for git push over SSH"
  fi
fi
