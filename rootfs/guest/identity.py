"""fcm guest identity: makes a VM restored from a snapshot its own machine.

The daemon creates VMs fast by restoring copies of one pre-booted *template*
guest (QEMU migration state + a copy-on-write disk). Every copy wakes up as the
template: same hostname, machine-id, no address, and — worst — the same kernel
random state. This process fixes that.

Run once by busybox init (::once:). It reads /run/fcm/seed.json (written by
rc.init from the seed disk):
- not a template (a normal cold boot): exit at once; rc.init did everything.
- a template: wait until the agent and the web port answer, sync (the template
  boots with init_on_free=1 so freed pages are zero and cost nothing in the
  snapshot; its caches stay, shared by every clone of its RAM image), print `fcm-identity:
  template-ready` on the console (the daemon waits for that line, then saves
  the VM), and poll the seed disk with O_DIRECT every POLL_S. A restored copy
  gets its own seed disk; when the seed's vmId changes, apply it: clock,
  entropy (credited and the CRNG reseeded, so siblings never share random
  numbers), hostname, machine-id, MAC, address, route, resolv.conf,
  /run/fcm/{boot.env,seed.json} (the agent re-reads them), a gratuitous ARP —
  then print `fcm-identity: restored as <vmId>` and sleep for good (linger()).

Warm-pool machines take their identity in two halves (fast-boot.ts). When the
machine enters the pool its seed has `pool: true`: its vmId, MAC, agent token,
entropy, clock and a machine-id, nothing that names a user — it stays on an
isolated tap, with no address. It applies that half, runs once through what a
claim runs (so QEMU has translated that code: under TCG a restored machine
starts with an empty translation cache, and first runs of code cost 10x and
more), prints `fcm-identity: pooled as <vmId>` and keeps polling; the daemon
pauses it there. A claim writes the full seed (same vmId, no `pool`) and
resumes it: only the hostname, address, route, ARP and /run/fcm files are left
to do, and the /etc files after the `restored as` line (nothing serving
needs them first). A paused machine's pending 20 ms sleep resumes where it
stood, so the claim is seen within one poll of the resume.

Forks (fcm fork) use the same path on a running VM: the daemon asks the
parent's agent to arm a watcher (ForkWatch, POST /v1/identity/watch), which
polls the seed disk the same way for a bounded time; the daemon then captures
the parent. In the parent the seed never changes and the watcher ends (disarmed,
or at its deadline); in the fork, restored from that capture with a seed of its
own, the watcher's copy sees the new vmId and applies it exactly as a pool clone
does.

Seed JSON fields used here: vmId, hostname, agentToken, port, template, pool,
net {ip, prefix, gateway, dns[]}, mac, nowMs, entropy (base64).
"""
import base64
import ctypes
import fcntl
import hashlib
import json
import mmap
import os
import re
import signal
import socket
import struct
import sys
import time
import uuid

SEED_JSON = "/run/fcm/seed.json"
BOOT_ENV = "/run/fcm/boot.env"
# /etc/hostname, hosts, resolv.conf and machine-id link into this tmpfs directory (rc.init): a
# restored machine rewrites them without writing ext4, whose write, journal and writeback code
# QEMU would otherwise translate anew in every clone (TCG, #20).
ETC = "/run/fcm/etc"
MAGIC = b"FCMSEED1\n"
POLL_S = 0.02
# A restored or pooled machine polls only while it runs unclaimed (a pooled one is paused a moment
# after it says so): a short interval costs little and is the whole wait a claim sees.
CLAIM_POLL_S = 0.01
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


def etc_file(name):
    """Where /etc/<name> is written: its file in ETC when /etc links there (rc.init), else /etc's own."""
    path = f"/etc/{name}"
    linked = os.path.join(ETC, name)
    return linked if os.path.realpath(path) == linked else path


def machine_id(seed):
    """The VM's machine-id: derived from its agent token (a secret of the VM's, the same at every
    boot, so it persists without being stored; rc.init derives it the same way at a cold boot)."""
    token = seed.get("agentToken")
    if isinstance(token, str) and token:
        return hashlib.sha256(f"fcm-machine-id:{token}".encode()).hexdigest()[:32]
    return uuid.uuid4().hex


