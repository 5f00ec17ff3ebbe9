"""Hand-made reference stack: one starlette app per step, aiohttp client between steps.

Run three times (ROLE=leaf|mid|entry, NEXT_URL=base URL of the next step) under
`uvicorn --loop uvloop --http httptools --no-access-log`. This is the stack PERF.md measures.
POST /run_remote  {"text": str} -> {"text": str, "hops": int}
POST /array       JSON {"data": [float]} -> [float], or raw float32 bytes
                  (Content-Type application/octet-stream, X-Dtype, X-Shape headers) -> raw bytes;
                  each hop forwards in the format it received.
"""
from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import AsyncIterator

import aiohttp
import numpy as np
import pydantic
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ROLE = os.environ["ROLE"]
NEXT_URL = os.environ.get("NEXT_URL", "")
OCTET = "application/octet-stream"


class TextIn(pydantic.BaseModel):
    text: str


class Result(pydantic.BaseModel):
    text: str
    hops: int


class ArrayIn(pydantic.BaseModel):
    data: list[float]


_session: aiohttp.ClientSession | None = None


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    global _session
    # Idle timeout below uvicorn's 5 s keep-alive, so a pooled connection is never reused after
    # the server closed it (PERF.md: the race behind BentoML's 500s).
    _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=300, keepalive_timeout=4.0))
    try:
        yield
    finally:
        await _session.close()


async def _call_text(text: str) -> Result:
    assert _session is not None
    async with _session.post(f"{NEXT_URL}/run_remote", json={"text": text}) as resp:
        resp.raise_for_status()
        return Result.model_validate_json(await resp.read())


async def run_remote(request: Request) -> Response:
    text = TextIn.model_validate_json(await request.body()).text
    if ROLE == "leaf":
        out = Result(text=text.upper() + "|leaf", hops=1)
    elif ROLE == "mid":
        r = await _call_text(text.lower())
        out = Result(text=r.text + "|mid", hops=r.hops + 1)
    else:
        r = await _call_text(text.strip())
        out = Result(text=r.text + "|entry", hops=r.hops + 1)
    return Response(out.model_dump_json(), media_type="application/json")


async def array(request: Request) -> Response:
    body = await request.body()
    if request.headers.get("content-type", "").startswith(OCTET):
        shape = tuple(int(x) for x in request.headers["x-shape"].split(","))
        arr = np.frombuffer(body, dtype=request.headers["x-dtype"]).reshape(shape)
        if ROLE != "leaf":
            assert _session is not None
            headers = {"Content-Type": OCTET, "X-Dtype": str(arr.dtype), "X-Shape": ",".join(map(str, arr.shape))}
            async with _session.post(f"{NEXT_URL}/array", data=arr.tobytes(), headers=headers) as resp:
                resp.raise_for_status()
                arr = np.frombuffer(await resp.read(), dtype=resp.headers["x-dtype"]).reshape(shape)
        return Response(arr.tobytes(), media_type=OCTET,
                        headers={"X-Dtype": str(arr.dtype), "X-Shape": ",".join(map(str, arr.shape))})
    arr = np.asarray(ArrayIn.model_validate_json(body).data, dtype=np.float32)
    if ROLE != "leaf":
        assert _session is not None
        async with _session.post(f"{NEXT_URL}/array", json={"data": arr.tolist()}) as resp:
            resp.raise_for_status()
            arr = np.asarray(await resp.json(), dtype=np.float32)
    return JSONResponse(arr.tolist())


app = Starlette(routes=[Route("/run_remote", run_remote, methods=["POST"]),
                        Route("/array", array, methods=["POST"])], lifespan=lifespan)
