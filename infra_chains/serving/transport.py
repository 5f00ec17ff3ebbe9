"""The stubs' HTTP transports: one pooled keep-alive client per process (and event loop).

Choice by measurement (``bench/serving.py``, numbers in PERF.md and the bench output): for async
callers `HttptoolsTransport`, a minimal HTTP/1.1 client on asyncio protocols with httptools'
(llhttp) response parser: against aiohttp, about half the c=1 latency and twice the req/s at
c=32/128 against one trivial chainlet (aiohttp's request path was ~21 % of a mid chainlet's CPU).
aiohttp stays for https and as a fallback (``INFRA_CHAINS_ASYNC_TRANSPORT=aiohttp``); httpx's
default async transport is ~5x slower than aiohttp at c=32 and degrades at c=128. For blocking
stubs (a ``def run_remote`` dependency's, called from a worker thread or on the caller's event
loop, which it needs not) a small pool of stdlib ``http.client`` connections, which costs no
event-loop hop and far less per call than httpx's sync client. `HttpxTransport` stays for comparison and tests.

A transport only moves bytes: it raises `NotSent` (no connection could be made, or the pooled one
was closed before the request was written: always safe to send again), `StaleConnection` (a
*reused* keep-alive connection the server had closed before any response byte: the stub always
retries that once, PERF.md), `ConnectFailed` (the connection broke after the request was sent)
or `AttemptTimeout`. Retries, status codes
and error bodies are the stub's business.

Keep-alive race: a client that reuses a connection just as the server's keep-alive timer closes
it sees a disconnect (BentoML's 500s in PERF.md). The client's idle timeout (`CLIENT_IDLE_SEC`)
is therefore below the server's (`runtime.SERVER_KEEP_ALIVE_SEC`), and the stale case is retried.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import functools
import http.client
import os
import socket
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import aiohttp

#: Idle pooled connections are dropped after this long; below the server keep-alive (15 s).
CLIENT_IDLE_SEC = 10.0
#: aiohttp read buffer: large enough that a MiB-sized (binary) answer arrives in few reads.
READ_BUFSIZE = 4 * 1024 * 1024
#: Bodies from this size on are read into a bytearray, so arrays in them decode without a copy.
LARGE_BODY_BYTES = 64 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    content_type: str
    body: bytes | bytearray  # a bytearray for large bodies: arrays decode as writable views
    retry_after: str | None = None


class TransportError(Exception):
    """Base of the transport-level failures below (never seen by users: the stub maps them)."""


class ConnectFailed(TransportError):
    """No connection could be made, or it broke: retried within ``RPCOptions.retries``."""


class NotSent(ConnectFailed):
    """The request never left this process: refused, unreachable, or a closed pooled connection.

    Always safe to retry, whatever the request does (`stub.RetryPolicy`).
    """


class StaleConnection(ConnectFailed):
    """A reused keep-alive connection was closed by the server before any response byte."""


class AttemptTimeout(TransportError):
    """No complete answer within the attempt's timeout."""


class BodyStream(abc.ABC):
    """The body of a 2xx answer to `AsyncTransport.post_stream`, read chunk by chunk as it arrives.

    The transport reads from the socket only while the reader keeps up (a bounded buffer), so a
    fast producer cannot fill this process' memory: back-pressure reaches it through TCP.
    """

    status: int
    content_type: str

    @abc.abstractmethod
    async def next_chunk(self, timeout: float) -> bytes | None:
        """The next chunk of the body, None at its end; `AttemptTimeout` when none arrives within
        ``timeout`` seconds, `ConnectFailed` when the connection breaks."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop reading: a body not read to its end closes its connection (never reused)."""


class _BufferedBodyStream(BodyStream):
    """A whole body as one chunk: `AsyncTransport.post_stream` for transports that cannot stream."""

    def __init__(self, response: RawResponse) -> None:
        self.status = response.status
        self.content_type = response.content_type
        self._body: bytes | None = bytes(response.body)

    async def next_chunk(self, timeout: float) -> bytes | None:
        body, self._body = self._body, None
        return body or None

    def close(self) -> None:
        self._body = None


class AsyncTransport(abc.ABC):
    """Sends one POST from an event loop."""

    @abc.abstractmethod
    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> RawResponse:
        ...

    async def post_stream(self, url: str, body: bytes, headers: Mapping[str, str],
                          timeout: float) -> RawResponse | BodyStream:
        """Like `post`, but a 2xx body is returned unread, as a `BodyStream` (``timeout`` bounds
        the wait for the response head). This default reads the whole body first."""
        response = await self.post(url, body, headers, timeout)
        return _BufferedBodyStream(response) if 200 <= response.status < 300 else response

    async def aclose(self) -> None:
        """Close the pooled connections of the running event loop."""


class SyncTransport(abc.ABC):
    """Sends one POST from a thread (thread-safe)."""

    @abc.abstractmethod
    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> RawResponse:
        ...

    def close(self) -> None:
        """Close every pooled connection."""


