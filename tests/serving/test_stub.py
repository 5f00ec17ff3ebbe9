"""Stubs against a scripted server in a thread: typed results, retries, timeouts, errors."""

from __future__ import annotations

import asyncio
import inspect
import json
import pathlib
import sys
import types
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

import infra_chains as chains
from infra_chains.errors import (
    DependencyUnreachableError,
    RemoteHTTPError,
    RemoteTimeoutError,
)
from infra_chains.framework.chainlet import definition_of
from infra_chains.public_types import RPCOptions, ServiceDescriptor
from infra_chains.serving import request_id, transport
from infra_chains.serving.stub import (
    Backoff,
    Failure,
    RetryPolicy,
    _Caller,
    classify,
    make_chainlet_stub,
)
from infra_chains.serving.testing import free_port

from .fake_server import FakeServer, LateServer, running

FAST = Backoff(base_sec=0.01, max_sec=0.05, unsent_window_sec=0.3)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    yield from running()


@pytest.fixture(scope="module")
def text_chain() -> Iterator[types.ModuleType]:
    sys.path.insert(0, str(pathlib.Path(__file__).parent / "chains"))
    try:
        import text_chain

        yield text_chain
    finally:
        sys.path.pop(0)


def caller(url: str, **options: Any) -> _Caller:
    return _Caller("Fake", url, RPCOptions(**options), binary=False, caller="Tester", backoff=FAST)


async def _closing(coro: Any) -> Any:
    try:
        return await coro
    finally:
        await transport.default_async().aclose()


def run_async(coro: Any) -> Any:
    return asyncio.run(_closing(coro))


# -- typed chainlet stubs ---------------------------------------------------------------------
def test_typed_stub_keeps_signature_and_returns_the_model(server: FakeServer, text_chain: types.ModuleType) -> None:
    server.result = {"text": "T", "hops": ["leaf"], "request_ids": [None]}
    descriptor = ServiceDescriptor(name="Leaf", predict_url=f"{server.url}/result")
    stub = make_chainlet_stub(definition_of(text_chain.Leaf), descriptor, caller_is_async=False)
    signature = inspect.signature(stub.run_remote)  # type: ignore[attr-defined]
    assert list(signature.parameters) == ["item", "mode"]
    assert signature.parameters["mode"].default == "ok"
    assert signature.return_annotation is text_chain.Result
    result = stub.run_remote(text_chain.Item(text="t"))  # type: ignore[attr-defined]
    assert isinstance(result, text_chain.Result) and result.text == "T"
    with pytest.raises(TypeError):
        stub.run_remote(text_chain.Item(text="t"), "ok", "extra")  # type: ignore[attr-defined]


def test_stub_flavour_follows_the_dependency(server: FakeServer, text_chain: types.ModuleType) -> None:
    """As in truss-chains: an async dependency's stub is awaited even by a sync caller, a sync
    dependency's stub blocks even in an async caller."""
    server.result = {"text": "A", "hops": [], "request_ids": []}
    descriptor = ServiceDescriptor(name="Mid", predict_url=f"{server.url}/result")
    stub = make_chainlet_stub(definition_of(text_chain.Mid), descriptor, caller_is_async=False)
    assert inspect.iscoroutinefunction(stub.run_remote)  # type: ignore[attr-defined]
    result = run_async(stub.run_remote(item=text_chain.Item(text="x"), mode="ok"))  # type: ignore[attr-defined]
    assert result.text == "A"

    descriptor = ServiceDescriptor(name="Leaf", predict_url=f"{server.url}/result")
    stub = make_chainlet_stub(definition_of(text_chain.Leaf), descriptor, caller_is_async=True)
    assert not inspect.iscoroutinefunction(stub.run_remote)  # type: ignore[attr-defined]
    assert "Blocking" in (stub.run_remote.__doc__ or "")  # type: ignore[attr-defined]

    async def async_caller() -> Any:
        # Called on the caller's event loop without `await`: it needs no loop of its own.
        return stub.run_remote(item=text_chain.Item(text="y"))  # type: ignore[attr-defined]

    assert run_async(async_caller()).text == "A"


