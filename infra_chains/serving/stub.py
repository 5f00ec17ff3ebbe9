"""Stubs: what a chainlet's ``depends(...)`` argument becomes in a deployed chain.

A typed stub has the dependency's ``run_remote`` signature (names, defaults, return type; a
pydantic return type comes back as that model). Its flavour follows the *caller*: a ``def
run_remote`` caller gets ``def run_remote`` stubs, an ``async def`` caller ``async def`` ones,
whatever the dependency itself is. `StubBase` is the public base for stubs to plain HTTP models.

Every call goes through one `_Caller`: codec headers, ``X-Request-ID``, the per-stub concurrency
limit, retries with exponential backoff and jitter (connection errors and 502/503/504 only,
never a 4xx or a remote user exception), the per-attempt timeout, and error decoding.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

from infra_chains.errors import (
    ChainsRuntimeError,
    DependencyUnreachableError,
    RemoteTimeoutError,
)
from infra_chains.framework.definition import ChainletDefinition
from infra_chains.public_types import DeploymentContext, RPCOptions, ServiceDescriptor
from infra_chains.serving import codec, remote_errors, request_id, transport
from infra_chains.serving.endpoint import EndpointCodec

if TYPE_CHECKING:
    from typing import Self

RETRYABLE_STATUS = frozenset({502, 503, 504})


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Delay before retry ``n`` (1-based): ``base * 2**(n-1)``, capped, with +-50 % jitter.

    Jitter spreads the retries of many callers that failed together (a restarting dependency).
    """

    base_sec: float = 0.1
    max_sec: float = 3.0

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        delay = min(self.max_sec, self.base_sec * 2.0 ** (retry - 1))
        if retry_after is not None:
            try:  # a server asking for a pause gets it, within our cap
                delay = max(delay, min(self.max_sec, float(retry_after)))
            except ValueError:
                pass
        return delay * random.uniform(0.5, 1.5)


