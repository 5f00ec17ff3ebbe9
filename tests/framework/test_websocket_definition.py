"""Websocket endpoints at definition time (truss-chains' rules, `framework/validation.py`), and a
websocket chain under ``run_local`` (the handler called with any object that speaks the protocol)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator

import pytest

import infra_chains as chains
from infra_chains.framework.chainlet import definition_of
from infra_chains.framework.graph import build_graph


def next_line() -> int:
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno + 1


def problems(cls: type[chains.ChainletBase]) -> list[tuple[str, str, str]]:
    with pytest.raises(chains.ChainsUsageError) as info:
        definition_of(cls)
    return [(p.code, p.location, p.message) for p in info.value.problems]


def test_a_websocket_endpoint_is_described_without_params() -> None:
    class Echo(chains.ChainletBase):
        async def run_remote(self, websocket: chains.WebSocketProtocol) -> None:
            await websocket.send_text(await websocket.receive_text())

    endpoint = definition_of(Echo).endpoint
    assert endpoint.is_websocket and endpoint.is_async
    assert endpoint.params == () and endpoint.return_annotation is None


def test_a_regular_endpoint_is_not_a_websocket() -> None:
    class Plain(chains.ChainletBase):
        async def run_remote(self, text: str) -> str:
            return text

    assert not definition_of(Plain).endpoint.is_websocket


def test_websocket_with_other_arguments() -> None:
    line = next_line()
    class Extra(chains.ChainletBase):
        async def run_remote(self, websocket: chains.WebSocketProtocol, name: str) -> None:
            pass

    with pytest.raises(chains.ChainsUsageError) as info:
        definition_of(Extra)
    (problem,) = info.value.problems
    assert (problem.code, problem.location, problem.line) == ("endpoint-websocket", "Extra.run_remote", line + 1)
    assert "only argument" in problem.message and "`name`" in problem.message
    assert "async def run_remote(self, websocket: chains.WebSocketProtocol) -> None" in problem.message


def test_websocket_must_return_none() -> None:
    class Returns(chains.ChainletBase):
        async def run_remote(self, websocket: chains.WebSocketProtocol) -> str:
            return ""

    ((code, _, message),) = problems(Returns)
    assert code == "endpoint-websocket" and "returns None" in message


def test_websocket_must_be_async() -> None:
    class Sync(chains.ChainletBase):
        def run_remote(self, websocket: chains.WebSocketProtocol) -> None:
            pass

    ((code, _, message),) = problems(Sync)
    assert code == "endpoint-websocket" and "`async def`" in message


def test_a_websocket_cannot_be_returned() -> None:
    class Out(chains.ChainletBase):
        async def run_remote(self) -> chains.WebSocketProtocol:
            raise NotImplementedError

    ((code, _, message),) = problems(Out)
    assert code == "endpoint-websocket" and "cannot be returned" in message


def test_every_broken_rule_is_reported_at_once() -> None:
    class All(chains.ChainletBase):
        def run_remote(self, websocket: chains.WebSocketProtocol, n: int) -> int:
            return n

    assert len(problems(All)) == 3


def test_a_websocket_chainlet_cannot_be_a_dependency() -> None:
    class Socket(chains.ChainletBase):
        async def run_remote(self, websocket: chains.WebSocketProtocol) -> None:
            pass

    class Head(chains.ChainletBase):
        def __init__(self, socket: Socket = chains.depends(Socket)) -> None:
            self._socket = socket

        async def run_remote(self, text: str) -> str:
            return text

    ((code, location, message),) = problems(Head)
    assert (code, location) == ("dependency-websocket", "Head.__init__")
    assert "only the entrypoint may serve one" in message


# --- run_local: the handler takes any object with the protocol's methods, as in truss-chains --------


class FakeWebSocket:
    """Messages in, messages out; `receive_text` raises the disconnect once they run out."""

    def __init__(self, incoming: list[str]) -> None:
        self.headers: dict[str, str] = {}
        self._incoming = list(incoming)
        self.sent: list[str] = []

    async def receive_text(self) -> str:
        if not self._incoming:
            raise chains.WebSocketDisconnect(1000)
        return self._incoming.pop(0)

    async def send_text(self, data: str) -> None:
        self.sent.append(data)

    async def iter_text(self) -> AsyncIterator[str]:  # pragma: no cover - protocol completeness
        raise NotImplementedError


def test_run_local_drives_a_websocket_chain_with_a_fake_websocket() -> None:
    class Dependency(chains.ChainletBase):
        async def run_remote(self, name: str) -> str:
            return f"Hello from dependency, {name}."

    class Head(chains.ChainletBase):
        def __init__(self, dependency: Dependency = chains.depends(Dependency)) -> None:
            self._dependency = dependency

        async def run_remote(self, websocket: chains.WebSocketProtocol) -> None:
            try:
                while True:
                    text = await websocket.receive_text()
                    reply = await self._dependency.run_remote("Head") if text == "dep" else f"You said: {text}."
                    await websocket.send_text(reply)
            except chains.WebSocketDisconnect:
                pass

    assert build_graph(Head).entrypoint.endpoint.is_websocket
    fake = FakeWebSocket(["Test", "dep"])
    with chains.run_local():
        asyncio.run(Head().run_remote(fake))  # type: ignore[arg-type]
    assert fake.sent == ["You said: Test.", "Hello from dependency, Head."]