class AiohttpTransport(AsyncTransport):
    """aiohttp, one ``ClientSession`` per event loop (a session cannot cross loops)."""

    def __init__(self, idle_sec: float = CLIENT_IDLE_SEC) -> None:
        import aiohttp  # imported on first use: `import infra_chains` stays light for the CLI

        self._aiohttp = aiohttp
        self._idle_sec = idle_sec
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _session(self) -> aiohttp.ClientSession:
        aiohttp = self._aiohttp
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            for old in [lp for lp in self._sessions if lp.is_closed()]:
                del self._sessions[old]
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=self._idle_sec)
            session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
                # 64 KiB (the default) makes a 1 MiB answer ~16 reads and joins; bench/serving.py
                read_bufsize=READ_BUFSIZE,
            )
            self._sessions[loop] = session
        return session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> RawResponse:
        aiohttp = self._aiohttp
        client_timeout = self._timeouts.get(timeout)
        if client_timeout is None:
            client_timeout = self._timeouts[timeout] = aiohttp.ClientTimeout(total=timeout)
        session = self._session()
        got_headers = False
        try:
            async with session.post(url, data=body, headers=headers, timeout=client_timeout) as resp:
                got_headers = True
                data = await _read_aiohttp(resp)
                return RawResponse(
                    resp.status, resp.headers.get("Content-Type", ""), data, resp.headers.get("Retry-After")
                )
        except TimeoutError as exc:  # also aiohttp's ServerTimeoutError
            raise AttemptTimeout(f"no answer within {timeout:g} s") from exc
        except aiohttp.ClientConnectorError as exc:
            raise NotSent(str(exc) or type(exc).__name__) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            # aiohttp does not tell whether the connection was reused; a fresh connection the
            # server closes before answering is retried once too, which is harmless.
            cls = ConnectFailed if got_headers else StaleConnection
            raise cls(str(exc) or type(exc).__name__) from exc
        except aiohttp.ClientError as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc

    async def post_stream(self, url: str, body: bytes, headers: Mapping[str, str],
                          timeout: float) -> RawResponse | BodyStream:
        aiohttp = self._aiohttp
        session = self._session()
        try:
            async with asyncio.timeout(timeout):
                resp = await session.post(url, data=body, headers=headers,
                                          timeout=aiohttp.ClientTimeout(total=None))
                if not 200 <= resp.status < 300:
                    async with resp:
                        data = await resp.read()
                    return RawResponse(resp.status, resp.headers.get("Content-Type", ""), data,
                                       resp.headers.get("Retry-After"))
        except TimeoutError as exc:
            raise AttemptTimeout(f"no answer within {timeout:g} s") from exc
        except aiohttp.ClientConnectorError as exc:
            raise NotSent(str(exc) or type(exc).__name__) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            raise StaleConnection(str(exc) or type(exc).__name__) from exc
        except aiohttp.ClientError as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        return _AiohttpBodyStream(resp)

    async def aclose(self) -> None:
        session = self._sessions.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()


