"""The old release's kept-alive connections at a release switch.

After the switch (switch.py) new connections go to the new web process, but a
connection a client keeps alive stays with the old one: Caddy keeps its upstream
connections open, and would have the old version answer on them until the old
process is stopped DRAIN_S later (measured: a Node.js app's old version served for
~2.5 s after its deploy had said it was live; Python's http.server closes after
every answer and was not affected).

So, during the drain, every connection to the old web port that has carried a request
since the switch (it received bytes after the switch: the client reused it, so its
answer before the switch was complete) and whose last request has been answered (data
went out after the last data came in, nothing left to read or to send) is shut down
for reading in the app's own socket (pidfd_getfd, then shutdown(SHUT_RD)): the app
reads end-of-file, as when a client closes an idle kept-alive connection, and closes
the connection itself (a FIN, not a reset: no error in the app's log). The client's
next request then opens a new connection, which the switch sends to the new release.
A connection with a request in flight is left alone and looked at again; one still
busy at the end of the drain gets the SIGTERM the whole old release gets, as before.

Why only after a request since the switch: from the kernel's side, a response being
streamed (server-sent events, a chunked answer written piece by piece) looks idle
between its writes, and Node.js's http server ends the connection at once when it
reads end-of-file, cutting such a response short (measured: curl got 2 of 5 chunks,
"transfer closed with outstanding read data remaining"). An HTTP/1.1 client sends
nothing while an answer is still coming, so a connection that received bytes after
the switch had its earlier answer complete. The cost: a connection the client reuses
after the switch gets one answer from the old release before it is closed (each
connection of the client's pool at most once, unless the tie below).

Left: a request the client sends in the instant between the check and the
shutdown finds the connection closing, as with any server's idle timeout (HTTP
clients retry a GET on a reused connection that was closed: Go's, which Caddy uses, does). Times in
tcp_info are in jiffies: a response and the next request in the same tick look
busy, and are looked at again at the next request.
"""

import ctypes
import fcntl
import os
import socket
import struct
import time

SYS_PIDFD_GETFD = 438  # the same number on x86_64 and the generic syscall table (arm64)
TCP_ESTABLISHED, TCP_LISTEN = 1, 10
SIOCINQ, SIOCOUTQ = 0x541B, 0x5411
# struct tcp_info (linux/tcp.h): tcpi_bytes_received is the u64 at 128 (Linux 4.1+).
BYTES_RECEIVED, TCP_INFO_LEN = 128, 136
_libc = ctypes.CDLL(None, use_errno=True)


def family(pid):
    """`pid` and its descendants (a supervised process and what it started: `npm start`'s
    node, a server's worker processes), through /proc's children lists; those that are
    gone are left out."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:  # gone
            continue
        pids.append(p)
        for tid in tasks:
            try:
                with open(f"/proc/{p}/task/{tid}/children", "rb") as f:
                    todo.extend(int(c) for c in f.read().split())
            except OSError:
                continue
    return pids


def _socket_fds(pid):
    fds = []
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return fds
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            fds.append((int(name), target))
    return fds


def _getfd(pidfd, fd):
    dup = _libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
    if dup < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return dup


def _queued(sock, request):
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0"))[0]


def _connections(port, pids):
    """(socket inode, duplicate socket) of each TCP socket bound to local `port` in
    `pids` (listeners included); each duplicate is closed when the caller moves on."""
    seen = set()
    for pid in pids:
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # gone
            continue
        try:
            for fd, inode in _socket_fds(pid):
                if inode in seen:
                    continue
                seen.add(inode)
                try:
                    sock = socket.socket(fileno=_getfd(pidfd, fd))
                except OSError:  # closed meanwhile, or not a socket any more
                    continue
                try:
                    try:
                        ours = (sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM
                                and sock.getsockname()[1] == port)
                    except OSError:
                        ours = False
                    if ours:
                        yield inode, sock
                finally:
                    sock.close()  # the duplicate only: the app's descriptor stays open
        finally:
            os.close(pidfd)


def _tcp_info(sock):
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_LEN)


def received(port, pids):
    """At the switch: the bytes each established connection on `port` of `pids` has
    received so far, by socket inode (close_idle's `since`)."""
    out = {}
    for inode, sock in _connections(port, pids):
        try:
            info = _tcp_info(sock)
        except OSError:
            continue
        if info[0] == TCP_ESTABLISHED:
            out[inode] = struct.unpack_from("Q", info, BYTES_RECEIVED)[0]
    return out


def close_idle(port, pids, since):
    """One pass over the sockets of `pids`: shuts down for reading every established
    connection on local `port` that received bytes after `since` (received() at the
    switch; a connection not in it counts from 0; None: none does) and has no request
    in flight.
    Returns (closed, left, backlog): connections shut down now, connections left (a
    request in flight, or nothing asked since the switch), connections waiting in the
    listener's queue (they reached the old process before the switch and are still to
    be accepted)."""
    closed = left = backlog = 0
    for inode, sock in _connections(port, pids):
        try:
            info = _tcp_info(sock)
            state = info[0]
            if state == TCP_LISTEN:
                backlog += struct.unpack_from("I", info, 24)[0]  # tcpi_unacked: the accept queue
                continue
            if state != TCP_ESTABLISHED:
                continue
            asked = since is not None and struct.unpack_from("Q", info, BYTES_RECEIVED)[0] > since.get(inode, 0)
            sent_ago, recv_ago = struct.unpack_from("I", info, 44)[0], struct.unpack_from("I", info, 52)[0]
            if asked and sent_ago < recv_ago and _queued(sock, SIOCINQ) == 0 and _queued(sock, SIOCOUTQ) == 0:
                sock.shutdown(socket.SHUT_RD)
                closed += 1
            else:
                left += 1
        except OSError:
            continue
    return closed, left, backlog


def drain(port, pid, seconds, since, every_s=0.025):
    """Until `seconds` have passed: closes the kept-alive connections on `port` of
    process `pid` and its descendants that were asked again after the switch (`since`:
    received() then) as they become idle. Returns early (True) once nothing is
    connected to the port nor waiting to be accepted, twice in a row (or the process is
    gone); else False."""
    deadline = time.monotonic() + seconds
    pids, pids_at = [], 0.0
    quiet = 0
    while True:
        now = time.monotonic()
        if now - pids_at > 0.2:  # processes come and go rarely
            pids, pids_at = family(pid), now
        if not pids:
            return True
        try:
            closed, waiting, backlog = close_idle(port, pids, since)
        except Exception:  # never worse than the plain drain
            closed, waiting, backlog = 0, 1, 0
        quiet = quiet + 1 if closed == waiting == backlog == 0 else 0
        if quiet >= 2:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(every_s, left))
