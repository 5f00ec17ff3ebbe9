"""A load generator that remembers every request: when it started, when it ended, how it ended.

wrk reports totals; a fault measurement needs the timeline (when did answers stop, when did they
come back, what failed and how). So this is a small asyncio HTTP/1.1 client over raw streams:
N keep-alive connections, each sending the same POST back to back until the deadline, each
outcome appended to memory. Stdlib only, one thread; bounded in time (deadline + per-request
timeout) and in memory (one small tuple per request).

Outcome kinds: an HTTP status ("200", "500", ...), "wrong-body" (2xx, but not the chain's
answer), "refused" (connect refused), "reset" (connection reset or closed before a full response),
"timeout" (no full response within the per-request timeout), "error:<Exception>" (anything else).
After a connection-level failure a connection waits `reconnect_pause_s` before reconnecting, so a
dead port is not hammered in a tight loop (which would inflate "sent" and starve the servers of
CPU); every attempt still counts.
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping
from urllib.parse import urlsplit

OK = "200"
TIMEOUT, REFUSED, RESET, WRONG_BODY = "timeout", "refused", "reset", "wrong-body"


@dataclass(frozen=True)
class Sample:
    """One request: start and end on the monotonic clock, and how it ended."""

    start: float
    end: float
    outcome: str

    @property
    def ok(self) -> bool:
        return self.outcome == OK or (self.outcome.isdigit() and 200 <= int(self.outcome) < 300)


@dataclass
class Timeline:
    """Everything one load run saw, in completion order."""

    t0: float  # monotonic time the load started
    t_end: float = 0.0  # monotonic time the last connection stopped sending
    samples: list[Sample] = field(default_factory=list)


class _Closed(Exception):
    """The server closed the connection before a full response."""


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, server wants the connection closed); handles Content-Length and chunked."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise _Closed from exc
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    close = headers.get("connection", "").lower() == "close"
    try:
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(p[:-2] for p in parts)
        else:
            body, close = await reader.read(), True  # body runs to the end of the connection
    except asyncio.IncompleteReadError as exc:
        raise _Closed from exc
    return status, body, close


class Load:
    """`connections` keep-alive connections POSTing `body` to `url` until a deadline."""

    def __init__(self, url: str, body: bytes, headers: Mapping[str, str],
                 check: Callable[[bytes], None], *, timeout_s: float = 5.0,
                 reconnect_pause_s: float = 0.01) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = [f"POST {path} HTTP/1.1", f"Host: {self._host}:{self._port}",
                f"Content-Length: {len(body)}", "Connection: keep-alive",
                *(f"{k}: {v}" for k, v in headers.items())]
        self._request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        self._check = check
        self._known_good: set[bytes] = set()  # bodies already checked once: later a cheap compare
        self.timeout_s = timeout_s
        self.reconnect_pause_s = reconnect_pause_s

    def _judge(self, status: int, body: bytes) -> str:
        if not 200 <= status < 300:
            return str(status)
        if body in self._known_good:
            return OK
        try:
            self._check(body)
        except Exception:  # noqa: BLE001 - any check failure is a wrong answer
            return WRONG_BODY
        if len(self._known_good) < 16:
            self._known_good.add(body)
        return OK

    async def run(self, connections: int, duration_s: float, timeline: Timeline) -> None:
        """Send until `timeline.t0 + duration_s`; requests in flight then may finish (bounded)."""
        deadline = timeline.t0 + duration_s
        try:
            await asyncio.gather(*(self._connection(deadline, timeline) for _ in range(connections)))
        finally:
            timeline.t_end = deadline

    async def _connection(self, deadline: float, timeline: Timeline) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            while (start := time.monotonic()) < deadline:
                if reader is not None and writer is not None and (reader.at_eof() or writer.is_closing()):
                    writer.transport.abort()  # closed by the server while idle: reconnect, as pooled clients do
                    reader = writer = None
                outcome, keep = OK, False
                try:
                    async with asyncio.timeout(self.timeout_s):
                        if writer is None:
                            reader, writer = await asyncio.open_connection(self._host, self._port)
                        assert reader is not None
                        writer.write(self._request)
                        status, body, close = await _read_response(reader)
                    outcome, keep = self._judge(status, body), not close
                except TimeoutError:
                    outcome = TIMEOUT
                except ConnectionRefusedError:
                    outcome = REFUSED
                except (ConnectionResetError, BrokenPipeError, _Closed):
                    outcome = RESET
                except OSError as exc:
                    outcome = f"error:{type(exc).__name__}"
                timeline.samples.append(Sample(start, time.monotonic(), outcome))
                if not keep:
                    if writer is not None:
                        writer.transport.abort()
                    reader = writer = None
                if outcome in (REFUSED, RESET) or outcome.startswith("error:"):
                    await asyncio.sleep(self.reconnect_pause_s)
        finally:
            if writer is not None:
                writer.transport.abort()


@dataclass(frozen=True)
class Summary:
    """What a user of the system saw during one run."""

    sent: int
    ok: int
    failed: int
    failed_by_kind: dict[str, int]
    outage_s: float  # longest window without a successful response
    outage_from_s: float  # where that window starts, seconds after the load started
    recovered: bool  # a successful response came after the longest window
    p99_before_ms: float  # successful responses that started before the fault
    p99_fault_ms: float  # successful responses that started in the fault window
    max_fault_ms: float  # slowest request (any outcome) that started in the fault window
    ok_rps: float


def _p99(values: list[float]) -> float:
    if not values:
        return math.nan
    values = sorted(values)
    return values[min(len(values) - 1, math.ceil(0.99 * len(values)) - 1)]


def summarize(tl: Timeline, fault_at_s: float, fault_window_s: float) -> Summary:
    """Counts, the longest outage over the whole load, and latency before and during the fault."""
    by_kind: dict[str, int] = {}
    for s in tl.samples:
        if not s.ok:
            by_kind[s.outcome] = by_kind.get(s.outcome, 0) + 1
    ok_ends = sorted(s.end for s in tl.samples if s.ok)
    # Gaps between consecutive successes, framed by the load's start and end (an outage that
    # never ended runs to the end of the load).
    edges = [tl.t0, *ok_ends, max(tl.t_end, ok_ends[-1] if ok_ends else tl.t_end)]
    gap, gap_from = max(((b - a, a) for a, b in zip(edges, edges[1:])), default=(0.0, tl.t0))
    recovered = any(e >= gap_from + gap - 1e-9 for e in ok_ends)  # the window ended in a success
    f0, f1 = tl.t0 + fault_at_s, tl.t0 + fault_at_s + fault_window_s
    before = [(s.end - s.start) * 1e3 for s in tl.samples if s.ok and s.start < f0]
    during = [s for s in tl.samples if f0 <= s.start < f1]
    n_ok = len(ok_ends)
    return Summary(
        sent=len(tl.samples), ok=n_ok, failed=len(tl.samples) - n_ok,
        failed_by_kind=dict(sorted(by_kind.items(), key=lambda kv: -kv[1])),
        outage_s=gap, outage_from_s=gap_from - tl.t0, recovered=recovered,
        p99_before_ms=_p99(before), p99_fault_ms=_p99([(s.end - s.start) * 1e3 for s in during if s.ok]),
        max_fault_ms=max(((s.end - s.start) * 1e3 for s in during), default=math.nan),
        ok_rps=n_ok / (tl.t_end - tl.t0) if tl.t_end > tl.t0 else 0.0,
    )
