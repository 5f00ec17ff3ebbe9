"""Fixtures for serving tests: real chainlet servers on 127.0.0.1, always stopped afterwards."""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infra_chains.serving.testing import ChainletProcess, make_contract

WORKSPACE = pathlib.Path(__file__).parent / "chains"

Serve = Callable[..., ChainletProcess]


def _server_factory(stack: contextlib.ExitStack) -> Serve:
    def serve(import_path: str, *, wait_ready: bool = True, **fields: Any) -> ChainletProcess:
        contract = make_contract(import_path, WORKSPACE, **fields)
        return stack.enter_context(ChainletProcess(contract, wait_ready=wait_ready))

    return serve


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a chainlet server for one test: ``serve("module:Class", name=..., dependencies=...)``."""
    with contextlib.ExitStack() as stack:
        yield _server_factory(stack)


@pytest.fixture(scope="module")
def serve_module() -> Iterator[Serve]:
    """Like `serve`, for servers shared by the tests of one module."""
    with contextlib.ExitStack() as stack:
        yield _server_factory(stack)


@pytest.fixture(scope="module")
def text_chain(serve_module: Serve) -> ChainletProcess:
    """The 3-hop chain Entry (async) -> Mid (async) -> Leaf (sync); returns the entrypoint."""
    leaf = serve_module("text_chain:Leaf", name="Leaf")
    mid = serve_module("text_chain:Mid", name="Mid", dependencies={"Leaf": leaf.url})
    return serve_module("text_chain:Entry", name="Entry", dependencies={"Mid": mid.url},
                        user_env={"greeting": "hi "}, max_request_bytes=64 * 1024)