class _Caller:
    """Sends requests to one service and turns failures into infra_chains exceptions."""

    def __init__(
        self,
        name: str,
        url: str,
        options: RPCOptions,
        *,
        binary: bool,
        api_key: str | None = None,
        caller: str | None = None,
        async_transport: transport.AsyncTransport | None = None,
        sync_transport: transport.SyncTransport | None = None,
        backoff: Backoff = Backoff(),
    ) -> None:
        self.name = name
        self.url = url
        self.options = options
        self.binary = binary
        self.caller = caller
        self._async_transport = async_transport
        self._sync_transport = sync_transport
        self._backoff = backoff
        content_type = codec.content_type(binary)
        self._headers = {"Content-Type": content_type, "Accept": content_type}
        if api_key:
            self._headers["Authorization"] = f"Api-Key {api_key}"
        self._sync_limit = threading.BoundedSemaphore(options.concurrency_limit)
        self._async_limits: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def _request_headers(self) -> dict[str, str]:
        rid = request_id.current()
        if rid is None:
            return self._headers
        return {**self._headers, request_id.HEADER: rid}

    def _who(self) -> str:
        by = f" from chainlet `{self.caller}`" if self.caller else ""
        return f"Call{by} to `{self.name}` at {self.url}"

    def _unreachable(self, attempts: int, error: Exception) -> DependencyUnreachableError:
        return DependencyUnreachableError(
            f"{self._who()} failed: no connection after {attempts} attempt"
            f"{'s' if attempts != 1 else ''} ({error}). Check that `{self.name}` is running and "
            "the URL is right; raise `retries` in `chains.depends(...)` to ride out restarts.",
            chainlet=self.name, url=self.url,
        )

    def _timeout(self) -> RemoteTimeoutError:
        return RemoteTimeoutError(
            f"{self._who()} timed out after {self.options.timeout_sec:g} s (timeout_sec). "
            f"Raise `timeout_sec` in `chains.depends(...)` if `{self.name}` is just slow.",
            chainlet=self.name, url=self.url,
        )

    def _result(self, response: transport.RawResponse, attempts: int) -> transport.RawResponse:
        if 200 <= response.status < 300:
            return response
        raise remote_errors.exception_from_response(
            response.status, response.body, chainlet=self.name, url=self.url, attempts=attempts
        )

    async def call_async(self, body: bytes) -> transport.RawResponse:
        loop = asyncio.get_running_loop()
        limit = self._async_limits.get(loop)
        if limit is None:
            limit = self._async_limits[loop] = asyncio.Semaphore(self.options.concurrency_limit)
        post = (self._async_transport or transport.default_async()).post
        headers = self._request_headers()
        attempts, stale_retried = 0, False
        async with limit:
            while True:
                attempts += 1
                try:
                    response = await post(self.url, body, headers, self.options.timeout_sec)
                except transport.StaleConnection as exc:
                    if not stale_retried:
                        stale_retried, attempts = True, attempts - 1
                        continue
                    if attempts >= self.options.retries:
                        raise self._unreachable(attempts, exc) from None
                    await asyncio.sleep(self._backoff.delay(attempts))
                    continue
                except transport.ConnectFailed as exc:
                    if attempts >= self.options.retries:
                        raise self._unreachable(attempts, exc) from None
                    await asyncio.sleep(self._backoff.delay(attempts))
                    continue
                except transport.AttemptTimeout:
                    raise self._timeout() from None
                if response.status in RETRYABLE_STATUS and attempts < self.options.retries:
                    await asyncio.sleep(self._backoff.delay(attempts, response.retry_after))
                    continue
                return self._result(response, attempts)

    def call_sync(self, body: bytes) -> transport.RawResponse:
        post = (self._sync_transport or transport.default_sync()).post
        headers = self._request_headers()
        attempts, stale_retried = 0, False
        with self._sync_limit:
            while True:
                attempts += 1
                try:
                    response = post(self.url, body, headers, self.options.timeout_sec)
                except transport.StaleConnection as exc:
                    if not stale_retried:
                        stale_retried, attempts = True, attempts - 1
                        continue
                    if attempts >= self.options.retries:
                        raise self._unreachable(attempts, exc) from None
                    time.sleep(self._backoff.delay(attempts))
                    continue
                except transport.ConnectFailed as exc:
                    if attempts >= self.options.retries:
                        raise self._unreachable(attempts, exc) from None
                    time.sleep(self._backoff.delay(attempts))
                    continue
                except transport.AttemptTimeout:
                    raise self._timeout() from None
                if response.status in RETRYABLE_STATUS and attempts < self.options.retries:
                    time.sleep(self._backoff.delay(attempts, response.retry_after))
                    continue
                return self._result(response, attempts)


# -- typed stubs for chainlet dependencies ------------------------------------------------------
class ChainletStub:
    """Base of generated stubs; ``run_remote`` is added per dependency by `make_chainlet_stub`."""

    __infra_chains_stub__: ClassVar[bool] = True

    def __init__(self, caller: _Caller, endpoint: EndpointCodec) -> None:
        self._caller = caller
        self._endpoint = endpoint

    def __repr__(self) -> str:
        return f"<stub of chainlet `{self._caller.name}` at {self._caller.url}>"


_stub_classes: dict[tuple[type[Any], bool], type[ChainletStub]] = {}


def make_chainlet_stub(
    dependency: ChainletDefinition,
    descriptor: ServiceDescriptor,
    *,
    caller_is_async: bool,
    caller: str | None = None,
    api_key: str | None = None,
    async_transport: transport.AsyncTransport | None = None,
    sync_transport: transport.SyncTransport | None = None,
) -> ChainletStub:
    """A stub whose ``run_remote`` calls ``dependency`` at ``descriptor.predict_url``.

    It uses the binary codec when the descriptor's options ask for it or the endpoint has
    ``bytes``/numpy types. ``caller`` (the calling chainlet's name) appears in error messages.
    """
    key = (dependency.cls, caller_is_async)
    stub_cls = _stub_classes.get(key)
    endpoint: EndpointCodec
    if stub_cls is None:
        endpoint = EndpointCodec(dependency)
        stub_cls = _stub_classes[key] = _stub_class(dependency.name, endpoint, caller_is_async)
    endpoint = stub_cls.__infra_chains_endpoint__  # type: ignore[attr-defined]
    binary = descriptor.options.use_binary or endpoint.uses_binary
    call = _Caller(
        dependency.name, descriptor.predict_url, descriptor.options, binary=binary, api_key=api_key,
        caller=caller, async_transport=async_transport, sync_transport=sync_transport,
    )
    return stub_cls(call, endpoint)


