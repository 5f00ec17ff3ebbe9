"""Load generation: wrk for latency/throughput, a stdlib keep-alive client for big payloads.

wrk (one C thread) is the load generator so the client costs little next to the servers; its Lua
`done()` prints one JSON line, so nothing depends on wrk's human-readable output format.
"""
from __future__ import annotations

import http.client
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

LUA = Path(__file__).with_name("post.lua")


@dataclass(frozen=True)
class Request:
    """One POST to replay: where, what, and how to check the answer once."""

    url: str
    body: bytes
    headers: Mapping[str, str]
    check: Callable[[bytes], None] = field(default=lambda _b: None)


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors_status: int  # responses with status >= 400
    errors_socket: int  # connect/read/write/timeout

    @property
    def errors(self) -> int:
        return self.errors_status + self.errors_socket

    @property
    def attempts(self) -> int:
        """Requests that got a response (any status) plus those that failed on the socket."""
        return self.requests + self.errors_socket

    @property
    def ok_rps(self) -> float:
        """Throughput of successful (non-error) responses: failures are not throughput."""
        return (self.requests - self.errors_status) / self.duration_s if self.duration_s else 0.0


def wrk_available() -> str | None:
    """None if wrk can be used, else the reason it cannot."""
    return None if shutil.which("wrk") else "wrk not found (apt-get install -y wrk)"


def run_wrk(req: Request, connections: int, duration_s: float, timeout_s: float = 10.0) -> WrkResult:
    """Run wrk with one thread and `connections` keep-alive connections for `duration_s`."""
    with tempfile.NamedTemporaryFile(prefix="bench-body-", delete=False) as f:
        f.write(req.body)
        body_path = f.name
    try:
        argv = [
            "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s",
            f"--timeout={max(1, round(timeout_s))}s", "--latency", "-s", str(LUA), req.url,
            "--", body_path, req.headers.get("Content-Type", "application/json"),
            req.headers.get("Accept", ""),
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + timeout_s + 30)
    finally:
        Path(body_path).unlink(missing_ok=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (rc={proc.returncode}): {(proc.stderr or proc.stdout)[-400:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    err = data["errors"]
    dur = data["duration_us"] / 1e6
    lat = data["latency_us"]
    return WrkResult(
        requests=data["requests"], duration_s=dur, rps=data["requests"] / dur if dur else 0.0,
        p50_ms=lat["p50"] / 1e3, p90_ms=lat["p90"] / 1e3, p99_ms=lat["p99"] / 1e3,
        max_ms=lat["max"] / 1e3, errors_status=err["status"],
        errors_socket=err["connect"] + err["read"] + err["write"] + err["timeout"],
    )


class Client:
    """A single keep-alive HTTP/1.1 connection (stdlib), reconnecting once if the server closed it."""

    def __init__(self, url: str, timeout_s: float = 60.0) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            try:
                self._conn.request("POST", self.path, body=body, headers=dict(headers))
                resp = self._conn.getresponse()
                return resp.status, resp.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def call_ok(req: Request, timeout_s: float = 60.0) -> bytes:
    """One request on a fresh connection; raises unless it is 2xx and passes `req.check`."""
    client = Client(req.url, timeout_s)
    try:
        status, body = client.post(req.body, req.headers)
    finally:
        client.close()
    if not 200 <= status < 300:
        raise RuntimeError(f"HTTP {status} from {req.url}: {body[:300]!r}")
    req.check(body)
    return body


def wait_ready(req: Request, timeout_s: float, is_alive: Callable[[], bool] = lambda: True) -> float:
    """Poll `req` until it succeeds; returns the monotonic time of the first success."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not is_alive():
            raise RuntimeError(f"process exited before becoming ready (last error: {last})")
        try:
            call_ok(req, timeout_s=5.0)
            return time.monotonic()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last = exc
            time.sleep(0.02)
    raise TimeoutError(f"not ready after {timeout_s:.0f}s: {last}")


def sequential_ms(req: Request, max_requests: int, max_s: float, warmup: int = 2) -> list[float]:
    """Latencies (ms) of sequential requests on one keep-alive connection, bounded in count and time."""
    client = Client(req.url)
    try:
        for _ in range(warmup):
            status, body = client.post(req.body, req.headers)
            if not 200 <= status < 300:
                raise RuntimeError(f"HTTP {status}: {body[:300]!r}")
            req.check(body)
        out: list[float] = []
        deadline = time.monotonic() + max_s
        while len(out) < max_requests and (time.monotonic() < deadline or len(out) < 3):
            t0 = time.perf_counter()
            status, body = client.post(req.body, req.headers)
            out.append((time.perf_counter() - t0) * 1e3)
            if not 200 <= status < 300:
                raise RuntimeError(f"HTTP {status}: {body[:300]!r}")
        return out
    finally:
        client.close()


def median(xs: list[float]) -> float:
    return statistics.median(xs)
