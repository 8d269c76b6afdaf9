"""fcm guest identity: makes a VM restored from a snapshot its own machine.

The daemon creates VMs fast by restoring copies of one pre-booted *template*
guest (QEMU migration state + a copy-on-write disk). Every copy wakes up as the
template: same hostname, machine-id, no address, and — worst — the same kernel
random state. This process fixes that.

Run once by busybox init (::once:). It reads /run/fcm/seed.json (written by
rc.init from the seed disk):
- not a template (a normal cold boot): exit at once; rc.init did everything.
- a template: wait until the agent and the web port answer, drop caches (so the
  saved state is small; the template boots with init_on_free=1 so freed pages
  are zero and cost nothing in the snapshot), print `fcm-identity:
  template-ready` on the console (the daemon waits for that line, then saves
  the VM), and poll the seed disk with O_DIRECT every 20 ms. A restored copy
  gets its own seed disk; when the seed's vmId changes, apply it: clock,
  entropy (credited and the CRNG reseeded, so siblings never share random
  numbers), hostname, machine-id, MAC, address, route, resolv.conf,
  /run/fcm/{boot.env,seed.json} (the agent re-reads them), a gratuitous ARP —
  then print `fcm-identity: restored as <vmId>` and exit.

Forks (fcm fork) use the same path on a running VM: the daemon asks the
parent's agent to arm a watcher (ForkWatch, POST /v1/identity/watch), which
polls the seed disk the same way for a bounded time; the daemon then captures
the parent. In the parent the seed never changes and the watcher ends (disarmed,
or at its deadline); in the fork, restored from that capture with a seed of its
own, the watcher's copy sees the new vmId and applies it exactly as a pool clone
does.

Seed JSON fields used here: vmId, hostname, agentToken, port, template,
net {ip, prefix, gateway, dns[]}, mac, nowMs, entropy (base64).
"""
import base64
import ctypes
import fcntl
import json
import mmap
import os
import re
import socket
import struct
import sys
import time
import uuid

SEED_JSON = "/run/fcm/seed.json"
BOOT_ENV = "/run/fcm/boot.env"
MAGIC = b"FCMSEED1\n"
POLL_S = 0.02
RNDADDENTROPY = 0x40085203
RNDRESEEDCRNG = 0x5207

HOSTNAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
IPV4_RE = re.compile(r"^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$")
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
VMID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def console(msg):
    try:
        with open("/dev/console", "w") as f:
            f.write(f"fcm-identity: {msg}\n")
    except OSError:
        pass
    print(f"fcm-identity: {msg}", flush=True)


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            v = json.load(f)
        return v if isinstance(v, dict) else {}
    except (OSError, ValueError):
        return {}


def read_env(path=BOOT_ENV):
    env = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                k, sep, v = line.rstrip("\n").partition("=")
                if sep:
                    env[k] = v
    except OSError:
        pass
    return env


def write_atomic(path, data, mode=0o644):
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def answers(port, path="/"):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
            return s.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def find_seed_device():
    for n in "bcdefghijklmnopqrstuvwxyz":
        dev = f"/dev/vd{n}"
        try:
            with open(dev, "rb") as f:
                if f.read(len(MAGIC)) == MAGIC:
                    return dev
        except OSError:
            continue
    return None


class SeedReader:
    """O_DIRECT reads, so a restored copy sees its own seed file, not the template's page cache."""

    def __init__(self, dev):
        self.fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
        self.buf = mmap.mmap(-1, 4096)

    def read(self):
        os.lseek(self.fd, 0, os.SEEK_SET)
        n = os.readv(self.fd, [self.buf])
        data = bytes(self.buf[:n]).rstrip(b"\0")
        if not data.startswith(MAGIC):
            return None
        try:
            v = json.loads(data[len(MAGIC):].split(b"\n", 1)[0])
        except ValueError:
            return None
        return v if isinstance(v, dict) else None


