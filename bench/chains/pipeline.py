"""The benchmark chain for infra_chains (deployed by `infra-chains push`, and run in-process as the floor).

Entry -> Mid -> Leaf, trivial string work, pydantic I/O, ~100-byte JSON. Written strictly against
the public API (shared/API.md), exactly like a user's chain. The peers in bench/peers/ do the same work.
"""
import pydantic

import infra_chains as chains


class Result(pydantic.BaseModel):
    text: str
    hops: int


# Like the peers (all-async handlers, no per-process request cap), each chainlet serves many
# requests at once; truss-chains' default predict_concurrency=1 would queue them one by one.
SERVING = chains.RemoteConfig(compute=chains.Compute(predict_concurrency=256))


class Leaf(chains.ChainletBase):
    remote_config = SERVING

    async def run_remote(self, text: str) -> Result:
        return Result(text=text.upper() + "|leaf", hops=1)


class Mid(chains.ChainletBase):
    remote_config = SERVING

    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self._leaf = leaf

    async def run_remote(self, text: str) -> Result:
        r = await self._leaf.run_remote(text=text.lower())
        return Result(text=r.text + "|mid", hops=r.hops + 1)


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    remote_config = SERVING

    def __init__(self, mid: Mid = chains.depends(Mid)) -> None:
        self._mid = mid

    async def run_remote(self, text: str) -> Result:
        r = await self._mid.run_remote(text=text.strip())
        return Result(text=r.text + "|entry", hops=r.hops + 1)
