"""The ASGI app of one chainlet: ``/run_remote``, ``/healthz``, ``/readyz``, ``/metrics``,
``/openapi.json``.

Raw ASGI, no web framework: routing five fixed paths needs none, and PERF.md measured a
framework's request/validation layer at ~0.5 ms per hop, as much as the whole rest of a hop.
Validation is pydantic-core straight from the body bytes (`EndpointCodec`).

User code runs under the `Limiter` (``predict_concurrency``): ``async def`` endpoints on the
event loop, ``def`` endpoints in a thread pool of the same size, each in a copy of the request's
context so ``X-Request-ID`` reaches the stubs it calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pydantic
import pydantic_core

from infra_chains.public_types import RemoteErrorDetail
from infra_chains.serving import codec, remote_errors, request_id
from infra_chains.serving.concurrency import RETRY_AFTER_SEC, Limiter, QueueFull
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
    ) -> None:
        self.chain_name = chain_name
        self.name = chainlet_name
        self.endpoint = endpoint
        self.max_request_bytes = max_request_bytes
        self.limiter = Limiter(predict_concurrency, max_queued_requests)
        self.metrics = Metrics(chainlet_name, lambda: (self.limiter.in_flight, self.limiter.queued))
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
        self._run_remote = instance.run_remote

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
            if path == "/run_remote":
                if method == "POST":
                    await self._run(scope, receive, send)
                else:
                    await _send(send, 405, b'{"detail":"use POST"}', _JSON, [(b"allow", b"POST")])
            elif method not in ("GET", "HEAD"):
                await _send(send, 405, b'{"detail":"use GET"}', _JSON, [(b"allow", b"GET")])
            elif path == "/healthz":
                await _send(send, 200, b'{"status":"alive"}', _JSON, self._identity)
            elif path == "/readyz":
                await self._readyz(send)
            elif path == "/metrics":
                await _send(send, 200, self.metrics.render(), _TEXT)
            elif path == "/openapi.json":
                if self._openapi is None:
                    title = f"{self.chain_name} / {self.name}"
                    self._openapi = pydantic_core.to_json(self.endpoint.openapi(title))
                await _send(send, 200, self._openapi, _JSON)
            else:
                await _send(send, 404, b'{"detail":"not found; POST /run_remote"}', _JSON)
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
        content_type = accept = rid = b""
        length = -1
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value
            elif key == b"accept":
                accept = value
            elif key == b"x-request-id":
                rid = value
            elif key == b"content-length":
                length = int(value) if value.isdigit() else -1
        rid_text = rid.decode("latin-1") if rid else request_id.new()
        headers = [(b"x-request-id", rid_text.encode("latin-1"))]
        binary_in = b"msgpack" in content_type
        binary_out = b"msgpack" in accept if (b"msgpack" in accept or b"json" in accept) else binary_in
        token = request_id.set_current(rid_text)
        try:
            status, body = await self._handle(receive, length, binary_in, binary_out, headers)
        except _Reject as reject:
            detail = RemoteErrorDetail(remote_name=self.name, exception_cls_name=reject.kind,
                                       exception_module_name="infra_chains",
                                       exception_message=str(reject), status_code=reject.status)
            status, body = reject.status, remote_errors.error_body(detail, reject.extra)
            headers += reject.headers
        finally:
            request_id.reset(token)
        if status == 0:  # client went away while sending its body
            return
        # Error bodies are always JSON (`{"error": RemoteErrorDetail}`), whatever the caller asked.
        await _send(send, status, body, _MSGPACK if binary_out and status == 200 else _JSON, headers)
        elapsed = time.perf_counter() - start
        self.metrics.observe(status, elapsed)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("request chainlet=%s status=%d latency_ms=%.3f request_id=%s",
                         self.name, status, elapsed * 1000, rid_text)

    async def _handle(self, receive: Receive, length: int, binary_in: bool, binary_out: bool,
                      headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
        limit = self.max_request_bytes
        if length > limit:
            raise _Reject(413, "RequestTooLarge", _too_large(self.name, length, limit))
        body = await _read_body(receive, limit, self.name)
        if body is None:
            return 0, b""
        run_remote = self._run_remote
        if run_remote is None:
            raise _Reject(503, "NotReady", f"Chainlet `{self.name}` is still initialising "
                          "(`__init__` has not finished); retry shortly.",
                          [(b"retry-after", str(RETRY_AFTER_SEC).encode())])
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
                          f"retry after {RETRY_AFTER_SEC} s.",
                          [(b"retry-after", str(RETRY_AFTER_SEC).encode())]) from None
        try:
            if self._executor is None:
                result = await run_remote(**kwargs)
            else:
                call = functools.partial(contextvars.copy_context().run, run_remote, **kwargs)
                result = await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except Exception as exc:
            # Per-request, so DEBUG (STYLE.md); the caller gets the whole traceback anyway.
            logger.debug("chainlet %s raised %s (request_id=%s)", self.name, type(exc).__name__,
                         request_id.current(), exc_info=True)
            detail = remote_errors.detail_from_exception(exc, self.name)
            return detail.status_code, remote_errors.error_body(detail)
        finally:
            self.limiter.release()
        try:
            return 200, self.endpoint.dump_result(result, binary_out)
        except (pydantic_core.PydanticSerializationError, codec.CodecError, TypeError, ValueError) as exc:
            return 500, remote_errors.error_body(remote_errors.detail_from_exception(exc, self.name))


async def _read_body(receive: Receive, limit: int, name: str) -> bytes | bytearray | None:
    message = await receive()
    if message["type"] != "http.request":
        return None
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise _Reject(413, "RequestTooLarge", _too_large(name, len(body), limit))
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _Reject(413, "RequestTooLarge", _too_large(name, size, limit))
        chunks.append(chunk)
    # A bytearray: numpy arrays in a binary body then decode as writable views, with no copy.
    return bytearray().join(chunks)


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
