#!/usr/bin/env bash
# Boot smoke test for the image built by build.sh, under QEMU microvm, inside a private
# network namespace (bridge + tap live there; nothing is routed or NATed to the host).
#
# usage: rootfs/boot-smoke.sh [IMAGE_DIR]     (root; default $FCM_CACHE_DIR/images/current)
# env:   FCM_SMOKE_ACCEL     tcg (default) or kvm
#        FCM_SMOKE_TIMEOUT   seconds to wait for each readiness step (default 90)
#        FCM_SMOKE_KEEP=1    leave the work dir (console log) in place
#
# Devices as the daemon lays them out: vda root (qcow2 overlay), vdb seed (read-only,
# carries the agent token), vdc swap.
# Boot 1 (fresh overlay): /health and :8000 answer, other agent routes need the
# seed's token, the fs grew to the overlay size, swap is on, the console runs a shell with a 80x24 tty; QMP system_powerdown (ACPI
# power button) makes QEMU exit. Boot 2 (same overlay): machine-id persisted, new
# boot id, a killed agent is respawned, the placeholder leaves :8000 while
# /app/current exists; QMP send-key ctrl-alt-delete (i8042) makes QEMU exit. Prints timings,
# exits non-zero on the first failure, and always removes the netns and QEMU.
set -euo pipefail

image=$(readlink -f "${1:-${FCM_CACHE_DIR:-/var/cache/fcm}/images/current}")
accel=${FCM_SMOKE_ACCEL:-tcg}
timeout_s=${FCM_SMOKE_TIMEOUT:-90}
for f in vmlinuz initrd.img rootfs.ext4; do
  [[ -f $image/$f ]] || { echo "boot-smoke: $image/$f missing (run rootfs/build.sh)" >&2; exit 2; }
done
for tool in qemu-system-x86_64 qemu-img socat curl ip; do
  command -v "$tool" >/dev/null || { echo "boot-smoke: $tool not installed" >&2; exit 2; }
done

ns=fcmrootfs-$$
work=$(mktemp -d /tmp/fcm-boot-smoke.XXXXXX)
host_ip=172.30.99.1 guest_ip=172.30.99.2
vm_id=smoke-$$ hostname=smoke-vm

