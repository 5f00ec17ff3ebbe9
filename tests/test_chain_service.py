"""`ChainService.run_remote` against a real chainlet process: JSON answers, and the items of a
streaming entrypoint as they arrive, with a mid-stream error raised after the items before it."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator

import pytest

from infra_chains.chain_service import ChainService, StreamedItems
from infra_chains.errors import DependencyUnreachableError
from infra_chains.public_types import DeployedChainlet
from infra_chains.serving.testing import ChainletProcess, free_port, make_contract

pytestmark = pytest.mark.servers

CHAINS = pathlib.Path(__file__).parent / "serving" / "chains"


class _Service(ChainService):
    """A `ChainService` for one chainlet process, as a target's would be for its entrypoint."""

    def __init__(self, process: ChainletProcess) -> None:
        super().__init__("test-chain")
        self._process = process

    @property
    def run_remote_url(self) -> str:
        return self._process.predict_url

    @property
    def status_page_url(self) -> str:
        return self._process.url

    def get_info(self) -> list[DeployedChainlet]:
        return []


Serve = Callable[[str], _Service]


@pytest.fixture
def serve() -> Iterator[Serve]:
    processes: list[ChainletProcess] = []

    def start(import_path: str) -> _Service:
        process = ChainletProcess(make_contract(import_path, CHAINS, entrypoint=True))
        processes.append(process)
        return _Service(process.__enter__())

    yield start
    for process in processes:
        process.__exit__(None, None, None)


def test_a_plain_entrypoint_answers_json(serve: Serve) -> None:
    service = serve("flavours:SyncDep")
    assert service.run_remote({"x": 1}) == 2


def test_a_streaming_entrypoint_yields_each_item_as_it_arrives(serve: Serve, tmp_path: pathlib.Path) -> None:
    service = serve("streaming_chain:Words")
    gate = tmp_path / "gate"
    with service.run_remote({"count": 3, "gate": str(gate)}, timeout_sec=30) as items:
        assert isinstance(items, StreamedItems) and items.item_type is str
        assert next(items) == "w0 "
        gate.touch()  # the producer waits for this: it was still running when "w0 " came
        assert list(items) == ["released ", "w1 ", "w2 "]


def test_bytes_items_keep_their_boundaries(serve: Serve) -> None:
    service = serve("streaming_chain:Blob")
    items = list(service.run_remote({"size": 200_000, "chunk": 65_536}))
    assert all(isinstance(item, bytes) for item in items)
    assert [len(item) for item in items] == [65_536, 65_536, 65_536, 200_000 - 3 * 65_536]


def test_an_error_mid_stream_is_raised_after_the_items_before_it(serve: Serve) -> None:
    service = serve("streaming_chain:Failing")
    received: list[str] = []
    with pytest.raises(ValueError, match="producer failed after 2 items") as error:
        for item in service.run_remote({"fail_after": 2}):
            received.append(item)
    assert received == ["item0 ", "item1 "]
    assert "Failing" in str(error.value)  # the producing chainlet is named


def test_a_stream_closed_early_ends_its_iteration(serve: Serve) -> None:
    service = serve("streaming_chain:Words")
    items = service.run_remote({"count": 1000})
    assert next(items) == "w0 "
    items.close()
    assert list(items) == []


class _Gone(ChainService):
    """A chain whose entrypoint no longer listens (taken down, or never started)."""

    def __init__(self, port: int) -> None:
        super().__init__("gone-chain")
        self._port = port

    @property
    def run_remote_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/run_remote"

    @property
    def status_page_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/"

    def get_info(self) -> list[DeployedChainlet]:
        return []


def test_an_unreachable_chain_is_named_in_the_librarys_words() -> None:
    service = _Gone(free_port())
    with pytest.raises(DependencyUnreachableError) as caught:
        service.run_remote({"text": "x"})
    message = str(caught.value)
    assert "gone-chain" in message and service.run_remote_url in message
    assert "infra-chains " not in message  # library errors name no CLI command
