"""Websocket chainlets: one session of ``async def run_remote(self, websocket) -> None`` per
connection to ``/websocket``.

As in truss-chains, only an entrypoint serves a websocket (a dependency's stub speaks HTTP), and
``run_remote`` takes the `WebSocketProtocol` as its only argument; from inside the session it calls
its own dependencies through their stubs like any chainlet (the request id follows). uvicorn
speaks the protocol (its sans-I/O ``websockets`` implementation, chosen in `runtime`); this
module is the ASGI side: the checks of the handshake, the object ``run_remote`` gets, and how a
session ends.

- The handshake passes the checks of ``/run_remote`` (`ChainletApp`: Host, chain token or API
  key), and one of its own: a browser sends ``Origin`` with every websocket handshake and, unlike
  a POST with a JSON body, no preflight guards it, so a page on another site could otherwise open
  a session to a chain on ``127.0.0.1`` (cross-site websocket hijacking). An ``Origin`` must name
  the host the request was sent to. A refusal is a plain HTTP answer with the same JSON error
  body as ``/run_remote`` (the ASGI ``websocket.http.response`` extension), so a client sees why.
- The connection is accepted before ``run_remote`` runs; it is closed with 1000 when
  ``run_remote`` returns, and with 1011 (its exception's class and message as the reason, and
  the traceback in the log) when it raises. A code the handler closes with reaches the client,
  and the client's close code reaches the handler as `WebSocketDisconnect.code`.
- Sessions are not counted against ``predict_concurrency`` (nor in truss-chains): a session lasts
  as long as its client wants, and would hold a slot meant for requests. When the process drains,
  open sessions are closed at once with 1012 (service restart; `runtime`): a session cannot move
  to the next incarnation, so its client had better reconnect now than at the end of the grace
  period, which ``run_remote`` still has to finish (it sees `WebSocketDisconnect` with 1012).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping, MutableMapping
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import pydantic_core

from infra_chains.errors import ChainsError
from infra_chains.remote_config import ChainletOptions, WebsocketOptions
from infra_chains.serving import request_id

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Where a websocket chainlet is served (the last part of truss-chains' public websocket URL).
WEBSOCKET_PATH = "/websocket"
NORMAL_CLOSURE = 1000
ABNORMAL_CLOSURE = 1006  # never sent: the connection dropped without a close frame
INTERNAL_ERROR = 1011
#: Codes an endpoint may send (RFC 6455 7.4, IANA registry); 1004-1006 and 1015 are never sent.
_SENDABLE_CODES = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})
#: A close frame's payload is at most 125 bytes, two of which are the code.
MAX_REASON_BYTES = 123


#: Keep-alive pings where a chainlet's `WebsocketOptions` leaves them unset (uvicorn's defaults): a
#: ping every 20 s also keeps an idle session open through proxies that time out quiet connections.
DEFAULT_PING_INTERVAL_SEC = 20.0
DEFAULT_PING_TIMEOUT_SEC = 20.0


def ping_settings(options: ChainletOptions) -> tuple[float, float]:
    """Seconds between the server's pings, and for a ping's answer (then the session is closed
    with 1011), from ``options.transport`` (truss-chains' ``WebsocketOptions``)."""
    transport = options.transport
    interval = timeout = None
    if isinstance(transport, WebsocketOptions):
        interval, timeout = transport.ping_interval_seconds, transport.ping_timeout_seconds
    return interval or DEFAULT_PING_INTERVAL_SEC, timeout or DEFAULT_PING_TIMEOUT_SEC


def websocket_url(run_remote_url: str) -> str:
    """The websocket address of the chainlet whose ``/run_remote`` is at ``run_remote_url``."""
    scheme, _, rest = run_remote_url.partition("://")
    base = rest[: -len("/run_remote")] if rest.endswith("/run_remote") else rest.rstrip("/")
    return f"{'wss' if scheme == 'https' else 'ws'}://{base}{WEBSOCKET_PATH}"


class WebSocketDisconnect(ChainsError):
    """The websocket is closed: raised by ``receive*`` once the client has closed (``code`` is
    its close code, 1006 if the connection dropped), and by ``send*`` on a closed connection.

    When fastapi (starlette) is imported in the process, the exception raised is also a
    ``fastapi.WebSocketDisconnect``, so a truss-chains handler's ``except
    fastapi.WebSocketDisconnect`` keeps working.
    """

    def __init__(self, code: int = NORMAL_CLOSURE, reason: str | None = None) -> None:
        # Not super().__init__: in the fastapi-compatible subclass the next __init__ in line is
        # starlette's, which takes (code, reason), not a message.
        Exception.__init__(self, f"websocket closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason or ""


def disconnect(code: int, reason: str | None = None) -> WebSocketDisconnect:
    """A `WebSocketDisconnect`, also starlette's (fastapi's) when that module is loaded.

    Only a loaded module is looked at: code that names ``fastapi.WebSocketDisconnect`` has
    imported it, and a chainlet that does not pays nothing.
    """
    starlette = sys.modules.get("starlette.websockets")
    base = getattr(starlette, "WebSocketDisconnect", None)
    if isinstance(base, type) and issubclass(base, Exception):
        return _compatible(base)(code, reason)
    return WebSocketDisconnect(code, reason)


_COMPATIBLE: dict[type[Exception], type[WebSocketDisconnect]] = {}


def _compatible(base: type[Exception]) -> type[WebSocketDisconnect]:
    cls = _COMPATIBLE.get(base)
    if cls is None:
        cls = _COMPATIBLE[base] = type("WebSocketDisconnect", (WebSocketDisconnect, base),
                                       {"__module__": __name__})
    return cls


# -- the handshake -------------------------------------------------------------------------------
class Handshake:
    """What the checks need from a handshake's headers, read in one pass."""

    __slots__ = ("credential", "host", "origin", "request_id")

    def __init__(self, headers: list[tuple[bytes, bytes]], credential_header: bytes | None) -> None:
        self.host = self.credential = self.origin = b""
        rid = b""
        for key, value in headers:
            if key == b"host":
                self.host = value
            elif key == b"origin":
                self.origin = value
            elif key == b"x-request-id":
                rid = value
            elif key == credential_header:
                self.credential = value
        self.request_id = rid.decode("latin-1") if rid else request_id.new()


def origin_problem(origin: bytes, host: bytes, allowed_hosts: frozenset[bytes] | None) -> str | None:
    """Why a handshake with ``Origin: origin`` is refused (None: it is not).

    No ``Origin`` is fine (programs do not send one); a browser's must name the host the request
    was sent to, or one of ``allowed_hosts``.
    """
    if not origin:
        return None
    text = origin.decode("latin-1").strip()
    authority = urlsplit(text).netloc.lower().encode("latin-1") if "://" in text else b""
    if authority and (authority == host.lower() or (allowed_hosts is not None and authority in allowed_hosts)):
        return None
    shown = text if len(text) <= 80 else text[:77] + "..."
    return (f"a page from origin {shown!r} may not open a websocket to this chain (a web page "
            "on another site could drive it through the browser); connect from a program, "
            "which sends no Origin header, or serve the page from the chain's own address.")


async def refuse(scope: Scope, receive: Receive, send: Send, status: int, body: bytes,
                 headers: list[tuple[bytes, bytes]]) -> None:
    """Answer the handshake with HTTP ``status`` and a JSON ``body`` instead of upgrading."""
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), *headers]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # a server without the extension answers 403 to a close before accepting
        await send({"type": "websocket.close", "code": 1008})