def _stub_class(name: str, endpoint: EndpointCodec, is_async: bool) -> type[ChainletStub]:
    signature = endpoint.signature.replace(
        parameters=list(endpoint.signature.parameters.values())[1:]
    )
    bind = signature.bind

    def _decode(self: ChainletStub, response: transport.RawResponse) -> Any:
        return endpoint.load_result(response.body, codec.is_msgpack(response.content_type))

    run_remote: Any
    if is_async:
        async def run_remote(self: ChainletStub, *args: Any, **kwargs: Any) -> Any:
            caller = self._caller
            body = endpoint.dump_arguments(bind(*args, **kwargs).arguments, caller.binary)
            return _decode(self, await caller.call_async(body))
    else:
        def run_remote(self: ChainletStub, *args: Any, **kwargs: Any) -> Any:
            caller = self._caller
            body = endpoint.dump_arguments(bind(*args, **kwargs).arguments, caller.binary)
            return _decode(self, caller.call_sync(body))

    run_remote.__signature__ = endpoint.signature
    run_remote.__qualname__ = f"{name}Stub.run_remote"
    run_remote.__doc__ = f"Call chainlet `{name}` remotely (same signature as its run_remote)."
    return type(f"{name}Stub", (ChainletStub,), {
        "run_remote": run_remote, "__infra_chains_endpoint__": endpoint, "__module__": __name__,
    })


# -- StubBase: stubs to plain HTTP models ---------------------------------------------------
class RemoteService:
    """``self._remote`` of a `StubBase`: posts a JSON payload, returns the decoded answer."""

    def __init__(self, descriptor: ServiceDescriptor, api_key: str | None = None) -> None:
        self.descriptor = descriptor
        self._binary = descriptor.options.use_binary
        self._caller = _Caller(
            descriptor.name, descriptor.predict_url, descriptor.options, binary=self._binary,
            api_key=api_key,
        )

    def _decode(self, response: transport.RawResponse) -> Any:
        return codec.decode(response.body, codec.is_msgpack(response.content_type))

    def predict_sync(self, json_payload: Any) -> Any:
        """POST ``json_payload`` and return the decoded response (blocking)."""
        return self._decode(self._caller.call_sync(codec.encode(json_payload, self._binary)))

    async def predict_async(self, json_payload: Any) -> Any:
        """POST ``json_payload`` and return the decoded response."""
        return self._decode(await self._caller.call_async(codec.encode(json_payload, self._binary)))


class StubBase:
    """Base class for stubs to deployed HTTP services, e.g. a plain model server.

    Subclass it, give it a typed ``run_remote`` that calls ``self._remote.predict_sync(payload)``
    (or ``await self._remote.predict_async(payload)``) and converts the answer; build it in a
    chainlet's ``__init__`` with ``MyStub.from_url(url, context)``. Calls get the same retries,
    timeout and concurrency limit as chainlet stubs, configured by `RPCOptions`.
    """

    __infra_chains_stub__: ClassVar[bool] = True

    def __init__(self, service_descriptor: ServiceDescriptor, api_key: str | None = None) -> None:
        self._remote = RemoteService(service_descriptor, api_key)

    @classmethod
    def from_url(
        cls,
        predict_url: str,
        context: DeploymentContext[Any] | str | None = None,
        options: RPCOptions | None = None,
    ) -> Self:
        """A stub for ``predict_url``; ``context`` (or an API key string) supplies the API key."""
        if isinstance(context, str):
            api_key: str | None = context
        elif context is not None:
            try:
                api_key = context.get_api_key()
            except ChainsRuntimeError:
                api_key = None  # targets without API keys (local, plain k8s services)
        else:
            api_key = None
        descriptor = ServiceDescriptor(
            name=cls.__name__, predict_url=predict_url, options=options or RPCOptions()
        )
        return cls(descriptor, api_key)
