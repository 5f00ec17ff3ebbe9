"""Stubs: what a chainlet's ``depends(...)`` argument becomes in a deployed chain.

A typed stub has the dependency's ``run_remote`` signature (names, defaults, return type; a
pydantic return type comes back as that model) and, as in truss-chains, its flavour: a dependency
with ``def run_remote`` gets a blocking ``def run_remote`` stub, one with ``async def run_remote``
an ``async def`` stub, whoever calls it. A blocking stub called from an ``async def run_remote``
blocks the caller's event loop (its other requests, its health checks) for the call's duration,
exactly as in truss-chains; give the *dependency* ``async def run_remote`` for a call that does not
block. A loop blocked longer than the target's liveness check allows (by default three missed
one-second ``/healthz`` probes, ``probe.LIVENESS``; the caller's
``ChainletOptions.health_checks.restart_threshold_seconds`` raises it) gets the calling chainlet
restarted as hung; the first such call of each stub logs a warning saying so (the contract's
``liveness_budget_sec`` gives the number). Blocking stubs use the thread-safe stdlib transport
(`transport.default_sync`), which needs no event loop, so they work from any thread, the loop's
own included. A stub to a streaming dependency returns its stream, to be read from an ``async
def`` caller. `StubBase` is the public base for stubs to plain HTTP models.

Every call goes through one `_Caller`: codec headers, ``X-Request-ID``, the chain token, the
per-stub concurrency limit, the per-attempt timeout, error decoding, and retries as one
`RetryPolicy` decides (requests that never reached a server within a deadline, whatever
``retries`` says; connection loss and 502/503/504 within ``retries``; never a 4xx, a remote user
exception or a timeout).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import random
import threading
import time
import typing
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

import pydantic

from infra_chains.errors import (
    ChainsRuntimeError,
    DependencyUnreachableError,
    RemoteTimeoutError,
)
from infra_chains.framework.definition import ChainletDefinition
from infra_chains.public_types import DeploymentContext, RPCOptions, ServiceDescriptor
from infra_chains.serving import codec, remote_errors, request_id, streams, transport
from infra_chains.serving.endpoint import EndpointCodec

if TYPE_CHECKING:
    from typing import Self

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({502, 503, 504})
#: Header carrying the per-chain token from a stub to a chainlet of its own chain.
CHAIN_TOKEN_HEADER = "X-Infra-Chains-Token"


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Delay before retry ``n`` (1-based): ``base * 2**(n-1)``, capped, with +-``jitter``.

    Jitter spreads the retries of many callers that failed together (a restarting dependency).
    ``unsent_window_sec`` caps how long a call whose request never reached a server keeps
    retrying (within ``timeout_sec`` too): a dependency that is really gone must not hold its
    callers for the default 600 s timeout.
    """

    base_sec: float = 0.05
    max_sec: float = 2.0
    jitter: float = 0.5
    unsent_window_sec: float = 20.0

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        delay = min(self.max_sec, self.base_sec * 2.0 ** (retry - 1))
        if retry_after is not None:
            try:  # a server asking for a pause gets it, within our cap
                delay = max(delay, min(self.max_sec, float(retry_after)))
            except ValueError:
                pass
        if self.jitter:
            delay *= random.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return delay


class Failure(enum.Enum):
    """What went wrong in one attempt, as far as retrying is concerned."""

    NOT_SENT = "not sent"  # no connection, or the pooled one was closed before writing
    STALE = "stale"  # a reused connection closed before any response byte
    LOST = "lost"  # the connection broke after the request was sent
    UNPROCESSED = "unprocessed"  # our server refused before user code ran (initialising, full)
    STATUS = "status"  # 502/503/504 from a server that may have acted on the request
    TIMEOUT = "timeout"  # no complete answer in time: never retried


