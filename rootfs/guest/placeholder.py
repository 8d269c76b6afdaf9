"""fcm placeholder page: answers every request on :8000 with "<hostname> is running —
git push to deploy" while no app is deployed.

Started by busybox init through `respawn --while-exists /app/current`, so it does not
start while /app/current exists, and it exits by itself within a second once
/app/current appears: a deploy creates /app/current, waits for :8000 to be free and
starts the app's web process there.
"""

import html
import http.server
import os
import socket

PORT = 8000
DEPLOYED = "/app/current"


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


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "fcm-placeholder"
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = page()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def log_message(self, fmt, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    timeout = 1.0  # handle_request() returns at least once a second


def main():
    with Server(("0.0.0.0", PORT), Handler) as server:
        while not os.path.exists(DEPLOYED):
            server.handle_request()


if __name__ == "__main__":
    main()
