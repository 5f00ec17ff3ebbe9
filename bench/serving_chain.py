"""Chainlets for `bench/serving.py`: trivial 3-hop chains (async and sync) and array chains."""

from __future__ import annotations

import numpy as np

import infra_chains as chains


class Leaf(chains.ChainletBase):
    async def run_remote(self, text: str) -> str:
        return text.upper() + "|leaf"


class Mid(chains.ChainletBase):
    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self.leaf = leaf

    async def run_remote(self, text: str) -> str:
        return await self.leaf.run_remote(text.lower()) + "|mid"


class Entry(chains.ChainletBase):
    def __init__(self, mid: Mid = chains.depends(Mid)) -> None:
        self.mid = mid

    async def run_remote(self, text: str) -> str:
        return await self.mid.run_remote(text.strip()) + "|entry"


class SyncLeaf(chains.ChainletBase):
    def run_remote(self, text: str) -> str:
        return text.upper() + "|leaf"


class SyncMid(chains.ChainletBase):
    def __init__(self, leaf: SyncLeaf = chains.depends(SyncLeaf)) -> None:
        self.leaf = leaf

    def run_remote(self, text: str) -> str:
        return self.leaf.run_remote(text.lower()) + "|mid"


class SyncEntry(chains.ChainletBase):
    def __init__(self, mid: SyncMid = chains.depends(SyncMid)) -> None:
        self.mid = mid

    def run_remote(self, text: str) -> str:
        return self.mid.run_remote(text.strip()) + "|entry"


class JsonArrayLeaf(chains.ChainletBase):
    async def run_remote(self, data: list[float]) -> list[float]:
        return data


class JsonArrayMid(chains.ChainletBase):
    def __init__(self, leaf: JsonArrayLeaf = chains.depends(JsonArrayLeaf)) -> None:
        self.leaf = leaf

    async def run_remote(self, data: list[float]) -> list[float]:
        return await self.leaf.run_remote(data)


class JsonArrayEntry(chains.ChainletBase):
    def __init__(self, mid: JsonArrayMid = chains.depends(JsonArrayMid)) -> None:
        self.mid = mid

    async def run_remote(self, data: list[float]) -> list[float]:
        return await self.mid.run_remote(data)


class BinaryArrayLeaf(chains.ChainletBase):
    async def run_remote(self, data: np.ndarray) -> np.ndarray:
        return data


class BinaryArrayMid(chains.ChainletBase):
    def __init__(self, leaf: BinaryArrayLeaf = chains.depends(BinaryArrayLeaf, use_binary=True)) -> None:
        self.leaf = leaf

    async def run_remote(self, data: np.ndarray) -> np.ndarray:
        return await self.leaf.run_remote(data)


class BinaryArrayEntry(chains.ChainletBase):
    def __init__(self, mid: BinaryArrayMid = chains.depends(BinaryArrayMid, use_binary=True)) -> None:
        self.mid = mid

    async def run_remote(self, data: np.ndarray) -> np.ndarray:
        return await self.mid.run_remote(data)
