"""The streaming benchmark chain (bench/streaming.py): Entry -> Mid -> Leaf, bytes items.

Leaf yields ``count`` items of ``size`` bytes; Mid and Entry return their dependency's stream
(relayed, not re-yielded), the way bench/peers/handmade_stream relays with aiohttp.
"""
from collections.abc import AsyncIterator

import infra_chains as chains

SERVING = chains.RemoteConfig(compute=chains.Compute(predict_concurrency=256))


class Leaf(chains.ChainletBase):
    remote_config = SERVING

    async def run_remote(self, count: int, size: int) -> AsyncIterator[bytes]:
        item = b"x" * size
        for _ in range(count):
            yield item


class Mid(chains.ChainletBase):
    remote_config = SERVING

    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self._leaf = leaf

    async def run_remote(self, count: int, size: int) -> AsyncIterator[bytes]:
        return self._leaf.run_remote(count, size)


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    remote_config = SERVING

    def __init__(self, mid: Mid = chains.depends(Mid)) -> None:
        self._mid = mid

    async def run_remote(self, count: int, size: int) -> AsyncIterator[bytes]:
        return self._mid.run_remote(count, size)
