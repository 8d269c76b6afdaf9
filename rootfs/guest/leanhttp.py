"""Request parsing for the guest's HTTP servers (agent.py, placeholder.py), lighter than
http.server's own.

BaseHTTPRequestHandler parses a request's headers with http.client.parse_headers, i.e.
the email package's feedparser (a generator pipeline, regexes, a Message object and its
policy), and formats the Date header through datetime. Under QEMU TCG every machine
restored from a template translates anew each piece of guest code it runs, and a
claim's requests to the agent and the placeholder ran all of that: ~15k translated
blocks of the interpreter among the ~46k a pooled machine's VMM holds after a claim and
a minute idle, host memory per idle VM (#20). RequestHandler parses the request line
exactly as http.server does (the same checks and answers: 400, 414, 431, 505,
HTTP/0.9 GET, keep-alive, `Expect: 100-continue`) and the headers with plain string
operations into Headers, and writes the Date header with time.gmtime. One difference: a
header line that is no field (no colon, whitespace before it, an obsolete folded line)
is answered 400 (RFC 9112 5.1, 5.2), where the email parser ended the headers there or
folded it in silently.
"""

import http.server
import time
from http import HTTPStatus

MAX_LINE = 65536  # as http.client: a longer header line is 431
MAX_HEADERS = 100  # as http.client: more header lines are 431
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Headers:
    """A request's header fields: names case-insensitive; of a repeated field the first value
    counts (as HTTPMessage.get); values without the whitespace around them."""

    __slots__ = ("_fields", "_first")

    def __init__(self, fields=()):
        self._fields = list(fields)
        self._first = {}
        for name, value in self._fields:
            self._first.setdefault(name.lower(), value)

    def get(self, name, default=None):
        return self._first.get(name.lower(), default)

    def __getitem__(self, name):  # as HTTPMessage: None when absent
        return self._first.get(name.lower())

    def __contains__(self, name):
        return name.lower() in self._first

    def items(self):
        return list(self._fields)

    def __len__(self):
        return len(self._fields)


def read_headers(rfile):
    """-> Headers, or the (status, message) to answer with: 431 for a line longer than MAX_LINE or
    more than MAX_HEADERS lines, 400 for a line that is no `name: value` field (a folded line,
    whitespace before the colon, no name)."""
    fields = []
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            return HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long"
        if line in (b"\r\n", b"\n", b""):
            return Headers(fields)
        if len(fields) >= MAX_HEADERS:
            return HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers"
        text = str(line, "iso-8859-1").rstrip("\r\n")
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.strip(" \t"):
            return HTTPStatus.BAD_REQUEST, "Bad header line"
        fields.append((name, value.strip(" \t")))


class RequestHandler(http.server.BaseHTTPRequestHandler):
    def parse_request(self):
        """http.server's parse_request (same results and error answers) with read_headers."""
        self.command = None
        self.request_version = version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if not words:
            return False
        if len(words) >= 3:
            version = words[-1]
            number = version[5:].split(".") if version.startswith("HTTP/") else []
            if len(number) != 2 or not all(n.isdigit() and len(n) <= 10 for n in number):
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad request version (%r)" % version)
                return False
            number = int(number[0]), int(number[1])
            if number >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            if number >= (2, 0):
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "Invalid HTTP version (%s)" % version[5:])
                return False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad request syntax (%r)" % requestline)
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad HTTP/0.9 request type (%r)" % command)
                return False
        self.command, self.path = command, path
        if self.path.startswith("//"):  # as http.server (gh-87389): no scheme-relative paths
            self.path = "/" + self.path.lstrip("/")
        headers = read_headers(self.rfile)
        if not isinstance(headers, Headers):
            self.send_error(*headers)
            return False
        self.headers = headers
        conntype = (headers.get("Connection") or "").lower()
        if conntype == "close":
            self.close_connection = True
        elif conntype == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        if ((headers.get("Expect") or "").lower() == "100-continue"
                and self.protocol_version >= "HTTP/1.1" and self.request_version >= "HTTP/1.1"):
            if not self.handle_expect_100():
                return False
        return True

    def date_time_string(self, timestamp=None):
        """The Date header's value (RFC 9110 IMF-fixdate), as http.server's without datetime."""
        t = time.gmtime(timestamp)
        return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (
            _DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)
