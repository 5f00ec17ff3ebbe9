"""BentoML (>= 1.2 API) version of the pipeline: three services composed with `bentoml.depends`.

`bentoml serve service:Entry` starts all three (one process each) and wires them together.
POST /run_remote {"text": str} -> {"text", "hops"};  POST /array {"data": [float]} -> [float];
POST /array_upload: multipart file upload of raw float32 bytes -> raw bytes. That is BentoML's
binary path for outside clients: its pickle framing (what services use between themselves) is
refused by the entry service (HTTP 415, "not allowed in main server").
"""
from __future__ import annotations

from pathlib import Path

import bentoml
import numpy as np
import pydantic


class Result(pydantic.BaseModel):
    text: str
    hops: int


def _result(r: object) -> Result:
    """Inter-service calls may hand back a dict or a model depending on the serde; accept both."""
    return r if isinstance(r, Result) else Result.model_validate(r)


@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Leaf:
    @bentoml.api
    async def run_remote(self, text: str) -> Result:
        return Result(text=text.upper() + "|leaf", hops=1)

    @bentoml.api
    async def array(self, data: np.ndarray) -> np.ndarray:
        return data


@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Mid:
    leaf = bentoml.depends(Leaf)

    @bentoml.api
    async def run_remote(self, text: str) -> Result:
        r = _result(await self.leaf.to_async.run_remote(text=text.lower()))
        return Result(text=r.text + "|mid", hops=r.hops + 1)

    @bentoml.api
    async def array(self, data: np.ndarray) -> np.ndarray:
        return await self.leaf.to_async.array(data=data)


@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Entry:
    mid = bentoml.depends(Mid)

    @bentoml.api
    async def run_remote(self, text: str) -> Result:
        r = _result(await self.mid.to_async.run_remote(text=text.strip()))
        return Result(text=r.text + "|entry", hops=r.hops + 1)

    @bentoml.api
    async def array(self, data: np.ndarray) -> np.ndarray:
        return await self.mid.to_async.array(data=data)

    @bentoml.api
    async def array_upload(self, data: Path) -> bytes:
        arr = np.frombuffer(data.read_bytes(), dtype=np.float32)
        out = await self.mid.to_async.array(data=arr)
        return np.asarray(out, dtype=np.float32).tobytes()
