"""The web process of a static site (buildpacks.py `static`: an index.html at the top of
the tree and no Procfile web process): serves the release directory (the working
directory the supervisor starts it in) on $PORT.

What it serves, and what it does not:
  - regular files under the directory, with a Content-Type from the name; a directory
    answers with its index.html (a path without its trailing slash is redirected, so
    relative links in the page resolve), never with a listing;
  - nothing whose path has a segment starting with '.' (.git, .env, .python-version):
    404, as for anything missing; a 404.html at the top is the body of every 404;
  - nothing outside the directory: symlinks are followed only when they resolve inside;
  - GET and HEAD only (anything else: 405).
No caching headers beyond Last-Modified (http.server's conditional GET): a push
replaces the whole site.
"""

import http.server
import os
import posixpath
import sys
import urllib.parse


class Handler(http.server.SimpleHTTPRequestHandler):
    server_version = "fcm-static"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body are two writes: no Nagle wait for the ACK in between

    def send_head(self):
        try:
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path, errors="strict")
        except (UnicodeDecodeError, ValueError):
            return self.not_found()
        parts = [p for p in posixpath.normpath(path).split("/") if p]
        if "\0" in path or any(p.startswith(".") for p in parts):
            return self.not_found()
        root = os.path.realpath(self.directory)
        target = os.path.realpath(os.path.join(root, *parts))
        if target != root and not target.startswith(root + os.sep):
            return self.not_found()
        if os.path.isdir(target):
            if not path.endswith("/"):
                self.send_response(301)
                self.send_header("Location", path + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            target = os.path.join(target, "index.html")
        if not os.path.isfile(target):
            return self.not_found()
        # http.server's own send_head does the conditional GET, type and length, of the
        # file resolved here (a plain file path: nothing left for it to decide)
        self.path = urllib.parse.quote("/" + os.path.relpath(target, root).replace(os.sep, "/"))
        return super().send_head()

    def list_directory(self, path):
        return self.not_found()

    def not_found(self):
        page = os.path.join(self.directory, "404.html")
        body = b"Not found\n"
        ctype = "text/plain; charset=utf-8"
        if os.path.isfile(page) and not os.path.islink(page):
            with open(page, "rb") as f:
                body, ctype = f.read(1 << 20), "text/html; charset=utf-8"
        self.send_response(404)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return None

    def do_method_not_allowed(self):
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_method_not_allowed

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


def main():
    port = int(os.environ.get("PORT", "8000"))
    directory = os.getcwd()
    handler = lambda *a, **kw: Handler(*a, directory=directory, **kw)  # noqa: E731
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    with http.server.ThreadingHTTPServer(("0.0.0.0", port), handler) as httpd:
        sys.stderr.write(f"serving {directory} on port {port}\n")
        httpd.serve_forever()


if __name__ == "__main__":
    main()
