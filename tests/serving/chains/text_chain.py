"""A 3-hop chain for the serving tests: async Entry -> async Mid -> sync Leaf, pydantic in/out.

Entry awaits its async dependency; Mid calls its sync one without ``await`` (a blocking stub on
Mid's event loop, as in truss-chains)."""

from __future__ import annotations

from typing import Literal

import pydantic

import infra_chains as chains
from infra_chains.serving import request_id

Mode = Literal["ok", "raise", "custom", "http422"]


class Item(pydantic.BaseModel):
    text: str
    count: int = 1


class Result(pydantic.BaseModel):
    text: str
    hops: list[str]
    request_ids: list[str | None]


class LeafError(Exception):
    """A user exception type that is not a built-in."""


def _explode(text: str) -> None:
    raise ValueError(f"leaf cannot handle {text!r}")


class Leaf(chains.ChainletBase):
    def run_remote(self, item: Item, mode: Mode = "ok") -> Result:
        if mode == "raise":
            _explode(item.text)
        if mode == "custom":
            raise LeafError("custom failure in leaf")
        if mode == "http422":
            raise chains.HTTPException(422, f"leaf rejects {item.text!r}")
        return Result(text=item.text.upper() * item.count, hops=["leaf"],
                      request_ids=[request_id.current()])


class Mid(chains.ChainletBase):
    def __init__(self, leaf: Leaf = chains.depends(Leaf, retries=3)) -> None:
        self.leaf = leaf

    async def run_remote(self, item: Item, mode: Mode = "ok") -> Result:
        result = self.leaf.run_remote(item, mode=mode)
        if not isinstance(result, Result):
            raise TypeError(f"stub returned {type(result).__name__}, not Result")
        return Result(text=result.text + "|mid", hops=[*result.hops, "mid"],
                      request_ids=[*result.request_ids, request_id.current()])


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    def __init__(self, mid: Mid = chains.depends(Mid, retries=3),
                 context: chains.DeploymentContext = chains.depends_context()) -> None:
        self.mid = mid
        self.greeting = context.user_env.get("greeting", "")

    async def run_remote(self, text: str, count: int = 1, mode: Mode = "ok") -> Result:
        result = await self.mid.run_remote(Item(text=self.greeting + text, count=count), mode)
        return Result(text=result.text + "|entry", hops=[*result.hops, "entry"],
                      request_ids=[*result.request_ids, request_id.current()])
