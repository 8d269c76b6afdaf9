"""fcm placeholder page: answers every request on the app port (the seed's "port",
default 8000) with "<hostname> is running — git push to deploy" while no app is
deployed.

Started by busybox init through `respawn --while-exists /app/current`, so it does not
start while /app/current exists, and it exits by itself within a second once
/app/current appears. The first deploy does not need the port: the agent redirects
new connections to the app's own port (nftables) and then creates /app/current, so
this process only has to finish what it already accepted: one request per
connection (Connection: close), and requests in flight are completed before exit.
"""

import html
import http.server
import json
import os
import select
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves it out

from leanhttp import RequestHandler  # noqa: E402

DEFAULT_PORT = 8000
SEED = "/run/fcm/seed.json"  # {"port": ...}: where the VM's HTTP traffic goes
DEPLOYED = "/app/current"


def port():
    try:
        with open(SEED, encoding="utf-8") as f:
            value = json.load(f).get("port")
    except (OSError, ValueError, AttributeError):
        return DEFAULT_PORT
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536  # as agent.app_settings
    return value if ok else DEFAULT_PORT


def page():
    name = html.escape(socket.gethostname())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:18px/1.5 system-ui,sans-serif;margin:20vh auto;max-width:36em;padding:0 1em;color:#222}}
code{{background:#f3f3f3;padding:.1em .3em;border-radius:3px}}</style></head>
<body><h1>{name} is running</h1>
<p><code>git push</code> to deploy.</p></body></html>
""".encode()


class Handler(RequestHandler):  # http.server's, with a lighter request parser (leanhttp.py)
    server_version = "fcm-placeholder"
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: an answer is written as its headers, then its body; with Nagle on, the body
    # waited for the client's ACK of the headers, which Linux delays (40 ms and more, 100-160 ms
    # was seen on a first answer after a create).
    disable_nagle_algorithm = True
    timeout = 5  # a client that never sends its request cannot hold up the exit

    def do_GET(self):
        body = page()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def log_message(self, fmt, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for requests in flight
    allow_reuse_address = True
    timeout = 1.0  # handle_request() returns at least once a second


def main():
    with Server(("0.0.0.0", port()), Handler) as server:
        while not os.path.exists(DEPLOYED):
            server.handle_request()
        # Connections still in the accept queue came before the switch: answer them
        # (new ones already go to the app) instead of resetting them on close.
        while select.select([server.socket], [], [], 0.05)[0]:
            server.handle_request()


if __name__ == "__main__":
    main()