cleanup() {
  local rc=$?
  if [[ -s $work/qemu.pid ]]; then
    kill "$(cat "$work/qemu.pid")" 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
  if [[ $rc != 0 && -n ${log:-} && -f $log ]]; then
    echo "boot-smoke: FAILED; console log tail ($log):" >&2
    tail -n 30 "$log" | tr -d '\r' >&2
  fi
  if [[ ${FCM_SMOKE_KEEP:-0} == 1 || $rc != 0 ]]; then
    echo "boot-smoke: work dir kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
fail() { echo "boot-smoke: FAIL: $*" >&2; exit 1; }
ok() { echo "boot-smoke: ok: $*"; }
in_ns() { ip netns exec "$ns" "$@"; }

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add br0 type bridge
ip -n "$ns" addr add "$host_ip/24" dev br0
ip -n "$ns" link set br0 up
ip -n "$ns" tuntap add dev tap0 mode tap
ip -n "$ns" link set tap0 master br0 up

t=$(now_ms)
qemu-img create -q -f qcow2 -F raw -b "$image/rootfs.ext4" "$work/disk.qcow2" 2G
ok "qcow2 overlay created in $(( $(now_ms) - t )) ms"
truncate -s 512M "$work/swap.raw"
# the daemon's seed disk (vdb, read-only): magic line, one JSON line, NUL padding
token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
printf 'FCMSEED1\n{"vmId":"%s","hostname":"%s","agentToken":"%s","port":8000}\n' \
  "$vm_id" "$hostname" "$token" > "$work/seed.raw"
truncate -s 4096 "$work/seed.raw"

tsc_khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
append="console=ttyS0 reboot=k panic=-1 root=/dev/vda rw quiet${FCM_SMOKE_APPEND:+ $FCM_SMOKE_APPEND}"
append+=" fcm.vm=$vm_id fcm.hostname=$hostname fcm.ip=$guest_ip/24 fcm.gw=$host_ip"
[[ $accel == tcg ]] && append+=" tsc_early_khz=$tsc_khz tsc=reliable no_timer_check"

start_vm() { # <boot number>: console output goes to console-<n>.log
  rm -f "$work/qemu.pid" "$work/console.sock" "$work/qmp.sock"
  log=$work/console-$1.log
  : > "$log"
  local accel_opt=$accel
  [[ $accel == tcg ]] && accel_opt=tcg,tb-size=64
  local argv=(qemu-system-x86_64
    -M microvm,acpi=on,rtc=on,isa-serial=on,pit=off,pic=off
    -accel "$accel_opt" -cpu max -smp 1 -m 1024
    -nodefaults -no-user-config -nographic -no-reboot
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" -append "$append"
    -drive "id=root,file=$work/disk.qcow2,format=qcow2,if=none,discard=unmap"
    -device virtio-blk-device,drive=root
    -drive "id=seed,file=$work/seed.raw,format=raw,if=none,readonly=on"
    -device virtio-blk-device,drive=seed
    -drive "id=swap,file=$work/swap.raw,format=raw,if=none"
    -device virtio-blk-device,drive=swap
    -netdev tap,id=net0,ifname=tap0,script=no,downscript=no
    -device virtio-net-device,netdev=net0,mac=02:fc:00:00:99:02
    -object rng-random,id=rng0,filename=/dev/urandom
    -device virtio-rng-device,rng=rng0
    -device i8042
    -chardev "socket,id=ser0,path=$work/console.sock,server=on,wait=off,logfile=$log"
    -serial chardev:ser0
    -qmp "unix:$work/qmp.sock,server=on,wait=off"
    -daemonize -pidfile "$work/qemu.pid")
  printf '%q ' "${argv[@]}" > "$work/qemu-argv.txt"
  in_ns "${argv[@]}"
}

wait_http() { # <url> <what>: prints ms since $t0 when it answers
  local deadline=$(( $(now_ms) + timeout_s * 1000 ))
  while (( $(now_ms) < deadline )); do
    if in_ns curl -fsS -m 2 -o "$work/http.out" "$1" 2>/dev/null; then
      echo $(( $(now_ms) - t0 ))
      return 0
    fi
    kill -0 "$(cat "$work/qemu.pid")" 2>/dev/null || fail "QEMU exited while waiting for $2"
    sleep 0.1
  done
  fail "$2 did not answer within ${timeout_s}s"
}

console() { # <command>: type it on the serial console
  printf '%s\r' "$1" | socat -t 0.5 - "UNIX-CONNECT:$work/console.sock" >/dev/null
}

console_expect() { # <command> <marker regex>: run until marker appears; prints the line
  local try line
  for try in 1 2 3 4 5 6; do
    console "$1"
    for _ in $(seq 1 50); do
      line=$(tr -d '\r' < "$log" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' \
        | grep -E "$2" | grep -v 'echo' | tail -n1 || true)
      [[ -n $line ]] && { echo "$line"; return 0; }
      sleep 0.1
    done
  done
  fail "console: no output matching '$2' for: $1"
}

qmp() { # <command json>
  printf '{"execute":"qmp_capabilities"}\n%s\n' "$1" \
    | socat -t 1 - "UNIX-CONNECT:$work/qmp.sock" > "$work/qmp.out"
  grep -q '"error"' "$work/qmp.out" && fail "QMP $1: $(cat "$work/qmp.out")"
  return 0
}

wait_exit() { # <what>: prints ms until the QEMU process is gone
  local pid t1 deadline
  pid=$(cat "$work/qemu.pid")
  t1=$(now_ms)
  deadline=$(( t1 + 30000 ))
  while kill -0 "$pid" 2>/dev/null; do
    (( $(now_ms) < deadline )) || fail "$1: QEMU still running after 30 s"
    sleep 0.05
  done
  rm -f "$work/qemu.pid"
  echo $(( $(now_ms) - t1 ))
}

# ------------------------------------------------------------------ boot 1
t0=$(now_ms)
start_vm 1
ms=$(wait_http "http://$guest_ip:7611/health" "agent /health")
grep -q "\"vmId\": \"$vm_id\"" "$work/http.out" || fail "/health: wrong vmId: $(cat "$work/http.out")"
boot1=$(sed -n 's/.*"bootId": "\([^"]*\)".*/\1/p' "$work/http.out")
ok "boot 1: agent /health after $ms ms: $(cat "$work/http.out")"
ms=$(wait_http "http://$guest_ip:8000/" "placeholder :8000")
grep -q "$hostname is running" "$work/http.out" || fail "placeholder page: $(cat "$work/http.out")"
ok "boot 1: placeholder :8000 after $ms ms"

# everything but /health needs the seed's agent token
code() { in_ns curl -s -o /dev/null -w '%{http_code}' -m 5 "$@"; }
[[ $(code "http://$guest_ip:7611/nope") == 401 ]] || fail "agent answered without a token"
[[ $(code -H "Authorization: Bearer wrong" "http://$guest_ip:7611/nope") == 401 ]] \
  || fail "agent accepted a wrong token"
[[ $(code -H "Authorization: Bearer $token" "http://$guest_ip:7611/nope") == 404 ]] \
  || fail "agent rejected the seed's token"
ok "agent: 401 without/with a wrong token, 404 with the seed's token"

line=$(console_expect 'echo "SMOKE-$((6*7)) tty=$(tty) size=$(stty size | tr " " x) pgid=$(ps -o pgid= $$ | tr -d " ")/$(ps -o tpgid= $$ | tr -d " ")"' \
  '^SMOKE-42 ')
ok "console: $line"
[[ $line == *"tty=/dev/ttyS0 size=24x80"* ]] || fail "console tty/size: $line"
line=$(console_expect 'echo "STATE swaps=$(tail -n +2 /proc/swaps | cut -d" " -f1 | tr "\n" ,) root_mib=$(( $(df -k --output=size / | tail -1) / 1024 )) mem_used_mib=$(free -m | awk "/^Mem/ {print \$3}") machine_id=$(cat /etc/machine-id)"' \
  '^STATE swaps=')
ok "state: $line"
[[ $line == *"swaps=/dev/vdc, "* ]] || fail "swap not active on /dev/vdc (vdb is the seed)"
root_mib=$(sed -n 's/.*root_mib=\([0-9]*\).*/\1/p' <<< "$line")
(( root_mib > 1900 )) || fail "root fs not grown to ~2 GiB (${root_mib} MiB)"
machine_id=$(sed -n 's/.*machine_id=\([0-9a-f]*\).*/\1/p' <<< "$line")
[[ ${#machine_id} == 32 ]] || fail "machine-id not generated"

qmp '{"execute":"system_powerdown"}'
ms=$(wait_exit "system_powerdown")
grep -q 'fcm-init: stopping services' "$log" || fail "powerdown did not run rc.shutdown"
ok "boot 1: QMP system_powerdown -> QEMU exited in $ms ms (graceful)"

# ------------------------------------------------------------------ boot 2
t0=$(now_ms)
start_vm 2
ms=$(wait_http "http://$guest_ip:7611/health" "agent /health")
boot2=$(sed -n 's/.*"bootId": "\([^"]*\)".*/\1/p' "$work/http.out")
[[ -n $boot2 && $boot2 != "$boot1" ]] || fail "boot id did not change"
ok "boot 2 (same overlay): agent /health after $ms ms"
line=$(console_expect 'echo "AGAIN machine_id=$(cat /etc/machine-id)"' '^AGAIN machine_id=')
[[ $line == "AGAIN machine_id=$machine_id" ]] || fail "machine-id changed across reboots: $line"
ok "machine-id persisted across boots"

# services are respawned; the placeholder gives :8000 up while /app/current exists
console 'pkill -f /usr/lib/fcm/agent.py; mkdir -p /app/current'
t0=$(now_ms)
sleep 0.5
ms=$(wait_http "http://$guest_ip:7611/health" "respawned agent")
ok "agent killed -> answering again after $ms ms"
deadline=$(( $(now_ms) + 10000 ))
while in_ns curl -fsS -m 1 -o /dev/null "http://$guest_ip:8000/" 2>/dev/null; do
  (( $(now_ms) < deadline )) || fail "placeholder still serving :8000 with /app/current present"
  sleep 0.2
done
ok "placeholder released :8000 $(( $(now_ms) - t0 )) ms after /app/current appeared"
console 'rmdir /app/current'
t0=$(now_ms)
ms=$(wait_http "http://$guest_ip:8000/" "placeholder after /app/current removed")
ok "placeholder back on :8000 $ms ms after /app/current was removed"

qmp '{"execute":"send-key","arguments":{"keys":[{"type":"qcode","data":"ctrl"},{"type":"qcode","data":"alt"},{"type":"qcode","data":"delete"}]}}'
ms=$(wait_exit "ctrl-alt-delete")
grep -q 'fcm-init: stopping services' "$log" || fail "ctrl-alt-del did not run rc.shutdown"
ok "boot 2: QMP send-key ctrl-alt-delete -> QEMU exited in $ms ms (graceful)"
echo "boot-smoke: PASS"
