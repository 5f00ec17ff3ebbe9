"""Callers and dependencies of both flavours: each stub has its *dependency's* flavour."""

from __future__ import annotations

import asyncio

import infra_chains as chains


class SyncDep(chains.ChainletBase):
    def run_remote(self, x: int) -> int:
        return x + 1


class AsyncDep(chains.ChainletBase):
    async def run_remote(self, x: int) -> int:
        await asyncio.sleep(0)
        return x + 2


class AsyncCallsSync(chains.ChainletBase):
    """Calls its sync dependency without ``await``, as truss-chains' chains do."""

    remote_config = chains.RemoteConfig(compute=chains.Compute(predict_concurrency=8))

    def __init__(self, dep: SyncDep = chains.depends(SyncDep)) -> None:
        self.dep = dep

    async def run_remote(self, x: int) -> list[int]:
        first = self.dep.run_remote(x)
        return [first, self.dep.run_remote(first)]


class SyncCallsAsync(chains.ChainletBase):
    """Runs its async dependency's coroutine itself, as a truss-chains user would."""

    def __init__(self, dep: AsyncDep = chains.depends(AsyncDep)) -> None:
        self.dep = dep

    def run_remote(self, x: int) -> list[int]:
        first = asyncio.run(self.dep.run_remote(x))
        return [first, asyncio.run(self.dep.run_remote(first))]
