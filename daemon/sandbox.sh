#!/usr/bin/env bash
# Runs the daemon by hand *inside a network namespace*, so that nothing it
# does (bridge, taps, guests, nft rules) touches this machine's real network:
#   sudo npm run sandbox
# The namespace is linked to the host by a veth pair on 10.250.0.0/30 only
# (no default route, no NAT); talk to the daemon with:
#   export FCM_HOST=http://10.250.0.2:7777 FCM_TOKEN=$(sudo cat /var/lib/fcm-sandbox/.token)
# Ctrl-C stops the daemon (VMs keep running, as with a real daemon); run with
# --down to delete every VM and the namespace.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
NS=fcm-sandbox
STATE=${FCM_STATE_DIR:-/var/lib/fcm-sandbox}

if [[ ${1:-} == --down ]]; then
  for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  ip link del fcm-sbx-host 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$STATE"
  echo "sandbox removed"
  exit 0
fi

if ! ip netns list | grep -qw "$NS"; then
  ip netns add "$NS"
  ip link add fcm-sbx-host type veth peer name fcm-sbx-ns
  ip link set fcm-sbx-ns netns "$NS"
  ip addr add 10.250.0.1/30 dev fcm-sbx-host
  ip link set fcm-sbx-host up
  ip -n "$NS" addr add 10.250.0.2/30 dev fcm-sbx-ns
  ip -n "$NS" link set fcm-sbx-ns up
  ip -n "$NS" link set lo up
fi
# Caddy (the HTTPS front) inside the namespace too, with its own data dir.
mkdir -p "$STATE/caddy"
if ! ip netns exec "$NS" curl -s -o /dev/null http://127.0.0.1:2019/config/; then
  ip netns exec "$NS" env HOME="$STATE/caddy" XDG_DATA_HOME="$STATE/caddy/data" XDG_CONFIG_HOME="$STATE/caddy/config" \
    setsid caddy run >"$STATE/caddy/caddy.log" 2>&1 < /dev/null &
fi
echo "-----> Daemon in namespace $NS; from this host:"
echo "       export FCM_HOST=http://10.250.0.2:7777 FCM_TOKEN=\$(sudo cat $STATE/.token)"
echo "       VM URLs: curl --resolve <host>:443:10.250.0.2 --cacert $STATE/ca.pem https://<name>.10-250-0-2.sslip.io/"
echo "       HTTPS API: curl --resolve fcm.10-250-0-2.sslip.io:443:10.250.0.2 --cacert $STATE/ca.pem https://fcm.10-250-0-2.sslip.io/v1/health"
# The plain listener on the namespace's veth (the default is loopback only), for the FCM_HOST above;
# the API is also served through the sandbox's Caddy at https://fcm.10-250-0-2.sslip.io
# (CA: $STATE/ca.pem). FCM_PUBLIC_URL keeps the git URLs on the plain listener, which needs no DNS.
exec ip netns exec "$NS" env FCM_STATE_DIR="$STATE" FCM_NAT=false FCM_PUBLIC_IP=10.250.0.2 FCM_TLS=internal \
  FCM_HOST_BIND=0.0.0.0 FCM_PUBLIC_URL=http://10.250.0.2:7777 \
  node dist/api/cli/main.js daemon "$@"
