"""The 1 MiB array chain for infra_chains: ArrayEntry -> ArrayMid -> ArrayLeaf, numpy in and out.

Dependencies use the binary codec (`use_binary=True`), so arrays travel as raw bytes between hops.
"""
import numpy as np

import infra_chains as chains


class ArrayLeaf(chains.ChainletBase):
    # async: ArrayMid awaits it over the async transport (a sync leaf would get a blocking stub,
    # holding ArrayMid's event loop for each call).
    async def run_remote(self, data: np.ndarray) -> np.ndarray:
        return data


class ArrayMid(chains.ChainletBase):
    def __init__(self, leaf: ArrayLeaf = chains.depends(ArrayLeaf, use_binary=True)) -> None:
        self._leaf = leaf

    async def run_remote(self, data: np.ndarray) -> np.ndarray:
        return await self._leaf.run_remote(data=data)


@chains.mark_entrypoint
class ArrayEntry(chains.ChainletBase):
    def __init__(self, mid: ArrayMid = chains.depends(ArrayMid, use_binary=True)) -> None:
        self._mid = mid

    async def run_remote(self, data: np.ndarray) -> np.ndarray:
        return await self._mid.run_remote(data=data)