def test_a_blocking_stub_on_an_event_loop_warns_once_naming_the_liveness_budget(
    server: FakeServer, text_chain: types.ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    server.result = {"text": "A", "hops": [], "request_ids": []}
    descriptor = ServiceDescriptor(name="Leaf", predict_url=f"{server.url}/result")

    def stub_of(budget: float | None) -> Any:
        return make_chainlet_stub(definition_of(text_chain.Leaf), descriptor, caller_is_async=True,
                                  caller="Entry", liveness_budget_sec=budget)

    async def three_calls(stub: Any) -> None:
        for _ in range(3):
            stub.run_remote(item=text_chain.Item(text="y"))

    stub = stub_of(3.0)
    caplog.set_level("WARNING", logger="infra_chains.serving.stub")
    stub.run_remote(item=text_chain.Item(text="y"))  # off any loop (a sync caller): no warning
    assert not caplog.records
    run_async(three_calls(stub))
    run_async(three_calls(stub))
    (record,) = caplog.records  # once per stub, not per call
    assert record.getMessage() == (
        "Entry calls Leaf (def run_remote) from async code: each call blocks this chainlet's event "
        "loop, and a call longer than 3 s gets it restarted by its liveness check; make "
        "Leaf.run_remote async, or raise RemoteConfig(options=ChainletOptions(health_checks="
        "HealthChecks(restart_threshold_seconds=...)))")

    caplog.clear()
    run_async(three_calls(stub_of(None)))  # another stub warns again; no budget: no number
    (record,) = caplog.records
    assert "and a long call gets it restarted by its liveness check" in record.getMessage()


def test_stub_sends_given_arguments_by_name(server: FakeServer, text_chain: types.ModuleType) -> None:
    server.result = {"text": "A", "hops": [], "request_ids": []}
    descriptor = ServiceDescriptor(name="Leaf", predict_url=f"{server.url}/result")
    stub = make_chainlet_stub(definition_of(text_chain.Leaf), descriptor, caller_is_async=False)
    stub.run_remote(text_chain.Item(text="x"))  # type: ignore[attr-defined]
    # Omitted arguments are left to the server's defaults (the same as the stub's).
    assert json.loads(server.bodies[-1]) == {"item": {"text": "x", "count": 1}}
    assert server.headers[-1]["content-type"] == "application/json"


def test_invalid_result_from_the_dependency_is_a_validation_error(
    server: FakeServer, text_chain: types.ModuleType
) -> None:
    server.result = {"text": 1}
    descriptor = ServiceDescriptor(name="Leaf", predict_url=f"{server.url}/result")
    stub = make_chainlet_stub(definition_of(text_chain.Leaf), descriptor, caller_is_async=False)
    with pytest.raises(pydantic.ValidationError):
        stub.run_remote(text_chain.Item(text="x"))  # type: ignore[attr-defined]


# -- retries and failures ---------------------------------------------------------------------
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_retries_503_then_succeeds(server: FakeServer, flavour: str) -> None:
    call = caller(f"{server.url}/flaky/{flavour}/2", retries=3)
    response = call.call_sync(b"{}") if flavour == "sync" else run_async(call.call_async(b"{}"))
    assert response.status == 200
    assert server.calls[f"/flaky/{flavour}/2"] == 3


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_gives_up_after_retries_with_the_last_status(server: FakeServer, flavour: str) -> None:
    call = caller(f"{server.url}/flaky/{flavour}/9", retries=2)
    with pytest.raises(RemoteHTTPError) as info:
        call.call_sync(b"{}") if flavour == "sync" else run_async(call.call_async(b"{}"))
    assert info.value.status_code == 503 and "after 2 attempts" in str(info.value)
    assert server.calls[f"/flaky/{flavour}/9"] == 2


@pytest.mark.parametrize("status", [400, 422, 500])
def test_never_retries_4xx_or_user_errors(server: FakeServer, status: int) -> None:
    call = caller(f"{server.url}/status/{status}", retries=5)
    with pytest.raises(Exception) as info:
        call.call_sync(b"{}")
    assert server.calls[f"/status/{status}"] == 1
    if status == 500:
        assert type(info.value) is ValueError and "fake failure" in str(info.value)
    else:
        assert isinstance(info.value, RemoteHTTPError) and info.value.status_code == status


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_connection_refused_is_dependency_unreachable(flavour: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/run_remote"
    call = caller(url, retries=3)
    with pytest.raises(DependencyUnreachableError) as info:
        call.call_sync(b"{}") if flavour == "sync" else run_async(call.call_async(b"{}"))
    message = str(info.value)
    assert url in message and "`Fake`" in message and "Tester" in message
    attempts = int(message.split(" attempts")[0].rsplit(" ", 1)[1])
    assert attempts >= 3  # at least `retries`, then more within the unsent window


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_refused_calls_are_retried_until_the_port_listens_even_with_retries_1(flavour: str) -> None:
    """A restarting dependency (nothing listens for a moment) costs latency, not an error."""
    with LateServer(delay_sec=0.3) as late:
        call = _Caller("Fake", f"{late.url}/echo", RPCOptions(retries=1), binary=False,
                       backoff=Backoff(base_sec=0.02, max_sec=0.1, unsent_window_sec=10))
        response = call.call_sync(b"{}") if flavour == "sync" else run_async(call.call_async(b"{}"))
        assert late.server is not None and late.server.calls["/echo"] == 1
    assert response.status == 200


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_connection_lost_after_sending_follows_retries(server: FakeServer, flavour: str) -> None:
    call = caller(f"{server.url}/reset", retries=1)
    with pytest.raises(DependencyUnreachableError, match="1 attempt "):
        call.call_sync(b"{}") if flavour == "sync" else run_async(call.call_async(b"{}"))
    assert server.calls["/reset"] == 1
    call = caller(f"{server.url}/reset", retries=2)
    with pytest.raises(DependencyUnreachableError, match="2 attempts"):
        call.call_sync(b"{}") if flavour == "sync" else run_async(call.call_async(b"{}"))
    assert server.calls["/reset"] == 3


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_timeout_is_remote_timeout_error(server: FakeServer, flavour: str) -> None:
    call = caller(f"{server.url}/slow", timeout_sec=0.2, retries=3)
    with pytest.raises(RemoteTimeoutError, match=r"timed out after 0.2 s"):
        call.call_sync(b"{}") if flavour == "sync" else run_async(call.call_async(b"{}"))
    assert server.calls["/slow"] == 1  # a timeout is not retried


def test_reused_connection_closed_by_server_is_retried_even_with_retries_1(server: FakeServer) -> None:
    sync = transport.HTTPClientTransport()
    call = _Caller("Fake", f"{server.url}/drop", RPCOptions(retries=1), binary=False,
                   sync_transport=sync, backoff=FAST)
    for _ in range(3):  # each call reuses the connection the server dropped after the last one
        assert call.call_sync(b'{"n": 1}').status == 200
    assert server.calls["/drop"] == 3
    sync.close()


def test_async_concurrency_limit(server: FakeServer) -> None:
    call = caller(f"{server.url}/slow", concurrency_limit=2, timeout_sec=5)

    async def main() -> float:
        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(call.call_async(b"{}") for _ in range(4)))
        return asyncio.get_running_loop().time() - started

    elapsed = run_async(main())
    assert 1.9 < elapsed < 3.5  # 4 calls of 1 s, 2 at a time


def test_request_id_header_is_sent(server: FakeServer) -> None:
    token = request_id.set_current("rid-7")
    try:
        caller(f"{server.url}/echo").call_sync(b"{}")
    finally:
        request_id.reset(token)
    assert server.headers[-1]["x-request-id"] == "rid-7"


# -- the retry policy, no network ---------------------------------------------------------
NO_JITTER = Backoff(base_sec=0.1, max_sec=1.0, jitter=0.0, unsent_window_sec=5.0)


def _policy(**options: Any) -> RetryPolicy:
    return RetryPolicy(RPCOptions(**options), NO_JITTER, now=100.0)


def test_policy_retries_unsent_requests_until_the_deadline_whatever_retries_says() -> None:
    policy = _policy(retries=1, timeout_sec=60)
    now, delays = 100.0, []
    while (delay := policy.next_delay(Failure.NOT_SENT, now)) is not None:
        delays.append(delay)
        now += delay
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8] and max(delays) == 1.0  # exponential, capped
    assert now == pytest.approx(105.0)  # the last delay is cut to the unsent window (5 s)
    assert policy.charged == 0