# -- the session ---------------------------------------------------------------------------------
async def run_session(scope: Scope, receive: Receive, send: Send,
                      handler: Callable[[ServerWebSocket], Awaitable[Any]], *, chainlet: str,
                      handshake: Handshake, hidden_header: bytes | None) -> None:
    """Accept, run ``handler`` (``run_remote``) with the websocket, and close as it ends."""
    if (await receive())["type"] != "websocket.connect":
        return  # the client left during the handshake
    token = request_id.set_current(handshake.request_id)
    websocket = ServerWebSocket(receive, send, _Headers(scope["headers"], hidden_header))
    try:
        await send({"type": "websocket.accept", "headers": [(b"x-request-id", handshake.request_id.encode())]})
        try:
            await handler(websocket)
        except WebSocketDisconnect as exc:
            logger.debug("websocket session of chainlet %s ended by the client (code %d, "
                         "request_id=%s)", chainlet, exc.code, handshake.request_id)
        except Exception as exc:
            logger.error("run_remote of chainlet %s raised in a websocket session (request_id=%s); "
                         "closing it with %d", chainlet, handshake.request_id, INTERNAL_ERROR,
                         exc_info=True)
            await websocket.close_quietly(INTERNAL_ERROR, _reason(exc))
        else:
            await websocket.close_quietly(NORMAL_CLOSURE)
    finally:
        request_id.reset(token)


