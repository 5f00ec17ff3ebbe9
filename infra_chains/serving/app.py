"""The ASGI app of one chainlet: ``/run_remote`` (or ``/websocket`` for a websocket
``run_remote``: `websocket.py`), ``/healthz``, ``/readyz``, ``/metrics``, ``/openapi.json``.

Raw ASGI, no web framework: routing five fixed paths needs none, and PERF.md measured a
framework's request/validation layer at ~0.5 ms per hop, as much as the whole rest of a hop.
Validation is pydantic-core straight from the body bytes (`EndpointCodec`).

User code runs under the `Limiter` (``predict_concurrency``): ``async def`` endpoints on the
event loop, ``def`` endpoints in a thread pool of the same size, each in a copy of the request's
context so ``X-Request-ID`` reaches the stubs it calls.

Before any of that, ``/run_remote`` checks who calls and what they send, cheapest first: the Host
header (``allowed_hosts``: a web page reached through another name cannot drive a local chain),
the chain token (a chainlet behind the entrypoint takes calls from its own chain only) or the
entrypoint's API key (compared in constant time), the content type (a browser's ``text/plain``
or form post is 415), the size (413 before reading), and a share of the process' body-memory
budget (`MemoryBudget`). ``/healthz``, ``/readyz`` and ``/metrics`` stay open for probes.
Every 5xx is logged once, with its request id and a one-line summary (never the payload).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import pydantic
import pydantic_core

from infra_chains.public_types import RemoteErrorDetail
from infra_chains.serving import codec, remote_errors, request_id, stream_sender, websocket
from infra_chains.serving.concurrency import (
    RETRY_AFTER_SEC,
    BudgetExhausted,
    Limiter,
    MemoryBudget,
    QueueFull,
)
from infra_chains.serving.endpoint import EndpointCodec
from infra_chains.serving.metrics import Metrics
from infra_chains.serving.probe import INSTANCE_HEADER

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = codec.JSON_CONTENT_TYPE.encode()
_MSGPACK = codec.MSGPACK_CONTENT_TYPE.encode()
_TEXT = b"text/plain; version=0.0.4; charset=utf-8"
_MEDIA_TYPES = frozenset({_JSON, _MSGPACK})
_RETRY_AFTER = [(b"retry-after", str(RETRY_AFTER_SEC).encode())]
_GET_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})
_WEBSOCKET_HTTP_PATHS = frozenset({"/run_remote", websocket.WEBSOCKET_PATH})
#: Longest summary of an error in a log line: enough for the class and the message's first line.
_SUMMARY_CHARS = 300


class _Reject(Exception):
    """Answer the request with ``status`` and a framework error body (not a user exception)."""

    def __init__(self, status: int, kind: str, message: str, headers: list[tuple[bytes, bytes]] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.headers = headers or []
        self.extra = extra


class ChainletApp:
    """Serves one chainlet instance; not ready (503) until `set_ready` is called."""

    def __init__(
        self,
        *,
        chain_name: str,
        chainlet_name: str,
        endpoint: EndpointCodec,
        predict_concurrency: int,
        max_queued_requests: int,
        max_request_bytes: int,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
        instance_id: str | None = None,
        chain_token: str | None = None,
        api_key: str | None = None,
        allowed_hosts: Sequence[str] | None = None,
        request_memory_bytes: int = 256 * 1024 * 1024,
        request_memory_wait_sec: float = 2.0,
    ) -> None:
        """``chain_token``: required from callers (a chainlet behind the entrypoint); ``api_key``:
        required as ``Authorization: Api-Key`` (the entrypoint); ``allowed_hosts``: Host
        header values accepted (``name`` or ``name:port``), None for any."""
        self.chain_name = chain_name
        self.name = chainlet_name
        self.endpoint = endpoint
        self.max_request_bytes = max_request_bytes
        self._credential: tuple[bytes, bytes] | None = None  # (header name, expected value)
        if chain_token is not None:
            self._credential = (b"x-infra-chains-token", chain_token.encode())
        elif api_key is not None:
            self._credential = (b"authorization", b"Api-Key " + api_key.encode())
        self._hosts: frozenset[bytes] | None = None
        self._hostnames: frozenset[bytes] = frozenset()
        if allowed_hosts is not None:
            names = [h.strip().lower().encode("idna") for h in allowed_hosts]
            self._hosts = frozenset(names)
            self._hostnames = frozenset(n for n in names if not _has_port(n))
        self.budget = MemoryBudget(max(request_memory_bytes, max_request_bytes), request_memory_wait_sec)
        self.limiter = Limiter(predict_concurrency, max_queued_requests)
        self.metrics = Metrics(
            chainlet_name,
            lambda: (self.limiter.in_flight, self.limiter.queued),
            lambda: (self.budget.used, self.budget.capacity),
        )
        self._on_shutdown = on_shutdown
        self._instance: Any = None
        self._run_remote: Callable[..., Any] | None = None
        self._health: Callable[[], Any] | None = None
        self._health_is_async = False
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        if not endpoint.is_async:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=predict_concurrency, thread_name_prefix=f"chainlet-{chainlet_name}"
            )
        self._openapi: bytes | None = None
        #: ``str``/``bytes`` for a streaming endpoint: its answers are sent by `stream_sender`.
        self._stream_item = endpoint.stream_item
        #: Set when the process drains (runtime.py): responses then carry `Connection: close`.
        self.closing = False
        # Probes prove identity: /healthz and /readyz echo the contract's instance_id (probe.py).
        self._identity = [(INSTANCE_HEADER.encode(), instance_id.encode())] if instance_id else []

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._run_remote is not None

    def set_ready(self, instance: Any, health_check_is_async: bool) -> None:
        """Serve ``instance`` from now on (call on the event loop, after ``__init__`` finished)."""
        self._instance = instance
        health = getattr(instance, "is_healthy", None)
        self._health = health if callable(health) else None
        self._health_is_async = health_check_is_async
        # `predict` for a ModelBase, `run_remote` for every other chainlet.
        self._run_remote = getattr(instance, self.endpoint.method_name)

    async def _shutdown(self) -> None:
        if self._on_shutdown is not None:
            await self._on_shutdown()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # -- ASGI --------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path, method = scope["path"], scope["method"]
            if self.endpoint.is_websocket and path in _WEBSOCKET_HTTP_PATHS:
                await _send(send, 426, self._reject_body(self._websocket_only()), _JSON,
                            [(b"upgrade", b"websocket")])
            elif path == "/run_remote":
                if method == "POST":
                    await self._run(scope, receive, send)
                else:
                    await _send(send, 405, b'{"detail":"use POST"}', _JSON, [(b"allow", b"POST")])
            elif path not in _GET_PATHS:
                await _send(send, 404, b'{"detail":"not found; POST /run_remote"}', _JSON)
            elif method not in ("GET", "HEAD"):
                await _send(send, 405, b'{"detail":"use GET"}', _JSON, [(b"allow", b"GET, HEAD")])
            elif path == "/healthz":
                await _send(send, 200, b'{"status":"alive"}', _JSON, self._identity)
            elif path == "/readyz":
                await self._readyz(send)
            elif path == "/metrics":
                await _send(send, 200, self.metrics.render(), _TEXT)
            else:  # /openapi.json
                if self._openapi is None:
                    title = f"{self.chain_name} / {self.name}"
                    self._openapi = pydantic_core.to_json(self.endpoint.openapi(title))
                await _send(send, 200, self._openapi, _JSON)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self._shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def _readyz(self, send: Send) -> None:
        if not self.ready:
            await _send(send, 503, b'{"status":"initialising"}', _JSON,
                        [(b"retry-after", b"1"), *self._identity])
            return
        healthy = True
        if self._health is not None:
            try:
                if self._health_is_async:
                    healthy = bool(await self._health())
                else:
                    healthy = bool(await asyncio.get_running_loop().run_in_executor(None, self._health))
            except Exception:
                logger.warning("is_healthy() of chainlet %s raised", self.name, exc_info=True)
                healthy = False
        if healthy:
            await _send(send, 200, b'{"status":"ready"}', _JSON, self._identity)
        else:
            await _send(send, 503, b'{"status":"unhealthy"}', _JSON, self._identity)

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        content_type = accept = rid = host = credential = b""
        length = -1
        credential_header = self._credential[0] if self._credential is not None else None
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value
            elif key == b"accept":
                accept = value
            elif key == b"x-request-id":
                rid = value
            elif key == b"content-length":
                length = int(value) if value.isdigit() else -1
            elif key == b"host":
                host = value
            elif key == credential_header:
                credential = value
        rid_text = rid.decode("latin-1") if rid else request_id.new()
        headers = [(b"x-request-id", rid_text.encode("latin-1"))]
        if self.closing:  # draining: the client reconnects (to the next incarnation) after this
            headers.append((b"connection", b"close"))
        binary_in = content_type != _JSON and _is_msgpack(content_type)
        binary_out = b"msgpack" in accept if (b"msgpack" in accept or b"json" in accept) else binary_in
        token = request_id.set_current(rid_text)
        summary: str | None = None
        streamed = False
        try:
            self._check_caller(host, credential, content_type)
            status, body, summary = await self._handle(receive, length, binary_in, binary_out)
            if type(body) is stream_sender.Outgoing:  # sent in this request's context
                streamed = True
                status, summary = await stream_sender.send_stream(
                    send, receive, body, framed=stream_sender.wants_frames(accept), headers=headers,
                    chainlet=self.name, read_timeout=self.endpoint.stream_read_timeout)
        except _Reject as reject:
            detail = RemoteErrorDetail(remote_name=self.name, exception_cls_name=reject.kind,
                                       exception_module_name="infra_chains",
                                       exception_message=str(reject), status_code=reject.status)
            status, body = reject.status, remote_errors.error_body(detail, reject.extra)
            summary = f"{reject.kind}: {reject}"
            headers += reject.headers
        finally:
            request_id.reset(token)
        if status == 0:  # client went away while sending its body (or reading a stream)
            return
        if not streamed:
            # Error bodies are always JSON (`{"error": RemoteErrorDetail}`), whatever was asked.
            await _send(send, status, body,  # type: ignore[arg-type]
                        _MSGPACK if binary_out and status == 200 else _JSON, headers)
        elapsed = time.perf_counter() - start
        self.metrics.observe(status, elapsed)
        if status >= 500:
            logger.log(logging.ERROR if status == 500 else logging.WARNING,
                       "chainlet %s answered %d (request_id=%s, %.1f ms): %s", self.name, status,
                       rid_text, elapsed * 1000, _one_line(summary or ""))
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("request chainlet=%s status=%d latency_ms=%.3f request_id=%s",
                         self.name, status, elapsed * 1000, rid_text)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A websocket handshake: the checks of ``/run_remote`` and the Origin, then the session
        (`websocket.py`)."""
        credential_header = self._credential[0] if self._credential is not None else None
        handshake = websocket.Handshake(scope["headers"], credential_header)
        try:
            if scope["path"] != websocket.WEBSOCKET_PATH or not self.endpoint.is_websocket:
                where = (f"connect to {websocket.WEBSOCKET_PATH}" if self.endpoint.is_websocket
                         else "its run_remote takes no websocket; POST /run_remote")
                raise _Reject(404, "NotFound", f"Chainlet `{self.name}` serves no websocket at "
                              f"{_short(scope['path'])}: {where}.")
            self._check_caller(handshake.host, handshake.credential, None)
            problem = websocket.origin_problem(handshake.origin, handshake.host, self._hosts)
            if problem is not None:
                raise _Reject(403, "OriginNotAllowed", f"Chainlet `{self.name}`: {problem}")
            handler = self._run_remote
            if handler is None:
                raise _Reject(503, "Initialising", f"Chainlet `{self.name}` is still running "
                              "__init__; connect again shortly.", _RETRY_AFTER)
        except _Reject as reject:
            await websocket.refuse(scope, receive, send, reject.status, self._reject_body(reject),
                                   reject.headers)
            return
        await websocket.run_session(scope, receive, send, handler, chainlet=self.name,
                                    handshake=handshake, hidden_header=credential_header)

    def _websocket_only(self) -> _Reject:
        return _Reject(426, "WebSocketEndpoint", f"Chainlet `{self.name}` serves a websocket (its "
                       "run_remote takes a chains.WebSocketProtocol): connect to "
                       f"ws://<its address>{websocket.WEBSOCKET_PATH} with a websocket client.")

    def _reject_body(self, reject: _Reject) -> bytes:
        detail = RemoteErrorDetail(remote_name=self.name, exception_cls_name=reject.kind,
                                   exception_module_name="infra_chains",
                                   exception_message=str(reject), status_code=reject.status)
        return remote_errors.error_body(detail, reject.extra)

    def _check_caller(self, host: bytes, credential: bytes, content_type: bytes | None) -> None:
        """Refuse what a chain's own callers never send: another Host, no or a wrong credential,
        another content type (in that order: the cheapest and the least telling first; a
        websocket handshake has no content type: None)."""
        hosts = self._hosts
        if hosts is not None and host not in hosts:
            host = host.lower()
            if host not in hosts and _strip_port(host) not in self._hostnames:
                raise _Reject(400, "HostNotAllowed", f"Host header {_short(host.decode('latin-1'))} "
                              f"is not one chainlet `{self.name}` answers to (`allowed_hosts` in its "
                              "runtime contract); call it by the address its chain was given.")
        if self._credential is not None:
            name, expected = self._credential
            if not credential:
                raise _Reject(401, "Unauthorized", self._credential_help(missing=True),
                              [(b"www-authenticate", b"Api-Key")] if name == b"authorization" else None)
            if not hmac.compare_digest(credential, expected):
                raise _Reject(403, "Forbidden", self._credential_help(missing=False))
        if content_type is not None and content_type != _JSON and content_type != _MSGPACK and (
                _media_type(content_type) not in _MEDIA_TYPES):
            shown = _short(content_type.decode("latin-1")) if content_type else "(none)"
            raise _Reject(415, "UnsupportedMediaType", f"Content-Type {shown} is not accepted by "
                          f"chainlet `{self.name}`: send `{codec.JSON_CONTENT_TYPE}` (or "
                          f"`{codec.MSGPACK_CONTENT_TYPE}`).",
                          [(b"accept-post", b", ".join(sorted(_MEDIA_TYPES)))])

    def _credential_help(self, *, missing: bool) -> str:
        assert self._credential is not None
        if self._credential[0] == b"authorization":
            what = "no API key" if missing else "a wrong API key"
            return (f"Chain `{self.chain_name}`'s entrypoint `{self.name}` got {what}: send "
                    "`Authorization: Api-Key <key>` with the key its target was configured with.")
        what = "without" if missing else "with a wrong"
        return (f"Chainlet `{self.name}` takes calls only from its chain `{self.chain_name}` (a "
                f"call came {what} chain token); call the chain's entrypoint instead.")

    async def _handle(self, receive: Receive, length: int, binary_in: bool,
                      binary_out: bool) -> tuple[int, bytes | stream_sender.Outgoing, str | None]:
        """(status, body, error summary for the log) of one call; raises `_Reject`."""
        limit = self.max_request_bytes
        if length > limit:
            raise _Reject(413, "RequestTooLarge", _too_large(self.name, length, limit))
        budget = self.budget
        reserved = length if length > 0 else 0
        if reserved and not budget.try_take(reserved):
            await self._wait_for_budget(reserved)
        try:
            body, reserved = await self._read_body(receive, limit, reserved)
            if body is None:
                return 0, b"", None
            return await self._call(body, binary_in, binary_out)
        finally:
            if reserved:
                budget.give_back(reserved)

    async def _wait_for_budget(self, size: int) -> None:
        try:
            await self.budget.take(size)
        except BudgetExhausted as exc:
            raise _Reject(503, "MemoryBudgetExhausted", f"Chainlet `{self.name}` is holding as "
                          f"many request bodies as it may: {exc}; retry after {RETRY_AFTER_SEC} s.",
                          _RETRY_AFTER) from None

    async def _read_body(self, receive: Receive, limit: int,
                         reserved: int) -> tuple[bytes | bytearray | None, int]:
        """The whole body, and the bytes now reserved for it (chunked bodies: as they come)."""
        message = await receive()
        if message["type"] != "http.request":
            return None, reserved
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > limit:
                raise _Reject(413, "RequestTooLarge", _too_large(self.name, len(body), limit))
            return body, reserved
        chunks = [body]
        size = len(body)
        while True:
            if size > reserved:  # chunked, or more than Content-Length said: reserve as it comes
                more = size - reserved
                if not self.budget.try_take(more):
                    await self._wait_for_budget(more)
                reserved = size
            if not message.get("more_body", False):
                break
            message = await receive()
            if message["type"] != "http.request":
                return None, reserved
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _Reject(413, "RequestTooLarge", _too_large(self.name, size, limit))
            chunks.append(chunk)
        # A bytearray: numpy arrays in a binary body then decode as writable views, with no copy.
        return bytearray().join(chunks), reserved

    async def _call(self, body: bytes | bytearray, binary_in: bool,
                    binary_out: bool) -> tuple[int, bytes | stream_sender.Outgoing, str | None]:
        run_remote = self._run_remote
        if run_remote is None:
            raise _Reject(503, "NotReady", f"Chainlet `{self.name}` is still initialising "
                          "(`__init__` has not finished); retry shortly.", _RETRY_AFTER)
        try:
            kwargs = self.endpoint.parse_arguments(body, binary_in)
        except pydantic.ValidationError as exc:
            raise _Reject(422, "ValidationError", _validation_message(self.name, exc),
                          extra={"detail": _validation_detail(exc)}) from None
        except codec.CodecError as exc:
            raise _Reject(422, "ValidationError", f"Invalid request body for chainlet "
                          f"`{self.name}`: {exc}") from None
        try:
            await self.limiter.acquire()
        except QueueFull as exc:
            raise _Reject(503, "Overloaded", f"Chainlet `{self.name}` is at capacity: {exc}; "
                          f"retry after {RETRY_AFTER_SEC} s.", _RETRY_AFTER) from None
        if self._stream_item is not None:
            return await self._open_stream(run_remote, kwargs, self._stream_item)
        try:
            if self._executor is None:
                result = await run_remote(**kwargs)
            else:
                call = functools.partial(contextvars.copy_context().run, run_remote, **kwargs)
                result = await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except Exception as exc:
            # The caller gets the traceback; `_run` logs a 5xx once, in one line.
            logger.debug("chainlet %s raised %s (request_id=%s)", self.name, type(exc).__name__,
                         request_id.current(), exc_info=True)
            return _error(remote_errors.detail_from_exception(exc, self.name))
        finally:
            self.limiter.release()
        try:
            return 200, self.endpoint.dump_result(result, binary_out), None
        except (pydantic_core.PydanticSerializationError, codec.CodecError, TypeError, ValueError) as exc:
            return _error(remote_errors.detail_from_exception(exc, self.name))


    async def _open_stream(
        self, run_remote: Callable[..., Any], kwargs: dict[str, Any], item: type[Any],
    ) -> tuple[int, bytes | stream_sender.Outgoing, str | None]:
        """Start a streaming ``run_remote``; the stream keeps the concurrency slot until it ends
        (`stream_sender.send_stream` releases it), so it counts as in flight and the drain waits."""
        try:
            outgoing = await stream_sender.open_stream(run_remote, kwargs, item,
                                                       self.limiter.release)
        except Exception as exc:
            self.limiter.release()
            logger.debug("chainlet %s raised %s (request_id=%s)", self.name, type(exc).__name__,
                         request_id.current(), exc_info=True)
            return _error(remote_errors.detail_from_exception(exc, self.name))
        return 200, outgoing, None