def write_atomic(path, data, mode=0o644):
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def answers(port, path="/"):
    """Whether an HTTP server answers on the port. Reads the whole answer: a close with part of it
    unread resets the connection, the server's write fails and it prints a traceback — on a
    restored machine, ~5k blocks of the interpreter's code for QEMU to translate (Python 3.11
    re-parses the source line to mark the error's position), ~2.5 MiB of host memory (#20)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
            head = s.recv(16)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
            return head.startswith(b"HTTP/")
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


SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCGIFADDR = 0x8913, 0x8914, 0x8915
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


def _ifflags(s, ifname):
    return struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sh14x", ifname, 0))[:18])[1]


def _has_ipv4(s, ifname):
    try:
        fcntl.ioctl(s, SIOCGIFADDR, struct.pack("16s16x", ifname))
        return True
    except OSError:  # EADDRNOTAVAIL: none
        return False


def set_mac(mac):
    """eth0's MAC and link up, with ioctls: no fork/exec (~0.3-0.6 s each under TCG). A link that is
    up with no address yet (a template's clone: the template brings eth0 up before its save) takes
    the MAC as it stands (virtio-net changes it live): no link down and up, whose kernel work (device
    open, queues, qdisc, link watch, multicast) every clone's VMM translated anew (TCG, #20). A link
    with an address (a fork of a running VM) still goes down for it, which also drops the parent's
    neighbours and routes."""
    ifname = b"eth0"
    hw = bytes.fromhex(mac.replace(":", ""))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = _ifflags(s, ifname)
        cur = fcntl.ioctl(s, 0x8927, struct.pack("16sH6s8x", ifname, 0, b"\0" * 6))[18:24]  # SIOCGIFHWADDR
        if cur != hw:
            if flags & IFF_UP and not _has_ipv4(s, ifname):
                try:
                    fcntl.ioctl(s, SIOCSIFHWADDR, struct.pack("16sH6s8x", ifname, ARPHRD_ETHER, hw))
                    return
                except OSError:  # EBUSY: a driver without live address changes
                    pass
            if flags & IFF_UP:
                flags &= ~IFF_UP
                fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh14x", ifname, flags))
            fcntl.ioctl(s, SIOCSIFHWADDR, struct.pack("16sH6s8x", ifname, ARPHRD_ETHER, hw))
        if not flags & IFF_UP:
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh14x", ifname, flags | IFF_UP))


def link_up():
    """eth0 up, no address (a template before its save: see set_mac)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = _ifflags(s, b"eth0")
        if not flags & IFF_UP:
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh14x", b"eth0", flags | IFF_UP))


def set_address(ip, prefix, gw):
    """eth0's address and the default route (the link is up: set_mac)."""
    ifname = b"eth0"
    sin = lambda a: struct.pack("HH4s8x", socket.AF_INET, 0, socket.inet_aton(a))
    mask = socket.inet_ntoa(struct.pack("!I", (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, SIOCSIFADDR, struct.pack("16s", ifname) + sin(ip))
        fcntl.ioctl(s, SIOCSIFNETMASK, struct.pack("16s", ifname) + sin(mask))
        rt = RtEntry()
        rt.dst = SockaddrIn(socket.AF_INET, 0, socket.inet_aton("0.0.0.0"))
        rt.genmask = SockaddrIn(socket.AF_INET, 0, socket.inet_aton("0.0.0.0"))
        rt.gateway = SockaddrIn(socket.AF_INET, 0, socket.inet_aton(gw))
        rt.flags = RTF_UP | RTF_GATEWAY
        try:
            fcntl.ioctl(s, SIOCADDRT, bytes(rt))
        except FileExistsError:
            pass


def configure_eth0(ip, prefix, gw, mac):
    set_mac(mac)
    set_address(ip, prefix, gw)


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
    """Records the time since the previous step; "start" begins a new list."""
    now = time.monotonic()
    if name == "start":
        del STEPS[:]
        t[0] = now
        return
    STEPS.append(f"{name}={int((now - t[0]) * 1000)}")
    t[0] = now


def machine_valid(seed):
    return bool(VMID_RE.match(seed.get("vmId", "")) and MAC_RE.match(seed.get("mac", "")))


def name_valid(seed):
    net = seed.get("net") or {}
    prefix = net.get("prefix")
    return bool(HOSTNAME_RE.match(seed.get("hostname", "")) and IPV4_RE.match(net.get("ip", ""))
                and IPV4_RE.match(net.get("gateway", "")) and isinstance(prefix, int) and 8 <= prefix <= 30)


def set_clock(seed):
    now_ms = seed.get("nowMs")
    if isinstance(now_ms, int) and now_ms > 0:
        try:
            time.clock_settime(time.CLOCK_REALTIME, now_ms / 1000)
        except OSError:
            pass


def apply_machine(seed, env):
    """The half of an identity that names no user: clock, entropy, MAC (link up), agent token
    (seed.json: the agent re-reads it), machine-id. A pooled machine has it before any claim."""
    set_clock(seed)
    step("clock")
    reseed_entropy(seed)
    step("entropy")
    set_mac(seed["mac"])
    step("mac")
    env["FCM_VM"] = seed["vmId"]
    write_atomic(BOOT_ENV, "".join(f"{k}={v}\n" for k, v in env.items()))
    write_atomic(SEED_JSON, json.dumps(seed), 0o600)
    write_atomic(etc_file("machine-id"), machine_id(seed) + "\n", 0o444)
    step("files")


def apply_name(seed, env, t0):
    """The half a claim (or a fork) brings: hostname, address, route, ARP, /run/fcm, then /etc."""
    vm, host = seed["vmId"], seed["hostname"]
    net = seed["net"]
    ip, gw, prefix = net["ip"], net["gateway"], net["prefix"]
    dns = [d for d in (net.get("dns") or []) if isinstance(d, str) and IPV4_RE.match(d)]
    set_hostname(host)
    set_address(ip, prefix, gw)
    step("net")
    gratuitous_arp(ip, seed["mac"])
    step("arp")
    # What the agent answers with lives on tmpfs: written first, so the VM is reachable as itself at once.
    env.update({"FCM_VM": vm, "FCM_HOSTNAME": host, "FCM_IP": f"{ip}/{prefix}", "FCM_GW": gw, "FCM_DNS": ",".join(dns)})
    write_atomic(BOOT_ENV, "".join(f"{k}={v}\n" for k, v in env.items()))
    write_atomic(SEED_JSON, json.dumps(seed), 0o600)
    step("run")
    console(f"restored as {vm} in {int((time.monotonic() - t0) * 1000)} ms ({' '.join(STEPS)})")
    # Nothing that serves reads these first (the placeholder asks the kernel for its name).
    write_etc(host, ip, dns)


def set_hostname(host):
    with open("/proc/sys/kernel/hostname", "w") as f:
        f.write(host)


def write_etc(host, ip, dns):
    write_atomic(etc_file("hostname"), host + "\n")
    write_atomic(etc_file("hosts"), f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{ip}\t{host}\n")
    write_atomic(etc_file("resolv.conf"), "".join(f"nameserver {d}\n" for d in dns))


def apply(seed, env):
    """A whole identity at once: an on-demand restore, a fork, an imported save."""
    t0 = time.monotonic()
    step("start")
    if not (machine_valid(seed) and name_valid(seed)):
        console("restored seed is invalid; keeping the template identity")
        return False
    apply_machine(seed, env)
    apply_name(seed, env, t0)
    return True


def apply_claim(seed, env, pooled_mac):
    """A pooled machine claimed: its machine half is done; the claim brings the name, and fresh clock and entropy."""
    t0 = time.monotonic()
    step("start")
    if not (machine_valid(seed) and name_valid(seed)):
        console("claimed seed is invalid; keeping the pool identity")
        return False
    set_clock(seed)
    reseed_entropy(seed)
    step("entropy")
    if seed["mac"] != pooled_mac:
        set_mac(seed["mac"])
    step("mac")
    apply_name(seed, env, t0)
    return True


def enter_pool(seed, env):
    """The machine half, then a dry run of the claim's code with values that name nobody."""
    t0 = time.monotonic()
    step("start")
    if not machine_valid(seed):
        console("pool seed is invalid; keeping the template identity")
        return False
    apply_machine(seed, env)
    # The claim's code paths, run once here so QEMU has translated them: the kernel hostname and
    # /etc files rewritten with what they hold, a packet socket send (the tap is isolated: the host
    # bridge drops every frame from it), the seed parsed and checked, and the agent and the web port
    # asked over loopback (their request handling, and the guest's TCP stack).
    host = socket.gethostname()
    set_hostname(host)
    gratuitous_arp("0.0.0.0", seed["mac"])
    name_valid({"hostname": "pool", "net": {"ip": "10.0.0.2", "gateway": "10.0.0.1", "prefix": 24}})
    write_etc(host, "127.0.1.1", [d for d in ((seed.get("net") or {}).get("dns") or []) if isinstance(d, str) and IPV4_RE.match(d)])
    agent_port = int(env.get("FCM_AGENT_PORT") or 7611)
    web_port = int(seed.get("port") or 8000)
    for _ in range(2):
        answers(agent_port, "/health")
        answers(web_port)
    step("rehearsal")
    console(f"pooled as {seed['vmId']} in {int((time.monotonic() - t0) * 1000)} ms ({' '.join(STEPS)})")
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
    # Dirty pages written now, so that no clone writes them back (ext4, journal and writeback code
    # for its VMM to translate). The caches stay: every clone maps the template's RAM image copy-on-
    # write, so its page cache, dentries and inodes are shared; dropped, each clone read the files
    # it touched after its restore back from disk into RAM of its own, through code its VMM had to
    # translate (#20).
    try:
        link_up()
    except OSError as e:
        console(f"eth0 not up in the template ({e}); its clones bring it up")
    # First uses that set something up once per process (OpenSSL's fetch of SHA-256 for this
    # default policy — hashlib's import only fetched it for usedforsecurity=False — json's encoder),
    # done here so that a clone runs only their steady path (TCG, #20).
    machine_id(seed)
    json.dumps(seed)
    os.sync()
    dev = find_seed_device()
    if not dev:
        console("no seed device; cannot watch for a restore")
        return 1
    reader = SeedReader(dev)
    template_vm = seed.get("vmId")
    console("template-ready")
    cur = wait_seed(reader, lambda s: s.get("vmId") != template_vm)
    if not cur.get("pool"):
        return 0 if apply(cur, env) else 1
    if not enter_pool(cur, env):
        return 1
    pooled = cur
    claim = wait_seed(reader, lambda s: not s.get("pool") and s.get("vmId") != template_vm)
    if claim.get("vmId") != pooled.get("vmId"):
        return 0 if apply(claim, env) else 1  # not the machine it was pooled as: take all of it
    return 0 if apply_claim(claim, env, pooled.get("mac")) else 1


def wait_seed(reader, wanted):
    while True:
        cur = reader.read()
        if cur and cur.get("vmId") and wanted(cur):
            return cur
        time.sleep(CLAIM_POLL_S)


def linger():
    """Sleeps for good instead of exiting. A restored machine runs whatever it executes after the
    restore through QEMU's translator (its translation cache starts empty and is never given back):
    this interpreter's finalization (~4.5k blocks of its code) and the kernel's process teardown
    (with init_on_free, zeroing every page it frees) cost an idle clone ~2.5 MiB of host memory
    (#20) and turn its pages, until then shared with the template's RAM image, into private
    copies. Asleep, it costs nothing; busybox init never restarts a ::once: entry, and shutdown
    kills it."""
    sys.stdout.flush()
    while True:
        signal.pause()


if __name__ == "__main__":
    # Only a template's guest (and so every machine restored from it) lingers; a cold boot exits at once.
    template = bool(read_json(SEED_JSON).get("template"))
    rc = main()
    if template:
        linger()
    sys.exit(rc)
