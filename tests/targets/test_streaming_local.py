"""Streaming on the local target, end to end: a 3-hop chain whose entrypoint streams to a plain
HTTP caller, and truss-chains' streaming example (import changed only) pushed as it is.

Time to first item is shown with a handshake, not a clock: the leaf yields its first item and
then waits for a gate file that the test creates only once that item has reached it.
"""

from __future__ import annotations

import asyncio
import pathlib
import re
import textwrap
import time
from collections.abc import Iterator

import httpx
import pydantic
import pytest

from infra_chains import deploy, streaming
from infra_chains.chain_service import ChainService
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.local import LocalTarget

pytestmark = pytest.mark.servers

EXAMPLE = (pathlib.Path(__file__).resolve().parents[1] / "parity" / "chains" / "examples"
           / "streaming" / "streaming_chain.py")

CHAIN = '''
import asyncio
import os
import pathlib
from collections.abc import AsyncIterator
from typing import Literal

import pydantic

import infra_chains as chains
from infra_chains import streaming


class Chunk(pydantic.BaseModel):
    index: int


class Footer(pydantic.BaseModel):
    count: int


TYPES = streaming.stream_types(Chunk, footer_type=Footer)
Mode = Literal["words", "fail", "blob", "typed"]


class Leaf(chains.ChainletBase):
    async def run_remote(self, mode: Mode, count: int = 3, gate: str = "",
                         size: int = 0) -> AsyncIterator[bytes]:
        if mode == "blob":
            block = os.urandom(64 * 1024)
            for start in range(0, size, len(block)):
                yield block[: size - start]
            return
        if mode == "typed":
            writer = streaming.stream_writer(TYPES)
            for i in range(count):
                yield writer.yield_item(Chunk(index=i))
            yield writer.yield_footer(Footer(count=count))
            return
        yield b"first "
        if gate:
            for _ in range(3000):
                if pathlib.Path(gate).exists():
                    break
                await asyncio.sleep(0.01)
            yield b"released " if pathlib.Path(gate).exists() else b"gate-timed-out "
        for i in range(count):
            yield f"w{i} ".encode()
        if mode == "fail":
            raise RuntimeError("leaf failed mid-stream")


class Mid(chains.ChainletBase):
    """Re-yields: each item is decoded from its frame and framed again."""

    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self._leaf = leaf

    async def run_remote(self, mode: Mode, count: int = 3, gate: str = "",
                         size: int = 0) -> AsyncIterator[bytes]:
        async for item in self._leaf.run_remote(mode, count, gate, size):
            yield item


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    """Returns its dependency's stream: relayed frame by frame, never decoded."""

    def __init__(self, mid: Mid = chains.depends(Mid)) -> None:
        self._mid = mid

    async def run_remote(self, mode: Mode, count: int = 3, gate: str = "",
                         size: int = 0) -> AsyncIterator[bytes]:
        return self._mid.run_remote(mode, count, gate, size)
'''


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChainService, LocalTarget]]:
    root = tmp_path_factory.mktemp("streaming-local")
    source = root / "src" / "streaming_e2e.py"
    source.parent.mkdir()
    source.write_text(textwrap.dedent(CHAIN))
    target = LocalTarget(root / "state")
    service = deploy.push(load_entrypoint(source), "streaming-e2e", remote=target)
    assert service is not None
    try:
        yield service, target
    finally:
        target.down("streaming-e2e")


