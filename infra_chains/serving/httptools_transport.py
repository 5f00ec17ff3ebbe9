"""`HttptoolsTransport`: the stubs' default async transport (see `transport` for the choice).

A minimal HTTP/1.1 keep-alive client on asyncio protocols, with httptools' (llhttp) response
parser; it knows whether a request went over a reused connection, so `StaleConnection` is exact.

Streamed answers (`post_stream`, for streaming endpoints) hand the body to a `_StreamedBody` chunk
by chunk; the connection stops reading from its socket while more than `STREAM_HIGH_WATER`
bytes wait for the reader, so a fast producer is slowed by TCP rather than buffered here.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import socket
from collections.abc import Mapping
from typing import Any, cast

from infra_chains.serving.transport import (
    CLIENT_IDLE_SEC,
    LARGE_BODY_BYTES,
    AiohttpTransport,
    AsyncTransport,
    AttemptTimeout,
    BodyStream,
    ConnectFailed,
    NotSent,
    RawResponse,
    StaleConnection,
    split_url,
)

#: A streamed body stops reading its socket above this many unread bytes, resumes below LOW.
STREAM_HIGH_WATER = 1024 * 1024
STREAM_LOW_WATER = 256 * 1024


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of `HttptoolsTransport`: in use, or idle in its pool.

    The response is parsed by httptools (llhttp) as bytes arrive; the parser's callbacks fill
    the fields below and `on_message_complete` resolves ``waiter``.
    """

    __slots__ = (
        "buffer",
        "chunked",
        "closed",
        "content_type",
        "headers_done",
        "idle_since",
        "keep_alive",
        "length",
        "parser",
        "parts",
        "pool",
        "position",
        "received",
        "retry_after",
        "reused",
        "sink",
        "size",
        "status",
        "streaming",
        "timer",
        "transport",
        "view",
        "waiter",
    )

    def __init__(self, pool: _Pool) -> None:
        import httptools

        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Any] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.reused = False  # this request went over a connection that served one before
        self.received = False  # a byte of this request's response arrived
        self.closed = False
        self.idle_since = 0.0
        self.keep_alive = False  # the last response allows reusing the connection
        self.streaming = False  # this request's 2xx body goes to a `_StreamedBody`
        self.sink: _StreamedBody | None = None  # the body being streamed, once its head arrived
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.content_type = ""
        self.retry_after: str | None = None
        self.length: int | None = None
        self.chunked = False
        self.parts: list[bytes] = []
        self.size = 0
        self.buffer: bytearray | None = None
        self.view: memoryview | None = None
        self.position = 0
        self.headers_done = False

    # -- asyncio.Protocol --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - not a TCP socket
                pass

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if (waiter is None or waiter.done()) and self.sink is None:  # unsolicited bytes: idle
            self.close()
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # noqa: BLE001 - httptools' parser errors, or a callback's (bad length)
            self._fail(ConnectFailed(f"invalid HTTP response: {type(exc).__name__}: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        return False  # close our side too: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if self.sink is not None:
            self.sink.fail(ConnectFailed(f"connection lost mid-stream ({exc or 'closed by the server'})"))
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.headers_done and self.length is None and not self.chunked:
            self._complete()  # a body delimited by the end of the connection (HTTP/1.0 style)
            return
        reason = f"{type(exc).__name__}: {exc}" if exc else "server closed the connection"
        if self.reused and not self.received:
            self._fail(StaleConnection(f"reused keep-alive connection closed before any response byte ({reason})"))
        else:
            self._fail(ConnectFailed(reason))

    # -- httptools callbacks -----------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self.content_type = value.decode("latin-1")
        elif name == b"content-length":
            self.length = int(value)
        elif name == b"retry-after":
            self.retry_after = value.decode("latin-1")
        elif name == b"transfer-encoding":
            self.chunked = b"chunked" in value.lower()

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True
        if self.streaming and 200 <= self.status < 300:
            self._stream_body()
            return
        if self.chunked:
            self.length = None  # Transfer-Encoding wins over Content-Length (RFC 9112 6.3)
        elif self.length is not None and self.length >= LARGE_BODY_BYTES:
            self.buffer = bytearray(self.length)
            self.view = memoryview(self.buffer)

    def on_body(self, body: bytes) -> None:
        if self.sink is not None:
            self.sink.feed(body)
            return
        view = self.view
        if view is not None:
            end = self.position + len(body)
            view[self.position:end] = body
            self.position = end
        else:
            self.parts.append(body)
            self.size += len(body)

    def on_message_complete(self) -> None:
        sink = self.sink
        if sink is not None:  # a streamed body (its head's fields are reset already)
            self.keep_alive = self.parser.should_keep_alive()
            sink.finish()
            return
        if self.status < 200:  # an interim 1xx answer: the real one follows
            self._reset()
            return
        self.keep_alive = self.parser.should_keep_alive()
        self._complete()

    # -- helpers -----------------------------------------------------------------------------
    def _stream_body(self) -> None:
        """The head of a 2xx streamed answer arrived: hand the body to a `_StreamedBody`."""
        if self.timer is not None:  # the request's deadline covered the head; reads time out now
            self.timer.cancel()
            self.timer = None
        sink = self.sink = _StreamedBody(self, self.status, self.content_type)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(sink)

    def _complete(self) -> None:
        body: bytes | bytearray
        if self.buffer is not None:
            body = self.buffer
            if self.view is not None:
                self.view.release()
                self.view = None
        elif len(self.parts) == 1 and self.size < LARGE_BODY_BYTES:
            body = self.parts[0]
        elif self.size >= LARGE_BODY_BYTES:
            body = bytearray().join(self.parts)
        else:
            body = b"".join(self.parts)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(RawResponse(self.status, self.content_type, body, self.retry_after))

    def _fail(self, exc: Exception) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def on_timeout(self) -> None:
        self.timer = None
        self._fail(AttemptTimeout("timed out"))
        self.abort()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        self.pool.forget(self)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self.pool.forget(self)

    async def request_stream(self, head: bytes, body: bytes, deadline: float) -> RawResponse | _StreamedBody:
        """Send one request; a 2xx answer is returned at its head, as a `_StreamedBody`."""
        self.streaming = True
        try:
            response: RawResponse | _StreamedBody = await self.request(head, body, deadline)
        finally:
            self.streaming = False
        return response

    async def request(self, head: bytes, body: bytes, deadline: float) -> RawResponse:
        """Send one request and wait for its complete response (or a failure)."""
        transport = self.transport
        assert transport is not None
        loop = self.pool.loop
        if self.closed or transport.is_closing():
            self.abort()
            raise NotSent("pooled connection closed before the request was written")
        self.received = self.keep_alive = False
        waiter: asyncio.Future[Any] = loop.create_future()
        self.waiter = waiter
        self.timer = loop.call_at(deadline, self.on_timeout)
        if len(body) < LARGE_BODY_BYTES:
            transport.write(head + body)
        else:
            transport.writelines((head, body))  # no copy of a big body
        try:
            response: RawResponse = await waiter  # a `_StreamedBody` in `request_stream`
            return response
        except BaseException:
            self.abort()  # a failure, a timeout or a cancellation leaves the connection unusable
            raise
        finally:
            self.waiter = None
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self._reset()  # drop references to the response


class _Pool:
    """The connections of one event loop to one (host, port): the idle ones, LIFO."""

    __slots__ = ("busy", "host", "idle", "idle_sec", "loop", "max_idle", "port", "sweeper")

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, port: int, idle_sec: float,
                 max_idle: int) -> None:
        self.loop = loop
        self.host = host
        self.port = port
        self.idle_sec = idle_sec
        self.max_idle = max_idle
        self.idle: list[_Connection] = []
        self.busy: set[_Connection] = set()
        self.sweeper: asyncio.TimerHandle | None = None

    def take(self) -> _Connection | None:
        idle = self.idle
        if not idle:
            return None
        connection = idle.pop()
        if self.loop.time() - connection.idle_since >= self.idle_sec:
            # LIFO: every connection below this one has been idle even longer
            for old in [connection, *idle]:
                old.close()
            return None
        connection.reused = True
        self.busy.add(connection)
        return connection

    async def connect(self, deadline: float) -> _Connection:
        try:
            async with asyncio.timeout_at(deadline):
                tcp, connection = await self.loop.create_connection(
                    lambda: _Connection(self), self.host, self.port
                )
        except TimeoutError as exc:
            raise AttemptTimeout(f"no connection to {self.host}:{self.port} in time") from exc
        except OSError as exc:  # refused, unreachable, DNS
            raise NotSent(f"{type(exc).__name__}: {exc}") from exc
        if connection.closed:  # pragma: no cover - lost right after the handshake
            raise NotSent(f"connection to {self.host}:{self.port} closed at once")
        connection.transport = tcp  # uvloop calls connection_made a loop iteration later
        self.busy.add(connection)
        return connection

    def give_back(self, connection: _Connection) -> None:
        self.busy.discard(connection)
        if connection.closed:
            return
        if not connection.keep_alive or len(self.idle) >= self.max_idle:
            connection.close()
            return
        connection.idle_since = self.loop.time()
        self.idle.append(connection)
        if self.sweeper is None:
            self.sweeper = self.loop.call_at(connection.idle_since + self.idle_sec, self._sweep)

    def forget(self, connection: _Connection) -> None:
        """Drop a closed connection from the pool (``connection_lost`` or an error)."""
        self.busy.discard(connection)
        try:
            self.idle.remove(connection)
        except ValueError:
            pass

    def _sweep(self) -> None:
        """Close connections idle for ``idle_sec`` even when no request comes to reuse them."""
        self.sweeper = None
        deadline = self.loop.time() - self.idle_sec
        expired = [c for c in self.idle if c.idle_since <= deadline]
        for connection in expired:
            connection.close()
        if self.idle:
            self.sweeper = self.loop.call_at(self.idle[0].idle_since + self.idle_sec, self._sweep)

    def close(self) -> None:
        if self.sweeper is not None:
            self.sweeper.cancel()
            self.sweeper = None
        for connection in [*self.idle, *self.busy]:
            connection.close()
        self.idle.clear()
        self.busy.clear()


@functools.lru_cache(maxsize=256)
def _http_target(url: str) -> tuple[str, int, bytes] | None:
    """``(host, port, request line + Host header)`` for an http URL; None for https."""
    (scheme, host, port), path = split_url(url)
    if scheme != "http":
        return None
    host_header = f"[{host}]" if ":" in host else host
    if port != 80:
        host_header += f":{port}"
    return host, port, f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\n".encode("latin-1")


class HttptoolsTransport(AsyncTransport):
    """A minimal HTTP/1.1 keep-alive client on asyncio protocols, responses parsed by httptools.

    One pool per event loop and (host, port); a connection is either in use by one request or
    idle in its pool, and is closed on any error, timeout or cancellation. Idle connections are
    dropped after ``idle_sec`` (below the server keep-alive). It knows when a request went over
    a reused connection, so `StaleConnection` is exact: raised only when a reused connection
    closed or failed before any byte of the response. https URLs go to `AiohttpTransport`.
    """

    def __init__(self, idle_sec: float = CLIENT_IDLE_SEC, max_idle: int = 256) -> None:
        import httptools  # noqa: F401  (fail early when missing)

        self._idle_sec = idle_sec
        self._max_idle = max_idle
        self._pools: dict[asyncio.AbstractEventLoop, dict[tuple[str, int], _Pool]] = {}
        self._https: AiohttpTransport | None = None

    def _pool(self, host: str, port: int) -> _Pool:
        loop = asyncio.get_running_loop()
        pools = self._pools.get(loop)
        if pools is None:
            for old in [lp for lp in self._pools if lp.is_closed()]:
                del self._pools[old]
            pools = self._pools[loop] = {}
        pool = pools.get((host, port))
        if pool is None:
            pool = pools[(host, port)] = _Pool(loop, host, port, self._idle_sec, self._max_idle)
        return pool

    def pools(self) -> list[_Pool]:
        """The running loop's pools (for tests and diagnostics)."""
        return list(self._pools.get(asyncio.get_running_loop(), {}).values())

    def _https_transport(self) -> AiohttpTransport:
        """https (and anything else not plain http) goes through aiohttp, made on first use."""
        if self._https is None:
            self._https = AiohttpTransport(self._idle_sec)
        return self._https

    async def _connection(self, target: tuple[str, int, bytes], body: bytes,
                          headers: Mapping[str, str], timeout: float) -> tuple[_Pool, _Connection, bytes, float]:
        """A pooled (or new) connection to ``target`` with the request head and its deadline; the
        head is made first, so a header that would inject another is refused before connecting."""
        host, port, request_line = target
        head = _head(request_line, body, headers)
        pool = self._pool(host, port)
        deadline = pool.loop.time() + timeout
        connection = pool.take() or await pool.connect(deadline)
        return pool, connection, head, deadline

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> RawResponse:
        target = _http_target(url)
        if target is None:
            return await self._https_transport().post(url, body, headers, timeout)
        pool, connection, head, deadline = await self._connection(target, body, headers, timeout)
        try:
            response = await connection.request(head, body, deadline)
        except AttemptTimeout:
            raise AttemptTimeout(f"no answer within {timeout:g} s") from None
        finally:
            pool.give_back(connection)
        return response

    async def post_stream(self, url: str, body: bytes, headers: Mapping[str, str],
                          timeout: float) -> RawResponse | BodyStream:
        target = _http_target(url)
        if target is None:
            return await self._https_transport().post_stream(url, body, headers, timeout)
        pool, connection, head, deadline = await self._connection(target, body, headers, timeout)
        try:
            response = await connection.request_stream(head, body, deadline)
        except AttemptTimeout:
            pool.give_back(connection)
            raise AttemptTimeout(f"no answer within {timeout:g} s") from None
        except BaseException:
            pool.give_back(connection)
            raise
        if isinstance(response, RawResponse):
            pool.give_back(connection)  # a stream gives its connection back when it ends
        return response

    async def aclose(self) -> None:
        pools = self._pools.pop(asyncio.get_running_loop(), {})
        for pool in pools.values():
            pool.close()
        if pools:
            await asyncio.sleep(0)  # let the transports run connection_lost
        if self._https is not None:
            await self._https.aclose()


def _head(request_line: bytes, body: bytes, headers: Mapping[str, str]) -> bytes:
    """The request head: request line, Host, Content-Length and ``headers``."""
    lines = [request_line, b"Content-Length: %d\r\n" % len(body)]
    for name, value in headers.items():
        line = f"{name}: {value}\r\n"
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise ValueError(f"invalid character in HTTP header {name!r}")
        lines.append(line.encode("latin-1"))
    lines.append(b"\r\n")
    return b"".join(lines)


class _StreamedBody(BodyStream):
    """The body of one streamed answer, fed by its `_Connection`, read by one consumer.

    The connection goes back to its pool once the body was read to its end; a body abandoned
    before that (`close`) aborts its connection, since the rest of it would still arrive.
    """

    def __init__(self, connection: _Connection, status: int, content_type: str) -> None:
        self.status = status
        self.content_type = content_type
        self._connection = connection
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._complete = False
        self._released = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # -- the connection's side ---------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if self._size > STREAM_HIGH_WATER and not self._paused:
            transport = self._connection.transport
            if transport is not None and not transport.is_closing():
                transport.pause_reading()
                self._paused = True
        self._wake()

    def finish(self) -> None:
        self._complete = True
        self._wake()

    def fail(self, exc: Exception) -> None:
        if not self._complete and self._error is None:
            self._error = exc
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the reader's side -------------------------------------------------------------------
    async def next_chunk(self, timeout: float) -> bytes | None:
        chunks = self._chunks
        while not chunks:
            if self._complete:
                self._release()
                return None
            if self._error is not None:
                raise self._error
            loop = self._connection.pool.loop
            waiter = self._waiter = loop.create_future()
            try:
                async with asyncio.timeout(timeout):
                    await waiter
            except TimeoutError:
                self.close()
                raise AttemptTimeout(f"no data within {timeout:g} s") from None
            finally:
                self._waiter = None
        # Everything that arrived, joined: a relay then passes on many small items in one write.
        chunk = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._size -= len(chunk)
        if self._paused and self._size < STREAM_LOW_WATER:
            self._paused = False
            transport = self._connection.transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()
        return chunk

    def _release(self) -> None:
        """The body was read to its end: the connection serves the next request."""
        if self._released:
            return
        self._released = True
        connection = self._connection
        connection.sink = None
        connection.waiter = None
        connection._reset()
        connection.pool.give_back(connection)

    def close(self) -> None:
        if self._complete:
            self._release()
            return
        if self._released:
            return
        self._released = True
        self._chunks.clear()
        connection = self._connection
        connection.sink = None
        connection.abort()