def _reason(exc: BaseException) -> str:
    """``Class: message`` of ``exc`` (the first line), cut to fit a close frame."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return _truncate(text)


def _truncate(text: str) -> str:
    data = text.encode()
    if len(data) <= MAX_REASON_BYTES:
        return text
    return data[:MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


class _Headers(Mapping[str, str]):
    """The handshake's headers, case-insensitive (the first of repeated ones); the credential
    our checks consumed is left out, as user code has no use for it."""

    def __init__(self, raw: list[tuple[bytes, bytes]], hidden: bytes | None) -> None:
        self._values: dict[str, str] = {}
        for key, value in raw:
            if key != hidden:
                self._values.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))

    def __getitem__(self, key: str) -> str:
        return self._values[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Headers({self._values!r})"


T = TypeVar("T")


class _Messages(Generic[T]):
    """Messages until the client closes; ``async for`` it directly or after ``await`` (the
    truss-chains protocol declares ``iter_*`` as coroutines returning an iterator, starlette's
    are async generators: both spellings work)."""

    def __init__(self, next_message: Callable[[], Awaitable[T]]) -> None:
        self._next = next_message

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self._next()
        except WebSocketDisconnect:
            raise StopAsyncIteration from None

    def __await__(self) -> Generator[Any, None, _Messages[T]]:
        return self._itself().__await__()

    async def _itself(self) -> _Messages[T]:
        return self


class ServerWebSocket:
    """The `WebSocketProtocol` ``run_remote`` gets, over one ASGI websocket connection."""

    def __init__(self, receive: Receive, send: Send, headers: Mapping[str, str]) -> None:
        self._receive = receive
        self._send = send
        self.headers: Mapping[str, str] = headers
        self._closed: tuple[int, str] | None = None  # (code, reason) once either side closed
        self._client_closed = False

    # -- receiving ---------------------------------------------------------------------------
    async def _next(self) -> Message:
        if self._client_closed:
            assert self._closed is not None
            raise disconnect(*self._closed)
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self._client_closed = True
            # After our own close, uvicorn reports our code here: either way the session is over.
            if self._closed is None:
                self._closed = (int(message.get("code", 1005)), message.get("reason") or "")
            raise disconnect(*self._closed)
        return message

    async def receive(self) -> str | bytes:
        """The next message, text or bytes."""
        message = await self._next()
        text = message.get("text")
        return text if text is not None else bytes(message.get("bytes") or b"")

    async def receive_text(self) -> str:
        message = await self._next()
        text = message.get("text")
        if text is None:
            size = len(message.get("bytes") or b"")
            raise TypeError(f"receive_text() got a binary message ({size} bytes); use "
                            "receive_bytes(), or receive() for either kind")
        return str(text)

    async def receive_bytes(self) -> bytes:
        message = await self._next()
        data = message.get("bytes")
        if data is None:
            raise TypeError(f"receive_bytes() got a text message ({len(message.get('text') or '')} "
                            "characters); use receive_text(), or receive() for either kind")
        return bytes(data)

    async def receive_json(self) -> Any:
        """The next message (text or bytes) parsed as JSON."""
        return json.loads(await self.receive())

    def iter_text(self) -> _Messages[str]:
        return _Messages(self.receive_text)

    def iter_bytes(self) -> _Messages[bytes]:
        return _Messages(self.receive_bytes)

    def iter_json(self) -> _Messages[Any]:
        return _Messages(self.receive_json)

    # -- sending -----------------------------------------------------------------------------
    async def send_text(self, data: str) -> None:
        if not isinstance(data, str):
            raise TypeError(f"send_text() takes str, got {type(data).__name__}; use send_bytes() "
                            "for binary data")
        await self._send_message({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"send_bytes() takes bytes, got {type(data).__name__}; use send_text() "
                            "for text")
        await self._send_message({"type": "websocket.send", "bytes": bytes(data)})

    async def send_json(self, data: Any) -> None:
        """``data`` as a JSON text message (pydantic models, datetimes and the like included)."""
        await self.send_text(pydantic_core.to_json(data).decode())

    async def _send_message(self, message: Message) -> None:
        if self._closed is not None:
            raise disconnect(*self._closed)
        try:
            await self._send(message)
        except OSError:  # uvicorn's ClientDisconnected: the connection is gone
            self._closed = (ABNORMAL_CLOSURE, "")
            raise disconnect(*self._closed) from None

    # -- closing -----------------------------------------------------------------------------
    async def close(self, code: int = NORMAL_CLOSURE, reason: str | None = None) -> None:
        """Close with ``code`` and ``reason`` (the client sees both); a no-op once closed."""
        if code not in _SENDABLE_CODES and not 3000 <= code <= 4999:
            raise ValueError(f"close code {code} cannot be sent; use 1000 (normal), 1001-1003, "
                             "1007-1014, or an application code 3000-4999")
        if reason is not None and len(reason.encode()) > MAX_REASON_BYTES:
            raise ValueError(f"close reason is {len(reason.encode())} bytes in UTF-8; a close "
                             f"frame holds at most {MAX_REASON_BYTES}")
        await self.close_quietly(code, reason)

    async def close_quietly(self, code: int, reason: str | None = None) -> None:
        """Close unless already closed, ignoring a connection that is already gone."""
        if self._closed is not None:
            return
        self._closed = (code, reason or "")
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason or ""})
        except OSError:
            pass

    def is_connected(self) -> bool:
        """Neither side has closed (a heuristic: a dropped connection shows on the next call)."""
        return self._closed is None
