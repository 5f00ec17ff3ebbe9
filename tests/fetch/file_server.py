"""A scripted HTTP/1.1 file server in a thread: the "other side" for the http source's tests.

Each path answers a list of `Reply` in turn (the last one repeats), so a test writes "500, then
200" as ``[Reply(500), Reply(200, body)]``. A reply can lie about its length, send only part of
its body and then drop the connection, or hold mid-body until the test releases it (a fetcher
killed mid-stream).
"""

from __future__ import annotations

import collections
import dataclasses
import http.server
import threading
from typing import Self


@dataclasses.dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    #: The Content-Length header sent; ``len(body)`` when None; -1: none, the body ends when the
    #: connection closes.
    content_length: int | None = None
    #: Send only this many body bytes, then close the connection.
    send: int | None = None
    #: After the ``send`` bytes, wait for this event before closing.
    hold: threading.Event | None = None
    #: Honour ``Range: bytes=N-`` (with ``If-Range`` against the reply's ETag) with a 206.
    ranges: bool = False


class FileServer:
    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.calls: collections.Counter[str] = collections.Counter()
        self.request_headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with owner._lock:
                    count = owner.calls[self.path]
                    owner.calls[self.path] += 1
                    owner.request_headers.append({k.lower(): v for k, v in self.headers.items()})
                    replies = owner.routes.get(self.path) or [Reply(404, b"no such file")]
                reply = replies[min(count, len(replies) - 1)]
                start = self._range_start(reply)
                if start is not None:
                    total = len(reply.body)
                    reply = dataclasses.replace(
                        reply,
                        status=206,
                        body=reply.body[start:],
                        headers={**reply.headers, "Content-Range": f"bytes {start}-{total - 1}/{total}"},
                    )
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                length = len(reply.body) if reply.content_length is None else reply.content_length
                if length >= 0:
                    self.send_header("Content-Length", str(length))
                else:
                    self.send_header("Connection", "close")
                self.end_headers()
                body = reply.body if reply.send is None else reply.body[: reply.send]
                self.wfile.write(body)
                self.wfile.flush()
                if reply.hold is not None:
                    reply.hold.wait(60)
                if reply.send is not None or reply.content_length not in (None, len(reply.body)):
                    self.close_connection = True

            def _range_start(self, reply: Reply) -> int | None:
                asked = self.headers.get("Range", "")
                if not (reply.ranges and reply.status == 200 and asked.startswith("bytes=") and asked.endswith("-")):
                    return None
                if self.headers.get("If-Range") not in (None, reply.headers.get("ETag")):
                    return None  # the file changed: send it whole
                return int(asked.removeprefix("bytes=").removesuffix("-"))

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

