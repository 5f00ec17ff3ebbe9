"""truss-chains' `StubBase` API (`infra_chains/serving/stub.py`): a subclass's ``run_remote``
calls ``self.predict_async(inputs, output_model=...)`` / ``self.predict_sync``, as the RAG and
audio-transcription examples do; inputs may be JSON-able values or pydantic models."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

import infra_chains as chains
from infra_chains.serving import codec, transport

from .fake_server import FakeServer, running


class Item(pydantic.BaseModel):
    text: str
    count: int = 1


class Echo(chains.StubBase):
    async def run_remote(self, text: str) -> Item:
        return await self.predict_async({"text": text, "count": 2}, output_model=Item)


class EchoSync(chains.StubBase):
    def run_remote(self, item: Item) -> Any:
        return self.predict_sync(item)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    yield from running()


def _run(coro: Any) -> Any:
    async def main() -> Any:
        try:
            return await coro
        finally:
            await transport.default_async().aclose()

    return asyncio.run(main())


def test_predict_async_validates_the_output_model(server: FakeServer) -> None:
    stub = Echo.from_url(f"{server.url}/echo")
    assert _run(stub.run_remote("hi")) == Item(text="hi", count=2)
    assert stub.name == "Echo"


def test_predict_sync_takes_a_pydantic_model_and_returns_json(server: FakeServer) -> None:
    stub = EchoSync.from_url(f"{server.url}/echo")
    assert stub.run_remote(Item(text="x", count=3)) == {"text": "x", "count": 3}


def test_a_binary_stub_sends_a_model_as_msgpack(server: FakeServer) -> None:
    stub = EchoSync.from_url(f"{server.url}/echo", options=chains.RPCOptions(use_binary=True))
    assert stub.run_remote(Item(text="b")) == {"text": "b", "count": 1}
    assert server.headers[-1]["content-type"] == codec.MSGPACK_CONTENT_TYPE
    assert codec.decode(server.bodies[-1], True) == {"text": "b", "count": 1}