def test_policy_unsent_deadline_is_timeout_sec_when_shorter() -> None:
    policy = _policy(retries=1, timeout_sec=0.25)
    assert policy.next_delay(Failure.NOT_SENT, 100.0) == 0.1
    assert policy.next_delay(Failure.NOT_SENT, 100.1) == pytest.approx(0.15)  # what is left
    assert policy.next_delay(Failure.NOT_SENT, 100.25) is None


def test_policy_unsent_gets_at_least_retries_attempts() -> None:
    policy = _policy(retries=4, timeout_sec=0.01)
    assert [policy.next_delay(Failure.NOT_SENT, 200.0) for _ in range(4)] == [0.1, 0.2, 0.4, None]


def test_policy_counts_sent_failures_against_retries() -> None:
    policy = _policy(retries=3)
    assert policy.next_delay(Failure.STATUS, 100.0) == 0.1
    assert policy.next_delay(Failure.LOST, 100.0) == 0.2
    assert policy.next_delay(Failure.STATUS, 100.0) is None
    assert (policy.attempts, policy.charged) == (3, 3)


def test_policy_no_retry_of_sent_failures_with_retries_1() -> None:
    assert _policy(retries=1).next_delay(Failure.LOST, 100.0) is None
    assert _policy(retries=1).next_delay(Failure.STATUS, 100.0) is None