def _error(detail: RemoteErrorDetail) -> tuple[int, bytes, str | None]:
    summary = f"{detail.exception_cls_name}: {detail.exception_message}"
    return detail.status_code, remote_errors.error_body(detail), summary


def _media_type(content_type: bytes) -> bytes:
    return content_type.partition(b";")[0].strip().lower()


def _is_msgpack(content_type: bytes) -> bool:
    return content_type == _MSGPACK or _media_type(content_type) == _MSGPACK


def _has_port(host: bytes) -> bool:
    """Whether a Host value ends in ``:port`` (``[::1]`` alone has colons but no port)."""
    head, colon, port = host.rpartition(b":")
    return bool(colon) and port.isdigit() and (not host.startswith(b"[") or head.endswith(b"]"))


def _strip_port(host: bytes) -> bytes:
    return host.rpartition(b":")[0] if _has_port(host) else host


def _one_line(text: str) -> str:
    """The first non-empty line of ``text``, cut to `_SUMMARY_CHARS`: a log line stays one line
    and carries no more of a payload than an error message quotes."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "(no message)")
    return line if len(line) <= _SUMMARY_CHARS else line[:_SUMMARY_CHARS - 3] + "..."


def _too_large(name: str, size: int, limit: int) -> str:
    return (f"Request body of {size} bytes is larger than chainlet `{name}` accepts ({limit} bytes, "
            "`max_request_bytes` in its runtime contract). Send less data per call, or pass large "
            "data by reference (a URL or path).")


def _validation_message(name: str, exc: pydantic.ValidationError) -> str:
    problems = "; ".join(
        f"`{'.'.join(str(p) for p in err['loc']) or '(body)'}`: {err['msg']}"
        + (f" (got {_short(err['input'])})" if err["type"] not in ("missing", "extra_forbidden") else "")
        for err in exc.errors(include_url=False)
    )
    return f"Invalid arguments for `{name}.run_remote`: {problems}."


def _validation_detail(exc: pydantic.ValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False)]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


async def _send(send: Send, status: int, body: bytes, content_type: bytes,
                extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if extra_headers:
        headers += extra_headers
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
