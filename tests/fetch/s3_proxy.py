"""A recording HTTP proxy in front of moto's S3 server, with a knob to cut downloads short.

moto plays S3 itself; the proxy lets a test count the object downloads a fetch made (a second
fetch must make none) and make GetObject bodies stop mid-stream, as a dying server or a dropped
connection would.
"""

from __future__ import annotations

import http.client
import http.server
import threading
import urllib.parse
from typing import Self

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class S3Proxy:
    def __init__(self, upstream_port: int) -> None:
        self.requests: list[tuple[str, str]] = []
        self.authorization: list[str | None] = []
        #: Cut this many GetObject bodies longer than ``cut_after`` bytes short; -1: every one.
        self.cut_gets = 0
        self.cut_after = 10
        #: Flip the first byte of every GetObject body (bytes damaged on the way).
        self.corrupt_gets = False
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                upstream.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
                response = upstream.getresponse()
                data = response.read()
                upstream.close()
                is_get_object = self.command == "GET" and owner.is_object_path(self.path)
                with owner._lock:
                    owner.requests.append((self.command, self.path))
                    owner.authorization.append(self.headers.get("Authorization"))
                    cut = is_get_object and response.status == 200 and owner.cut_gets != 0 and len(data) > owner.cut_after
                    if cut and owner.cut_gets > 0:
                        owner.cut_gets -= 1
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                if self.command == "HEAD":  # the object's length, though no body follows
                    self.send_header("Content-Length", response.getheader("Content-Length") or "0")
                    self.end_headers()
                    return
                if is_get_object and owner.corrupt_gets and data:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if cut:
                    self.wfile.write(data[: owner.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                else:
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @staticmethod
    def is_object_path(path: str) -> bool:
        """A path-style object URL (``/bucket/key``) without a listing query."""
        parts = urllib.parse.urlsplit(path)
        return parts.path.count("/") >= 2 and "list-type" not in parts.query and not parts.path.endswith("/")

    def object_gets(self) -> int:
        with self._lock:
            return sum(1 for method, path in self.requests if method == "GET" and self.is_object_path(path))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
