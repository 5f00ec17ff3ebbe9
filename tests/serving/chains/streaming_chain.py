"""Streaming chainlets for the serving tests: text and bytes producers, a failing one, relays.

`Words` yields its first word, then waits for a gate file (the test creates it once the first
word reached it): a handshake that proves the first item arrives while the producer still runs,
with no wall-clock threshold. It gives up after `GATE_WAIT_SEC` and says so in the stream.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
from collections.abc import AsyncIterator

import pydantic

import infra_chains as chains
from infra_chains import streaming

GATE_WAIT_SEC = 30.0


class Header(pydantic.BaseModel):
    title: str


class Chunk(pydantic.BaseModel):
    index: int
    words: list[str]


class Footer(pydantic.BaseModel):
    count: int


TYPES = streaming.stream_types(Chunk, header_type=Header, footer_type=Footer)


async def _wait_for(gate: str) -> bool:
    path = pathlib.Path(gate)
    for _ in range(int(GATE_WAIT_SEC / 0.01)):
        if path.exists():
            return True
        await asyncio.sleep(0.01)
    return False


class Words(chains.ChainletBase):
    async def run_remote(self, count: int, gate: str = "") -> AsyncIterator[str]:
        yield "w0 "
        if gate:
            yield "released " if await _wait_for(gate) else "gate-timed-out "
        for i in range(1, count):
            yield f"w{i} "


class Failing(chains.ChainletBase):
    async def run_remote(self, fail_after: int) -> AsyncIterator[str]:
        for i in range(fail_after):
            yield f"item{i} "
        raise ValueError(f"producer failed after {fail_after} items")


class Blob(chains.ChainletBase):
    """``size`` bytes in ``chunk``-byte items (the bytes tell their position, for checking)."""

    async def run_remote(self, size: int, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
        block = os.urandom(16) * (chunk // 16)
        sent = 0
        while sent < size:
            part = block[: min(chunk, size - sent)]
            yield part
            sent += len(part)


class Typed(chains.ChainletBase):
    async def run_remote(self, count: int) -> AsyncIterator[bytes]:
        writer = streaming.stream_writer(TYPES)
        yield writer.yield_header(Header(title="numbers"))
        for i in range(count):
            yield writer.yield_item(Chunk(index=i, words=[str(i)] * (i + 1)))
        yield writer.yield_footer(Footer(count=count))


class WordsRelay(chains.ChainletBase):
    """Returns its dependency's stream as it is (no `yield`): relayed without decoding."""

    def __init__(self, words: Words = chains.depends(Words)) -> None:
        self._words = words

    async def run_remote(self, count: int, gate: str = "") -> AsyncIterator[str]:
        return self._words.run_remote(count, gate)


class FailingRelay(chains.ChainletBase):
    def __init__(self, failing: Failing = chains.depends(Failing)) -> None:
        self._failing = failing

    async def run_remote(self, fail_after: int) -> AsyncIterator[str]:
        return self._failing.run_remote(fail_after)


class Upper(chains.ChainletBase):
    """Re-yields its dependency's items, changed: the stream is decoded and encoded again."""

    def __init__(self, words: Words = chains.depends(Words)) -> None:
        self._words = words

    async def run_remote(self, count: int, gate: str = "") -> AsyncIterator[str]:
        async for word in self._words.run_remote(count, gate):
            yield word.upper()


class BlobRelay(chains.ChainletBase):
    def __init__(self, blob: Blob = chains.depends(Blob)) -> None:
        self._blob = blob

    async def run_remote(self, size: int, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
        return self._blob.run_remote(size, chunk)


class TypedResult(pydantic.BaseModel):
    header: Header
    chunks: list[Chunk]
    footer: Footer


class TypedConsumer(chains.ChainletBase):
    """Reads the typed stream of `Typed` with a stream_reader and returns what it read."""

    def __init__(self, typed: Typed = chains.depends(Typed)) -> None:
        self._typed = typed

    async def run_remote(self, count: int) -> TypedResult:
        reader = streaming.stream_reader(TYPES, self._typed.run_remote(count))
        header = await reader.read_header()
        chunks = [chunk async for chunk in reader.read_items()]
        footer = await reader.read_footer()
        return TypedResult(header=header, chunks=chunks, footer=footer)


class BlobCounter(chains.ChainletBase):
    """Reads a whole bytes stream and answers its size: a plain (non-streaming) caller."""

    def __init__(self, blob: BlobRelay = chains.depends(BlobRelay)) -> None:
        self._blob = blob

    async def run_remote(self, size: int) -> int:
        total = 0
        async for part in self._blob.run_remote(size):
            total += len(part)
        return total


class Stalls(chains.ChainletBase):
    """Yields one item, then nothing for longer than its streaming_read_timeout."""

    remote_config = chains.RemoteConfig(options=chains.ChainletOptions(streaming_read_timeout=1))

    async def run_remote(self, gate: str) -> AsyncIterator[str]:
        yield "first "
        await _wait_for(gate)
        yield "too late "
