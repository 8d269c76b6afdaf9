"""The public app port as an nftables redirect to the live web process.

    table ip fcm {
      chain prerouting { type nat hook prerouting priority dstnat; ... }   # from the host
      chain output     { type nat hook output priority -100; ... }         # local clients
    }
    prerouting: tcp dport <public> redirect to :<web port>
    output:     oif "lo" tcp dport <public> redirect to :<web port>

set_redirect() replaces both rules in one nft transaction (all or nothing). NAT is
decided on a connection's first packet only, so open connections stay with the old
process (conntrack) and new ones go to the new one. The kernel autoloads nf_tables,
nft_chain_nat, nft_redir, nf_nat and nf_conntrack with modprobe on first use
(~1 s under TCG, once per boot).

The transaction goes through libnftables in-process (ctypes): ~20 ms per switch
under TCG, against ~0.4-1 s for exec'ing nft. `nft -f -` is the fallback.
"""

import subprocess
import threading

NFT = "/usr/sbin/nft"
_lock = threading.Lock()
_lib = None
_ctx = None


def script(public_port, target_port):
    lines = [
        "table ip fcm {",
        "  chain prerouting { type nat hook prerouting priority dstnat; policy accept; }",
        "  chain output { type nat hook output priority -100; policy accept; }",
        "}",
        "flush chain ip fcm prerouting",
        "flush chain ip fcm output",
    ]
    if target_port:
        lines += [f"add rule ip fcm prerouting tcp dport {int(public_port)} redirect to :{int(target_port)}",
                  f'add rule ip fcm output oif "lo" tcp dport {int(public_port)} redirect to :{int(target_port)}']
    return "\n".join(lines) + "\n"


def _libnftables():
    global _lib, _ctx
    if _lib is None:
        import ctypes
        lib = ctypes.CDLL("libnftables.so.1")
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        ctx = lib.nft_ctx_new(0)
        if not ctx:
            raise OSError("nft_ctx_new failed")
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        _lib, _ctx = lib, ctx
    return _lib, _ctx


def run(text):
    with _lock:
        try:
            lib, ctx = _libnftables()
        except (OSError, ImportError, AttributeError):
            r = subprocess.run([NFT, "-f", "-"], input=text.encode(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            if r.returncode != 0:
                raise RuntimeError(f"nft: {r.stdout.decode('utf-8', 'replace').strip()}") from None
            return
        if lib.nft_run_cmd_from_buffer(ctx, text.encode()) != 0:
            err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode("utf-8", "replace").strip()
            raise RuntimeError(f"nft: {err or 'failed'}")


def set_redirect(public_port, target_port):
    """Points public_port at target_port (None: no redirect)."""
    run(script(public_port, target_port))
