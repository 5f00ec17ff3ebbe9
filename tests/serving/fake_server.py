"""A scripted HTTP/1.1 server in a thread, the "other side" for stub and transport tests.

Paths choose the behaviour: ``/echo`` answers the request body, ``/flaky/<key>/<n>`` answers 503
to the first ``n`` calls of ``key``, ``/slow`` sleeps 1 s, ``/status/<code>`` answers that code
with an error body, ``/drop`` answers and then closes the keep-alive connection without saying so
(what a server's keep-alive timer does), ``/reset`` reads the request and resets the connection
without answering (a server killed mid-request), ``/result`` answers a canned JSON value.
`LateServer` starts listening on its port only after a delay (a restarting dependency).
"""

from __future__ import annotations

import collections
import http.server
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Self

from infra_chains.public_types import RemoteErrorDetail


class FakeServer:
    def __init__(self, port: int = 0) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.headers: list[dict[str, str]] = []
        self.bodies: list[bytes] = []
        self.result: object = None
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with owner.lock:
                    owner.calls[self.path] += 1
                    count = owner.calls[self.path]
                    owner.headers.append({k.lower(): v for k, v in self.headers.items()})
                    owner.bodies.append(body)
                parts = self.path.strip("/").split("/")
                if parts[0] == "flaky" and count <= int(parts[2]):
                    self._answer(503, b"busy", "text/plain")
                elif parts[0] == "slow":
                    time.sleep(1.0)
                    self._answer(200, b"null")
                elif parts[0] == "status":
                    code = int(parts[1])
                    detail = RemoteErrorDetail(remote_name="Fake", exception_cls_name="ValueError",
                                               exception_module_name="builtins",
                                               exception_message="fake failure", status_code=code)
                    self._answer(code, json.dumps({"error": detail.model_dump()}).encode())
                elif parts[0] == "drop":
                    self._answer(200, body)
                    self.close_connection = True
                elif parts[0] == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                elif parts[0] == "result":
                    self._answer(200, json.dumps(owner.result).encode())
                else:
                    self._answer(200, body, self.headers.get("Content-Type", "application/json"))

            def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class LateServer:
    """A `FakeServer` on a known port that starts listening only ``delay_sec`` after entering."""

    def __init__(self, delay_sec: float) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.delay_sec = delay_sec
        self.server: FakeServer | None = None
        self._timer = threading.Timer(delay_sec, self._start)

    def _start(self) -> None:
        self.server = FakeServer(self.port).__enter__()

    def __enter__(self) -> Self:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self._timer.join()
        if self.server is not None:
            self.server.__exit__()


def running() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server
