"""Chainlets with controllable behaviour: slow, flaky, slow to start, unhealthy."""

from __future__ import annotations

import asyncio
import threading
import time

import infra_chains as chains


class Slow(chains.ChainletBase):
    """Sleeps; answers the highest number of calls it saw running at once."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0

    async def run_remote(self, seconds: float) -> int:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.running -= 1
        return self.peak


class SyncSlow(chains.ChainletBase):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def run_remote(self, seconds: float) -> int:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(seconds)
        finally:
            with self.lock:
                self.running -= 1
        return self.peak


class Flaky(chains.ChainletBase):
    """Answers 503 for the first ``failures`` calls with a given key, then the call count."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    async def run_remote(self, key: str, failures: int) -> int:
        count = self.calls[key] = self.calls.get(key, 0) + 1
        if count <= failures:
            raise chains.HTTPException(503, f"flaky: call {count} of key {key!r} fails")
        return count


class FlakyCaller(chains.ChainletBase):
    def __init__(self, flaky: Flaky = chains.depends(Flaky, retries=3)) -> None:
        self.flaky = flaky

    async def run_remote(self, key: str, failures: int) -> int:
        return await self.flaky.run_remote(key, failures)


class SlowCaller(chains.ChainletBase):
    def __init__(self, slow: Slow = chains.depends(Slow, timeout_sec=0.5)) -> None:
        self.slow = slow

    async def run_remote(self, seconds: float) -> int:
        return await self.slow.run_remote(seconds)


class SlowInit(chains.ChainletBase):
    def __init__(self) -> None:
        time.sleep(1.5)

    def run_remote(self) -> str:
        return "initialised"


class Moody(chains.ChainletBase):
    """Healthy until told otherwise."""

    def __init__(self) -> None:
        self.healthy = True

    def is_healthy(self) -> bool:
        return self.healthy

    def run_remote(self, healthy: bool) -> bool:
        self.healthy = healthy
        return healthy


class BrokenInit(chains.ChainletBase):
    def __init__(self) -> None:
        raise RuntimeError("cannot load the model")

    def run_remote(self) -> str:
        return "never"


class WorkingDir(chains.ChainletBase):
    """Answers the directory it runs in (every target runs a chainlet in its workspace)."""

    def run_remote(self) -> str:
        import os

        return os.getcwd()