def reseed_entropy(seed):
    raw = base64.b64decode(seed.get("entropy") or "", validate=False)[:256]
    if len(raw) < 16:
        raw = os.urandom(32)  # still mixes in something; virtio-rng adds more
    with open("/dev/urandom", "wb", buffering=0) as f:
        fcntl.ioctl(f, RNDADDENTROPY, struct.pack("ii", len(raw) * 8, len(raw)) + raw)
        try:
            fcntl.ioctl(f, RNDRESEEDCRNG)
        except OSError:
            pass


SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
SIOCSIFADDR, SIOCSIFNETMASK, SIOCSIFHWADDR, SIOCADDRT = 0x8916, 0x891C, 0x8924, 0x890B
IFF_UP, RTF_UP, RTF_GATEWAY, ARPHRD_ETHER = 0x1, 0x1, 0x2, 1


class SockaddrIn(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("port", ctypes.c_ushort), ("addr", ctypes.c_char * 4), ("zero", ctypes.c_char * 8)]


class RtEntry(ctypes.Structure):
    _fields_ = [
        ("pad1", ctypes.c_ulong), ("dst", SockaddrIn), ("gateway", SockaddrIn), ("genmask", SockaddrIn),
        ("flags", ctypes.c_ushort), ("pad2", ctypes.c_short), ("pad3", ctypes.c_ulong), ("pad4", ctypes.c_void_p),
        ("metric", ctypes.c_short), ("dev", ctypes.c_char_p), ("mtu", ctypes.c_ulong), ("window", ctypes.c_ulong),
        ("irtt", ctypes.c_ushort),
    ]


def configure_eth0(ip, prefix, gw, mac):
    """MAC, address, link up and default route with ioctls: no fork/exec (~0.3-0.6 s each under TCG)."""
    ifname = b"eth0"
    sin = lambda a: struct.pack("HH4s8x", socket.AF_INET, 0, socket.inet_aton(a))
    mask = socket.inet_ntoa(struct.pack("!I", (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sh14x", ifname, 0))[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh14x", ifname, flags & ~IFF_UP))
        fcntl.ioctl(s, SIOCSIFHWADDR, struct.pack("16sH6s8x", ifname, ARPHRD_ETHER, bytes.fromhex(mac.replace(":", ""))))
        fcntl.ioctl(s, SIOCSIFADDR, struct.pack("16s", ifname) + sin(ip))
        fcntl.ioctl(s, SIOCSIFNETMASK, struct.pack("16s", ifname) + sin(mask))
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh14x", ifname, flags | IFF_UP))
        rt = RtEntry()
        rt.dst = SockaddrIn(socket.AF_INET, 0, socket.inet_aton("0.0.0.0"))
        rt.genmask = SockaddrIn(socket.AF_INET, 0, socket.inet_aton("0.0.0.0"))
        rt.gateway = SockaddrIn(socket.AF_INET, 0, socket.inet_aton(gw))
        rt.flags = RTF_UP | RTF_GATEWAY
        try:
            fcntl.ioctl(s, SIOCADDRT, bytes(rt))
        except FileExistsError:
            pass


def gratuitous_arp(ip, mac):
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind(("eth0", 0))
        m = bytes.fromhex(mac.replace(":", ""))
        a = socket.inet_aton(ip)
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, m, a, b"\0" * 6, a)
        s.send(b"\xff" * 6 + m + b"\x08\x06" + arp)
        s.close()
    except OSError:
        pass


STEPS = []


def step(name, t=[None]):
    now = time.monotonic()
    STEPS.append(f"{name}={int((now - (t[0] or now)) * 1000)}")
    t[0] = now


