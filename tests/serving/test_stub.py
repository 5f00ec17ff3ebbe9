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
from infra_chains.serving.stub import Backoff, _Caller, make_chainlet_stub
from infra_chains.serving.testing import free_port

from .fake_server import FakeServer, running

FAST = Backoff(base_sec=0.01, max_sec=0.05)


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


def test_async_stub_flavour_follows_the_caller(server: FakeServer, text_chain: types.ModuleType) -> None:
    server.result = {"text": "A", "hops": [], "request_ids": []}
    descriptor = ServiceDescriptor(name="Leaf", predict_url=f"{server.url}/result")
    stub = make_chainlet_stub(definition_of(text_chain.Leaf), descriptor, caller_is_async=True)
    assert inspect.iscoroutinefunction(stub.run_remote)  # type: ignore[attr-defined]
    result = run_async(stub.run_remote(item=text_chain.Item(text="x"), mode="ok"))  # type: ignore[attr-defined]
    assert result.text == "A"


def test_stub_sends_given_arguments_by_name(server: FakeServer, text_chain: types.ModuleType) -> None:
    server.result = {"text": "A", "hops": [], "request_ids": []}
    descriptor = ServiceDescriptor(name="Mid", predict_url=f"{server.url}/result")
    stub = make_chainlet_stub(definition_of(text_chain.Mid), descriptor, caller_is_async=False)
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
    assert url in message and "`Fake`" in message and "Tester" in message and "3 attempts" in message


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
