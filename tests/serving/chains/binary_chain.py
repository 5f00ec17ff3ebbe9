"""Binary codec through two hops: numpy arrays and bytes as raw bytes (msgpack)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

import infra_chains as chains


class ArrayLeaf(chains.ChainletBase):
    def run_remote(self, array: npt.NDArray[np.float32], blob: bytes) -> tuple[np.ndarray, bytes]:
        return array * 2, blob[::-1]


class ArrayEntry(chains.ChainletBase):
    def __init__(self, leaf: ArrayLeaf = chains.depends(ArrayLeaf, use_binary=True)) -> None:
        self.leaf = leaf

    def run_remote(self, array: npt.NDArray[np.float32], blob: bytes) -> tuple[np.ndarray, bytes]:
        doubled, reversed_blob = self.leaf.run_remote(array, blob)
        return doubled + 1, reversed_blob
