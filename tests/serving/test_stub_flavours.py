"""Stub flavours with real servers: a stub is sync or async as its *dependency's* ``run_remote``
is (truss-chains' rule), whoever calls it."""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest

from .conftest import Serve

pytestmark = pytest.mark.servers


def test_async_caller_calls_a_sync_dependency_without_await(serve: Serve) -> None:
    dep = serve("flavours:SyncDep", name="SyncDep")
    caller = serve("flavours:AsyncCallsSync", name="AsyncCallsSync", dependencies={"SyncDep": dep.url})
    # The blocking stub runs on the caller's event loop: several requests at once all complete
    # (it needs no loop of its own, so nothing waits on the loop it blocks).
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda x: httpx.post(caller.predict_url, json={"x": x}, timeout=30), range(16)))
    for x, response in enumerate(answers):
        assert response.status_code == 200, response.text
        assert response.json() == [x + 1, x + 2]


def test_sync_caller_runs_an_async_dependencys_coroutine(serve: Serve) -> None:
    dep = serve("flavours:AsyncDep", name="AsyncDep")
    caller = serve("flavours:SyncCallsAsync", name="SyncCallsAsync", dependencies={"AsyncDep": dep.url})
    for x in (1, 10):  # a new event loop per asyncio.run: the stub works on each
        response = httpx.post(caller.predict_url, json={"x": x}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json() == [x + 2, x + 4]