def test_policy_first_stale_connection_is_free_and_immediate() -> None:
    policy = _policy(retries=1)
    assert policy.next_delay(Failure.STALE, 100.0) == 0.0
    assert policy.next_delay(Failure.STALE, 100.0) is None  # the second one counts
    assert (policy.attempts, policy.charged) == (2, 1)


def test_policy_unsent_retries_do_not_use_up_retries() -> None:
    policy = _policy(retries=2)
    for _ in range(5):
        assert policy.next_delay(Failure.NOT_SENT, 100.0) is not None
    assert policy.next_delay(Failure.LOST, 100.0) == 0.1  # still one retry left after a send
    assert policy.next_delay(Failure.LOST, 100.0) is None


def test_policy_never_retries_a_timeout() -> None:
    assert _policy(retries=5).next_delay(Failure.TIMEOUT, 100.0) is None


def test_policy_honours_retry_after_within_the_cap() -> None:
    policy = _policy(retries=5)
    assert policy.next_delay(Failure.STATUS, 100.0, retry_after="0.5") == 0.5
    assert policy.next_delay(Failure.STATUS, 100.0, retry_after="30") == 1.0
    assert policy.next_delay(Failure.UNPROCESSED, 100.0, retry_after="soon") == pytest.approx(0.4)


def test_backoff_jitter_stays_within_bounds() -> None:
    backoff = Backoff(base_sec=1.0, max_sec=10.0, jitter=0.5)
    assert all(0.5 <= backoff.delay(1) <= 1.5 for _ in range(100))


def _error(kind: str, module: str = "infra_chains", status: int = 503) -> transport.RawResponse:
    body = json.dumps({"error": {"remote_name": "X", "exception_cls_name": kind,
                                 "exception_module_name": module, "exception_message": "m",
                                 "status_code": status}}).encode()
    return transport.RawResponse(status, "application/json", body)


def test_classify() -> None:
    assert classify(transport.RawResponse(200, "", b"")) is None
    assert classify(transport.RawResponse(500, "", b"")) is None
    assert classify(transport.RawResponse(429, "", b"")) is None
    assert classify(transport.RawResponse(502, "", b"")) is Failure.STATUS
    assert classify(_error("NotReady")) is Failure.UNPROCESSED
    assert classify(_error("Overloaded")) is Failure.UNPROCESSED
    assert classify(_error("Overloaded", module="mymodel")) is Failure.STATUS
    assert classify(_error("DependencyUnreachableError", "infra_chains.errors")) is Failure.STATUS
    assert classify(transport.NotSent("refused")) is Failure.NOT_SENT
    assert classify(transport.StaleConnection("closed")) is Failure.STALE
    assert classify(transport.ConnectFailed("reset")) is Failure.LOST
    assert classify(transport.AttemptTimeout("slow")) is Failure.TIMEOUT


# -- StubBase ---------------------------------------------------------------------------------
class EchoModel(chains.StubBase):
    def run_remote(self, text: str) -> str:
        return str(self._remote.predict_sync({"text": text})["text"])

    async def run_remote_async(self, text: str) -> str:
        return str((await self._remote.predict_async({"text": text}))["text"])


def test_stub_base_from_url(server: FakeServer) -> None:
    stub = EchoModel.from_url(f"{server.url}/echo", "secret-key", RPCOptions(retries=2))
    assert stub.run_remote("hello") == "hello"
    assert server.headers[-1]["authorization"] == "Api-Key secret-key"
    assert run_async(stub.run_remote_async("again")) == "again"


def test_stub_base_is_accepted_as_a_dependency() -> None:
    class UsesModel(chains.ChainletBase):
        def __init__(self, model: EchoModel = chains.depends(EchoModel)) -> None:
            self.model = model

        def run_remote(self, text: str) -> str:
            return text

    definition = definition_of(UsesModel)
    assert definition.dependencies[0].chainlet_cls is EchoModel
    assert not definition.dependencies[0].is_chainlet