def classify(outcome: transport.TransportError | transport.RawResponse) -> Failure | None:
    """The `Failure` of an attempt's outcome; None for an answer that is final (2xx, 4xx, 500)."""
    if isinstance(outcome, transport.RawResponse):
        if outcome.status not in RETRYABLE_STATUS:
            return None
        if remote_errors.not_processed(outcome.status, outcome.body):
            return Failure.UNPROCESSED
        return Failure.STATUS
    if isinstance(outcome, transport.AttemptTimeout):
        return Failure.TIMEOUT
    if isinstance(outcome, transport.NotSent):
        return Failure.NOT_SENT
    if isinstance(outcome, transport.StaleConnection):
        return Failure.STALE
    return Failure.LOST


class RetryPolicy:
    """Decides, after each failed attempt of one call, whether to retry and after what delay.

    The one retry state machine of the stubs; `_Caller.call_sync` and `call_async` only drive it
    (made on the first failure, so a successful call allocates nothing for it). The rules:

    * a request that never reached a server (`Failure.NOT_SENT`) or that our server refused
      before running user code (`Failure.UNPROCESSED`) is safe to send again: retried with
      backoff until ``min(timeout_sec, unsent_window_sec)`` after the first failure, whatever
      ``retries`` says (and at least up to ``retries`` attempts), so a restarting dependency
      costs latency, not errors;
    * the first `Failure.STALE` (a pooled connection the server had closed) is retried at once
      and not counted: the server closing an idle connection is not a failure of the call;
    * anything after the request was sent (`LOST`, a later `STALE`, 502/503/504) counts
      against ``retries`` (the total number of attempts, as in truss-chains);
    * a timeout is never retried: the dependency may still be working on the request.
    """

    __slots__ = ("_backoff", "_deadline", "_options", "_stale_forgiven", "attempts", "charged")

    def __init__(self, options: RPCOptions, backoff: Backoff, now: float) -> None:
        self._options = options
        self._backoff = backoff
        self._deadline = now + min(options.timeout_sec, backoff.unsent_window_sec)
        self._stale_forgiven = False
        self.attempts = 0  # attempts made, for messages
        self.charged = 0  # attempts counted against `retries`

    def next_delay(self, failure: Failure, now: float, retry_after: str | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None to give up (after ``failure``)."""
        self.attempts += 1
        if failure is Failure.TIMEOUT:
            return None
        if failure is Failure.STALE and not self._stale_forgiven:
            self._stale_forgiven = True
            return 0.0
        if failure is Failure.NOT_SENT or failure is Failure.UNPROCESSED:
            delay = self._backoff.delay(self.attempts, retry_after)
            if self.attempts < self._options.retries:
                return delay
            if now + delay < self._deadline:
                return delay
            remaining = self._deadline - now
            return remaining if remaining > 0.001 else None
        self.charged += 1
        if self.charged >= self._options.retries:
            return None
        return self._backoff.delay(self.charged, retry_after)


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
        chain_token: str | None = None,
        caller: str | None = None,
        async_transport: transport.AsyncTransport | None = None,
        sync_transport: transport.SyncTransport | None = None,
        backoff: Backoff = Backoff(),
        accept: str | None = None,
        liveness_budget_sec: float | None = None,
    ) -> None:
        """``accept``: the Accept header, when it differs from the request's content type (a
        streaming dependency's frames, `streams.STREAM_CONTENT_TYPE`); ``liveness_budget_sec``:
        the caller's (the contract's), named by `warn_blocking`."""
        self.name = name
        self.url = url
        self.options = options
        self.binary = binary
        self.caller = caller
        self._async_transport = async_transport
        self._sync_transport = sync_transport
        self._backoff = backoff
        self.liveness_budget_sec = liveness_budget_sec
        #: A blocking call on an event loop's thread was warned about (once per stub).
        self.warned_blocking = False
        content_type = codec.content_type(binary)
        self._headers = {"Content-Type": content_type, "Accept": accept or content_type}
        if api_key:
            self._headers["Authorization"] = f"Api-Key {api_key}"
        if chain_token:
            self._headers[CHAIN_TOKEN_HEADER] = chain_token
        self._sync_limit = threading.BoundedSemaphore(options.concurrency_limit)
        #: One semaphore per event loop; a sync caller running ``asyncio.run(stub.run_remote())``
        #: per call makes a loop each time, so closed loops' entries are dropped.
        self._async_limits: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def warn_blocking(self) -> None:
        """Say, once, that this blocking stub runs on the caller's event loop, and what it costs."""
        self.warned_blocking = True
        limit = (f"a call longer than {self.liveness_budget_sec:g} s gets it restarted" if
                 self.liveness_budget_sec is not None else "a long call gets it restarted")
        logger.warning(
            "%s calls %s (def run_remote) from async code: each call blocks this chainlet's event "
            "loop, and %s by its liveness check; make %s.run_remote async, or raise "
            "RemoteConfig(options=ChainletOptions(health_checks=HealthChecks("
            "restart_threshold_seconds=...)))",
            self.caller or "This chainlet", self.name, limit, self.name,
        )

    def _request_headers(self) -> dict[str, str]:
        rid = request_id.current()
        if rid is None:
            return self._headers
        return {**self._headers, request_id.HEADER: rid}

    def _who(self) -> str:
        by = f" from chainlet `{self.caller}`" if self.caller else ""
        return f"Call{by} to `{self.name}` at {self.url}"

    def _give_up(self, outcome: transport.TransportError | transport.RawResponse,
                 attempts: int) -> Exception:
        """The exception a call ends with after its last attempt's ``outcome``."""
        if isinstance(outcome, transport.RawResponse):
            return remote_errors.exception_from_response(
                outcome.status, outcome.body, chainlet=self.name, url=self.url, attempts=attempts
            )
        if isinstance(outcome, transport.AttemptTimeout):
            return RemoteTimeoutError(
                f"{self._who()} timed out after {self.options.timeout_sec:g} s (timeout_sec). "
                f"Raise `timeout_sec` in `chains.depends(...)` if `{self.name}` is just slow.",
                chainlet=self.name, url=self.url,
            )
        return DependencyUnreachableError(
            f"{self._who()} failed: no answer after {attempts} attempt"
            f"{'s' if attempts != 1 else ''} ({outcome}). Check that `{self.name}` is running and "
            "the URL is right; raise `retries` in `chains.depends(...)` to ride out restarts.",
            chainlet=self.name, url=self.url,
        )

    def _retry(self, policy: RetryPolicy | None,
               outcome: transport.TransportError | transport.RawResponse) -> tuple[RetryPolicy, float]:
        """After a failed attempt: the policy (made on the first failure) and the delay, or raise."""
        now = time.monotonic()
        if policy is None:
            policy = RetryPolicy(self.options, self._backoff, now)
        failure = classify(outcome)
        if failure is None:  # a final answer (4xx, 500) after earlier retries
            raise self._give_up(outcome, policy.attempts + 1) from None
        retry_after = outcome.retry_after if isinstance(outcome, transport.RawResponse) else None
        delay = policy.next_delay(failure, now, retry_after)
        if delay is None:
            raise self._give_up(outcome, policy.attempts) from None
        return policy, delay

    @typing.overload
    async def call_async(self, body: bytes) -> transport.RawResponse: ...
    @typing.overload
    async def call_async(self, body: bytes, stream: typing.Literal[True]) -> transport.BodyStream: ...
    async def call_async(self, body: bytes, stream: bool = False) -> Any:
        """The 2xx answer to ``body``; with ``stream``, its body unread (a streaming endpoint:
        retries end once an answer's head has arrived)."""
        loop = asyncio.get_running_loop()
        limit = self._async_limits.get(loop)
        if limit is None:
            for closed in [old for old in self._async_limits if old.is_closed()]:
                del self._async_limits[closed]
            limit = self._async_limits[loop] = asyncio.Semaphore(self.options.concurrency_limit)
        client = self._async_transport or transport.default_async()
        # post_stream answers a BodyStream only for a 2xx, which the loop returns as it is.
        post: Callable[..., Awaitable[transport.RawResponse]] = (
            client.post_stream if stream else client.post)  # type: ignore[assignment]
        headers = self._request_headers()
        policy: RetryPolicy | None = None
        async with limit:
            while True:
                outcome: transport.TransportError | transport.RawResponse
                try:
                    outcome = await post(self.url, body, headers, self.options.timeout_sec)
                except transport.TransportError as exc:
                    outcome = exc
                else:
                    if 200 <= outcome.status < 300:
                        return outcome
                policy, delay = self._retry(policy, outcome)
                if delay:
                    await asyncio.sleep(delay)

    def call_sync(self, body: bytes) -> transport.RawResponse:
        post = (self._sync_transport or transport.default_sync()).post
        headers = self._request_headers()
        policy: RetryPolicy | None = None
        with self._sync_limit:
            while True:
                outcome: transport.TransportError | transport.RawResponse
                try:
                    outcome = post(self.url, body, headers, self.options.timeout_sec)
                except transport.TransportError as exc:
                    outcome = exc
                else:
                    if 200 <= outcome.status < 300:
                        return outcome
                policy, delay = self._retry(policy, outcome)
                if delay:
                    time.sleep(delay)


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
    chain_token: str | None = None,
    async_transport: transport.AsyncTransport | None = None,
    sync_transport: transport.SyncTransport | None = None,
    liveness_budget_sec: float | None = None,
) -> ChainletStub:
    """A stub whose ``run_remote`` calls ``dependency`` at ``descriptor.predict_url``.

    Its ``run_remote`` is ``async def`` when the dependency's is, a blocking ``def`` otherwise
    (truss-chains' rule, the module docstring); ``caller_is_async`` only matters for a streaming
    dependency, whose stream a sync caller cannot read (it gets a clear error). It uses the binary
    codec when the descriptor's options ask for it or the endpoint has ``bytes``/numpy types.
    ``caller`` (the calling chainlet's name) appears in error messages; ``chain_token`` (the
    chain's shared token) is sent so the dependency accepts the call. A blocking stub's first
    call on an event loop's thread logs a warning naming ``liveness_budget_sec`` (the caller's).
    """
    streaming = dependency.endpoint.stream_item is not None
    is_async = caller_is_async if streaming else dependency.endpoint.is_async
    key = (dependency.cls, is_async)
    stub_cls = _stub_classes.get(key)
    endpoint: EndpointCodec
    if stub_cls is None:
        endpoint = EndpointCodec(dependency)
        stub_cls = _stub_classes[key] = _stub_class(dependency.name, endpoint, is_async)
    endpoint = stub_cls.__infra_chains_endpoint__  # type: ignore[attr-defined]
    binary = descriptor.options.use_binary or endpoint.uses_binary
    call = _Caller(
        dependency.name, descriptor.predict_url, descriptor.options, binary=binary, api_key=api_key,
        chain_token=chain_token, caller=caller, async_transport=async_transport, sync_transport=sync_transport,
        accept=streams.STREAM_CONTENT_TYPE if endpoint.stream_item is not None else None,
        liveness_budget_sec=liveness_budget_sec,
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
    if endpoint.stream_item is not None:
        run_remote = _streaming_run_remote(name, endpoint, bind, is_async)
    elif is_async:
        async def run_remote(self: ChainletStub, *args: Any, **kwargs: Any) -> Any:
            caller = self._caller
            body = endpoint.dump_arguments(bind(*args, **kwargs).arguments, caller.binary)
            return _decode(self, await caller.call_async(body))
    else:
        def run_remote(self: ChainletStub, *args: Any, **kwargs: Any) -> Any:
            caller = self._caller
            # Cheap: after the warning, one attribute; before it, one C call per call.
            if not caller.warned_blocking and asyncio._get_running_loop() is not None:
                caller.warn_blocking()
            body = endpoint.dump_arguments(bind(*args, **kwargs).arguments, caller.binary)
            return _decode(self, caller.call_sync(body))

    run_remote.__signature__ = endpoint.signature
    run_remote.__qualname__ = f"{name}Stub.run_remote"
    run_remote.__doc__ = f"Call chainlet `{name}` remotely (same signature as its run_remote)." + (
        "" if is_async or endpoint.stream_item is not None else
        " Blocking, as the chainlet's run_remote is sync: called from an `async def`, it blocks "
        "that event loop for the call; make the chainlet's run_remote `async def` to avoid that.")
    return type(f"{name}Stub", (ChainletStub,), {
        "run_remote": run_remote, "__infra_chains_endpoint__": endpoint, "__module__": __name__,
    })


def _streaming_run_remote(name: str, endpoint: EndpointCodec, bind: Any, is_async: bool) -> Any:
    """``run_remote`` of a stub to a streaming chainlet: returns a `streams.RemoteStream` at once
    (not awaited: ``async for x in dep.run_remote(...)``), which sends the call when first read."""
    item = endpoint.stream_item
    assert item is not None

    def run_remote(self: ChainletStub, *args: Any, **kwargs: Any) -> streams.RemoteStream:
        caller = self._caller
        if not is_async:
            raise ChainsRuntimeError(
                f"`{name}.run_remote` streams (AsyncIterator[{item.__name__}]); read it from an "
                f"`async def run_remote` (`async for item in self.dep.run_remote(...)`): a plain "
                f"`def run_remote` cannot iterate a stream.")
        body = endpoint.dump_arguments(bind(*args, **kwargs).arguments, caller.binary)

        async def open_body() -> transport.BodyStream:
            return await caller.call_async(body, stream=True)

        return streams.RemoteStream(open_body, chainlet=caller.name, url=caller.url, item_type=item,
                                    read_timeout=caller.options.timeout_sec)

    return run_remote


# -- StubBase: stubs to plain HTTP models ---------------------------------------------------
class RemoteService:
    """``self._remote`` of a `StubBase`: posts a JSON payload, returns the decoded answer."""

    def __init__(self, descriptor: ServiceDescriptor, api_key: str | None = None) -> None:
        self.descriptor = descriptor
        self.binary = self._binary = descriptor.options.use_binary
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

    # truss-chains' StubBase API: `run_remote` calls `self.predict_async(...)` directly.
    @property
    def name(self) -> str:
        """The service's name (the stub class's, for `from_url`)."""
        return self._remote.descriptor.name

    @typing.overload
    def predict_sync(self, inputs: Any, output_model: type[_ModelT]) -> _ModelT: ...
    @typing.overload
    def predict_sync(self, inputs: Any, output_model: None = None) -> Any: ...
    def predict_sync(self, inputs: Any, output_model: type[_ModelT] | None = None) -> Any:
        """POST ``inputs`` (JSON-able, or a pydantic model) and return the answer: the decoded
        JSON (or msgpack), or an ``output_model`` validated from it."""
        return _to_output(self._remote.predict_sync(self._payload(inputs)), output_model)

    @typing.overload
    async def predict_async(self, inputs: Any, output_model: type[_ModelT]) -> _ModelT: ...
    @typing.overload
    async def predict_async(self, inputs: Any, output_model: None = None) -> Any: ...
    async def predict_async(self, inputs: Any, output_model: type[_ModelT] | None = None) -> Any:
        """As `predict_sync`, without blocking the event loop."""
        return _to_output(await self._remote.predict_async(self._payload(inputs)), output_model)

    def _payload(self, inputs: Any) -> Any:
        if isinstance(inputs, pydantic.BaseModel):
            # Python mode keeps numpy arrays and bytes for the binary codec; JSON mode otherwise.
            return inputs.model_dump(mode="python" if self._remote.binary else "json")
        return inputs


_ModelT = typing.TypeVar("_ModelT", bound=pydantic.BaseModel)


def _to_output(result: Any, output_model: type[_ModelT] | None) -> Any:
    return result if output_model is None else output_model.model_validate(result)