@pytest.fixture
def gate(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    path = tmp_path / "gate"
    yield path
    path.touch()


def test_first_item_through_three_hops_while_the_leaf_still_runs(
    chain: tuple[ChainService, LocalTarget], gate: pathlib.Path,
) -> None:
    service, _ = chain
    with httpx.stream("POST", service.run_remote_url, timeout=60,
                      json={"mode": "words", "count": 2, "gate": str(gate)}) as response:
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        chunks = response.iter_bytes()
        first = next(chunks)
        assert first == b"first "
        gate.touch()  # the leaf waits for this: it was still running when the first item came
        rest = b"".join(chunks)
    assert first + rest == b"first released w0 w1 "


def test_an_error_mid_stream_cuts_the_external_callers_body(
    chain: tuple[ChainService, LocalTarget],
) -> None:
    service, _ = chain
    with httpx.stream("POST", service.run_remote_url, json={"mode": "fail", "count": 2},
                      timeout=60) as response:
        assert response.status_code == 200
        received = bytearray()
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in response.iter_bytes():
                received += chunk
    assert received == b"first w0 w1 "  # every item before the error arrived


def test_typed_items_read_by_an_external_caller(chain: tuple[ChainService, LocalTarget]) -> None:
    service, _ = chain
    types = streaming.stream_types(_Chunk, footer_type=_Footer)

    async def read() -> tuple[list[int], int]:
        async with httpx.AsyncClient(timeout=60) as client, client.stream(
                "POST", service.run_remote_url, json={"mode": "typed", "count": 4}) as response:
            reader = streaming.stream_reader(types, response.aiter_bytes())
            items = [item.index async for item in reader.read_items()]
            footer = await reader.read_footer()
            return items, footer.count

    assert asyncio.run(read()) == ([0, 1, 2, 3], 4)


def _rss_mib(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", pathlib.Path(f"/proc/{pid}/status").read_text())
    assert match is not None
    return int(match.group(1)) / 1024


def test_memory_stays_flat_for_a_100_mb_stream(chain: tuple[ChainService, LocalTarget]) -> None:
    service, target = chain
    pids = {c.name: c.pid for c in target.service("streaming-e2e").state().chainlets}
    relays = {name: pid for name, pid in pids.items() if name in ("Entry", "Mid") and pid}
    assert len(relays) == 2
    with httpx.stream("POST", service.run_remote_url, json={"mode": "blob", "size": 2 << 20},
                      timeout=60) as warm:
        warm.read()
    before = {name: _rss_mib(pid) for name, pid in relays.items()}
    peak = dict(before)
    size = 100 * 1024 * 1024
    received = 0
    with httpx.stream("POST", service.run_remote_url, json={"mode": "blob", "size": size},
                      timeout=120) as response:
        def sample() -> None:
            for name, pid in relays.items():
                peak[name] = max(peak[name], _rss_mib(pid))

        for count, chunk in enumerate(response.iter_raw()):
            received += len(chunk)
            if count % 64 == 0:
                sample()
            if count == 100:  # a stalled reader: without back-pressure the relays would buffer
                for _ in range(20):
                    time.sleep(0.05)
                    sample()
    assert received == size
    for name in relays:
        growth = peak[name] - before[name]
        assert growth < 32, f"{name} grew {growth:.1f} MiB while relaying 100 MiB"


def test_truss_chains_streaming_example_on_the_local_target(tmp_path: pathlib.Path) -> None:
    # truss-chains' tests/test_e2e.py::test_streaming_chain, on our local target.
    target = LocalTarget(tmp_path / "state")
    service = deploy.push(load_entrypoint(EXAMPLE, "Consumer"), "streaming-example", remote=target)
    assert service is not None
    try:
        result = service.run_remote({"cause_error": False})
        assert result["header"]["msg"] == "Start."
        assert [c["words"] for c in result["chunks"]] == [
            ["G"], ["G", "HH"], ["G", "HH", "III"], ["G", "HH", "III", "JJJJ"],
        ]
        assert result["footer"]["msg"] == "Done."
        assert result["strings"] == "First second last."
        with pytest.raises(Exception, match="Test Error") as error:
            service.run_remote({"cause_error": True})
        assert "Generator" in str(error.value)  # the producing chainlet is named
    finally:
        target.down("streaming-example")


class _Chunk(pydantic.BaseModel):  # the chain file's models, as a caller declares them
    index: int


class _Footer(pydantic.BaseModel):
    count: int
