"""static_server.py: what a static site serves and what it never does (dotfiles,
listings, paths outside the tree), over a real socket on loopback."""

import http.client
import http.server
import os
import tempfile
import threading
import unittest

import guesttest  # noqa: F401  (puts rootfs/guest on sys.path)
import static_server


class StaticServerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        root = os.path.join(self.tmp.name, "site")
        files = {"index.html": "<h1>home</h1>", "about/index.html": "about", "style.css": "b{}",
                 ".env": "SECRET=1", ".git/config": "x", "docs/a.txt": "a", "404.html": "<p>gone</p>"}
        for name, data in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
            with open(os.path.join(root, name), "w") as f:
                f.write(data)
        with open(os.path.join(self.tmp.name, "outside.txt"), "w") as f:
            f.write("outside")
        os.symlink(os.path.join(self.tmp.name, "outside.txt"), os.path.join(root, "link.txt"))
        handler = lambda *a, **kw: static_server.Handler(*a, directory=root, **kw)  # noqa: E731
        static_server.Handler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.addCleanup(self.httpd.server_close)
        self.addCleanup(self.httpd.shutdown)

    def get(self, path, method="GET"):
        c = http.client.HTTPConnection("127.0.0.1", self.httpd.server_address[1], timeout=10)
        c.request(method, path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, r.getheader("content-type"), r.getheader("location"), body

    def test_files_and_directory_indexes(self):
        self.assertEqual(self.get("/")[::3], (200, b"<h1>home</h1>"))
        self.assertEqual(self.get("/")[1], "text/html")
        self.assertEqual(self.get("/style.css")[:2], (200, "text/css"))
        self.assertEqual(self.get("/about/")[::3], (200, b"about"))
        self.assertEqual(self.get("/about")[:3], (301, None, "/about/"))
        self.assertEqual(self.get("/index.html?x=1")[0], 200)
        self.assertEqual(self.get("/", "HEAD")[::3], (200, b""))

    def test_never_dotfiles_listings_or_outside_the_tree(self):
        for path in ("/.env", "/.git/config", "/docs/", "/../outside.txt", "/%2e%2e/outside.txt", "/link.txt",
                     "/missing", "/%ff", "/a%00b"):
            status, ctype, _, body = self.get(path)
            self.assertEqual((status, body), (404, b"<p>gone</p>"), path)
            self.assertEqual(ctype, "text/html; charset=utf-8")
        self.assertEqual(self.get("/", "POST")[0], 405)


if __name__ == "__main__":
    unittest.main()