class _AiohttpBodyStream(BodyStream):
    """A streamed aiohttp response body (aiohttp's reader pauses the socket when it fills up)."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self.status = response.status
        self.content_type = response.headers.get("Content-Type", "")

    async def next_chunk(self, timeout: float) -> bytes | None:
        import aiohttp

        try:
            async with asyncio.timeout(timeout):
                chunk: bytes = await self._response.content.readany()
        except TimeoutError:
            self.close()
            raise AttemptTimeout(f"no data within {timeout:g} s") from None
        except aiohttp.ClientError as exc:
            self.close()
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        if not chunk:
            self._response.release()
            return None
        return chunk

    def close(self) -> None:
        self._response.close()


class HttpxTransport(AsyncTransport):
    """httpx's default async transport: kept for the benchmark comparison (and tests)."""

    def __init__(self, idle_sec: float = CLIENT_IDLE_SEC) -> None:
        import httpx

        self._httpx = httpx
        self._idle_sec = idle_sec
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> RawResponse:
        httpx = self._httpx
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=None,
                                  keepalive_expiry=self._idle_sec)
            client = self._clients[loop] = httpx.AsyncClient(limits=limits)
        try:
            resp = await client.post(url, content=body, headers=headers, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise AttemptTimeout(f"no answer within {timeout:g} s") from exc
        except httpx.ConnectError as exc:
            raise NotSent(str(exc)) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise StaleConnection(str(exc)) from exc
        except httpx.TransportError as exc:
            raise ConnectFailed(str(exc)) from exc
        return RawResponse(resp.status_code, resp.headers.get("content-type", ""), resp.content,
                           resp.headers.get("retry-after"))

    async def aclose(self) -> None:
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


def _large(length: int | None) -> bool:
    return length is not None and length >= LARGE_BODY_BYTES


async def _read_aiohttp(resp: Any) -> bytes | bytearray:
    if not _large(resp.content_length):
        return await resp.read()  # type: ignore[no-any-return]
    data = bytearray(resp.content_length)
    position = 0
    async for chunk in resp.content.iter_any():
        data[position:position + len(chunk)] = chunk
        position += len(chunk)
    if position != len(data):
        raise aiohttp_payload_error(position, len(data))
    return data


def _read_http_client(response: http.client.HTTPResponse) -> bytes | bytearray:
    if not _large(response.length):
        return response.read()
    data = bytearray(response.length or 0)
    view = memoryview(data)
    position = 0
    while position < len(data):
        count = response.readinto(view[position:])
        if not count:
            raise http.client.IncompleteRead(bytes(view[:position]), len(data) - position)
        position += count
    return data


def aiohttp_payload_error(got: int, expected: int) -> Exception:
    import aiohttp

    return aiohttp.ClientPayloadError(f"response body ended after {got} of {expected} bytes")


@functools.lru_cache(maxsize=256)
def split_url(url: str) -> tuple[tuple[str, str, int], str]:
    """``((scheme, host, port), path + query)`` of an http(s) URL; cached, URLs repeat."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.scheme, parts.hostname, port), path


class HTTPClientTransport(SyncTransport):
    """A thread-safe pool of stdlib ``http.client`` keep-alive connections, per host."""

    def __init__(self, idle_sec: float = CLIENT_IDLE_SEC) -> None:
        self._idle_sec = idle_sec
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, int], list[tuple[http.client.HTTPConnection, float]]] = {}

    def _take(self, key: tuple[str, str, int]) -> http.client.HTTPConnection | None:
        now = time.monotonic()
        with self._lock:
            pool = self._idle.get(key)
            while pool:
                connection, since = pool.pop()
                if now - since < self._idle_sec:
                    return connection
                connection.close()
        return None

    def _give_back(self, key: tuple[str, str, int], connection: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.setdefault(key, []).append((connection, time.monotonic()))

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> RawResponse:
        key, path = split_url(url)
        connection = self._take(key)
        reused = connection is not None
        if connection is None:
            cls = http.client.HTTPSConnection if key[0] == "https" else http.client.HTTPConnection
            connection = cls(key[1], key[2], timeout=timeout)
            try:
                connection.connect()
            except OSError as exc:  # refused, unreachable, DNS, connect timeout
                connection.close()
                raise NotSent(f"{type(exc).__name__}: {exc}") from exc
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.sock.settimeout(timeout)
        got_response = False
        try:
            connection.request("POST", path, body, dict(headers))
            response = connection.getresponse()
            got_response = True
            data = _read_http_client(response)
        except TimeoutError as exc:
            connection.close()
            raise AttemptTimeout(f"no answer within {timeout:g} s") from exc
        except (http.client.HTTPException, OSError) as exc:
            connection.close()
            stale = reused and not got_response
            raise (StaleConnection if stale else ConnectFailed)(f"{type(exc).__name__}: {exc}") from exc
        if response.will_close:
            connection.close()
        else:
            self._give_back(key, connection)
        return RawResponse(response.status, response.getheader("Content-Type", ""), data,
                           response.getheader("Retry-After"))

    def close(self) -> None:
        with self._lock:
            pools, self._idle = self._idle, {}
        for pool in pools.values():
            for connection, _ in pool:
                connection.close()


_default_async: AsyncTransport | None = None
_default_sync: SyncTransport | None = None


#: Overrides the default async transport by name (one of `ASYNC_TRANSPORTS`): benchmarks, and a
#: way back to aiohttp without a code change.
# The httptools client builds on the interface above; imported here, at the end, so that
# `transport.HttptoolsTransport` is where every other transport is.
from infra_chains.serving.httptools_transport import HttptoolsTransport  # noqa: E402

ASYNC_TRANSPORT_ENV = "INFRA_CHAINS_ASYNC_TRANSPORT"
ASYNC_TRANSPORTS: dict[str, type[AsyncTransport]] = {
    "httptools": HttptoolsTransport, "aiohttp": AiohttpTransport, "httpx": HttpxTransport,
}
DEFAULT_ASYNC_TRANSPORT = "httptools"


def default_async() -> AsyncTransport:
    """The process-wide async transport (see the module docstring for the choice)."""
    global _default_async
    if _default_async is None:
        name = os.environ.get(ASYNC_TRANSPORT_ENV) or DEFAULT_ASYNC_TRANSPORT
        try:
            cls = ASYNC_TRANSPORTS[name]
        except KeyError:
            raise ValueError(f"{ASYNC_TRANSPORT_ENV}={name!r}: expected one of {sorted(ASYNC_TRANSPORTS)}") from None
        _default_async = cls()
    return _default_async


def default_sync() -> SyncTransport:
    """The process-wide sync transport (pooled ``http.client``)."""
    global _default_sync
    if _default_sync is None:
        _default_sync = HTTPClientTransport()
    return _default_sync


async def aclose_defaults() -> None:
    """Close the default transports' connections (call from the loop that used them)."""
    if _default_async is not None:
        await _default_async.aclose()
    if _default_sync is not None:
        _default_sync.close()
