"""numpy through a chain: arrays travel as raw bytes between chainlets (the binary codec).

    python examples/array_stats.py                     # runs in this process (run_local)
    infra-chains push examples/array_stats.py          # deploys it as two local HTTP services

Call the deployed entrypoint with msgpack (``infra_chains.serving.codec.encode``) for raw-bytes
arrays, or with JSON, where an array is a list of numbers.
"""

import numpy as np
import pydantic

import infra_chains as chains

# The deployed images install only the runtime's own requirements; numpy is this chain's.
NUMPY_IMAGE = chains.RemoteConfig(docker_image=chains.DockerImage(pip_requirements=["numpy>=1.24,<3"]))


class Stats(pydantic.BaseModel):
    mean: float
    std: float
    shape: list[int]


class Normalizer(chains.ChainletBase):
    """Scales a batch to zero mean and unit variance, per column."""

    remote_config = NUMPY_IMAGE

    def run_remote(self, batch: np.ndarray) -> np.ndarray:
        std = batch.std(axis=0)
        return (batch - batch.mean(axis=0)) / np.where(std == 0, 1, std)


@chains.mark_entrypoint
class BatchStats(chains.ChainletBase):
    """Normalizes a batch remotely, then reports its statistics."""

    remote_config = NUMPY_IMAGE

    def __init__(self, normalizer: Normalizer = chains.depends(Normalizer, use_binary=True)) -> None:
        self._normalizer = normalizer

    async def run_remote(self, batch: np.ndarray) -> Stats:
        # Normalizer's run_remote is `def` (CPU work, run in a worker thread where it is
        # deployed), so its stub blocks too: no `await`, as in truss-chains.
        normalized = self._normalizer.run_remote(batch=batch.astype(np.float32))
        return Stats(mean=float(normalized.mean()), std=float(normalized.std()),
                     shape=list(normalized.shape))


if __name__ == "__main__":
    import asyncio

    data = np.random.default_rng(0).normal(5.0, 2.0, size=(1024, 16))
    with chains.run_local():
        print(asyncio.run(BatchStats().run_remote(batch=data)).model_dump_json(indent=2))