def apply(seed, env):
    t0 = time.monotonic()
    step("start")
    vm = seed.get("vmId", "")
    host = seed.get("hostname", "")
    net = seed.get("net") or {}
    ip, gw, prefix = net.get("ip", ""), net.get("gateway", ""), net.get("prefix")
    dns = [d for d in (net.get("dns") or []) if isinstance(d, str) and IPV4_RE.match(d)]
    mac = seed.get("mac", "")
    if not (VMID_RE.match(vm) and HOSTNAME_RE.match(host) and IPV4_RE.match(ip) and IPV4_RE.match(gw)
            and isinstance(prefix, int) and 8 <= prefix <= 30 and MAC_RE.match(mac)):
        console("restored seed is invalid; keeping the template identity")
        return False
    now_ms = seed.get("nowMs")
    if isinstance(now_ms, int) and now_ms > 0:
        try:
            time.clock_settime(time.CLOCK_REALTIME, now_ms / 1000)
        except OSError:
            pass
    step("clock")
    reseed_entropy(seed)
    step("entropy")
    with open("/proc/sys/kernel/hostname", "w") as f:
        f.write(host)
    configure_eth0(ip, prefix, gw, mac)
    step("net")
    gratuitous_arp(ip, mac)
    step("arp")
    # What the agent answers with lives on tmpfs: written first, so the VM is reachable as itself at once.
    env.update({"FCM_VM": vm, "FCM_HOSTNAME": host, "FCM_IP": f"{ip}/{prefix}", "FCM_GW": gw, "FCM_DNS": ",".join(dns)})
    write_atomic(BOOT_ENV, "".join(f"{k}={v}\n" for k, v in env.items()))
    write_atomic(SEED_JSON, json.dumps(seed), 0o600)
    step("run")
    write_atomic("/etc/hostname", host + "\n")
    write_atomic("/etc/hosts", f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{ip}\t{host}\n")
    write_atomic("/etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
    write_atomic("/etc/resolv.conf", "".join(f"nameserver {d}\n" for d in dns))
    step("etc")
    console(f"restored as {vm} in {int((time.monotonic() - t0) * 1000)} ms ({' '.join(STEPS)})")
    return True


class ForkWatch:
    """Watches the seed disk for another vmId (a fork restored from this guest), until stop() or the deadline.

    arm() returns once the seed was read (the current vmId), so a capture taken after it holds a running watcher.
    The deadline counts guest monotonic time, which stands still while the machine is paused or saved.
    """

    def __init__(self, seconds, dev=None, apply_fn=None):
        import threading
        self.seconds = seconds
        self.dev = dev
        self.apply_fn = apply_fn or (lambda seed: apply(seed, read_env()))
        self.stopped = threading.Event()
        self.armed = threading.Event()
        self.vm = None
        self.error = None
        self.thread = threading.Thread(target=self.run, name="fork-watch", daemon=True)

    def arm(self, timeout=10):
        self.thread.start()
        self.armed.wait(timeout)
        if self.error or not self.armed.is_set():
            self.stop()
            raise OSError(self.error or "the seed disk could not be read")
        return self.vm

    def stop(self):
        self.stopped.set()

    def run(self):
        try:
            dev = self.dev or find_seed_device()
            if not dev:
                raise OSError("no seed device")
            reader = SeedReader(dev)
            first = reader.read() or {}
            self.vm = first.get("vmId")
            if not self.vm:
                raise OSError("the seed has no vmId")
        except (OSError, ValueError) as e:
            self.error = str(e)
            self.armed.set()
            return
        self.armed.set()
        deadline = time.monotonic() + self.seconds
        while not self.stopped.is_set() and time.monotonic() < deadline:
            cur = reader.read()
            if cur and cur.get("vmId") and cur.get("vmId") != self.vm:
                self.apply_fn(cur)
                return
            self.stopped.wait(POLL_S)


def main():
    seed = read_json(SEED_JSON)
    if not seed.get("template"):
        return 0
    env = read_env()
    agent_port = int(env.get("FCM_AGENT_PORT") or 7611)
    web_port = int(seed.get("port") or 8000)
    deadline = time.monotonic() + 180
    while not (answers(agent_port, "/health") and answers(web_port)):
        if time.monotonic() > deadline:
            console("template services did not come up")
            return 1
        time.sleep(0.1)
    os.sync()
    for path, value in (("/proc/sys/vm/drop_caches", "3"), ("/proc/sys/vm/compact_memory", "1")):
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError:
            pass
    dev = find_seed_device()
    if not dev:
        console("no seed device; cannot watch for a restore")
        return 1
    reader = SeedReader(dev)
    template_vm = seed.get("vmId")
    console("template-ready")
    while True:
        cur = reader.read()
        if cur and cur.get("vmId") and cur.get("vmId") != template_vm:
            return 0 if apply(cur, env) else 1
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main())
