"""Ray Serve version of the pipeline: three deployments composed with deployment handles.

usage: python app.py --port PORT   (starts a local Ray cluster, serves, blocks until killed)
Entry is the HTTP ingress (a plain starlette Request, validated with pydantic); Mid and Leaf are
reached through handles. Arrays travel between deployments as numpy objects (Ray's object path);
the client sends a JSON list or raw float32 bytes (application/octet-stream + X-Dtype/X-Shape).
Usage stats, dashboard and access logs are off so nothing leaves the machine or the hot path.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import numpy as np  # noqa: E402
import pydantic  # noqa: E402
import ray  # noqa: E402
from ray import serve  # noqa: E402
from ray.serve.handle import DeploymentHandle  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402

OCTET = "application/octet-stream"
LOGGING = {"enable_access_log": False, "log_level": "WARNING"}
# Logical CPUs only: with the default of 1 CPU per replica, 3 replicas do not fit on 2 cores.
QUIET = {"logging_config": LOGGING, "ray_actor_options": {"num_cpus": 0}}


class TextIn(pydantic.BaseModel):
    text: str


class Result(pydantic.BaseModel):
    text: str
    hops: int


@serve.deployment(**QUIET)
class Leaf:
    def run_remote(self, text: str) -> Result:
        return Result(text=text.upper() + "|leaf", hops=1)

    def array(self, data: np.ndarray) -> np.ndarray:
        return data


@serve.deployment(**QUIET)
class Mid:
    def __init__(self, leaf: DeploymentHandle) -> None:
        self._leaf = leaf

    async def run_remote(self, text: str) -> Result:
        r: Result = await self._leaf.run_remote.remote(text.lower())
        return Result(text=r.text + "|mid", hops=r.hops + 1)

    async def array(self, data: np.ndarray) -> np.ndarray:
        return await self._leaf.array.remote(data)


@serve.deployment(**QUIET)
class Entry:
    def __init__(self, mid: DeploymentHandle) -> None:
        self._mid = mid

    async def __call__(self, request: Request) -> Response:
        body = await request.body()
        if request.url.path.rstrip("/").endswith("/array"):
            return await self._array(request, body)
        text = TextIn.model_validate_json(body).text
        r: Result = await self._mid.run_remote.remote(text.strip())
        out = Result(text=r.text + "|entry", hops=r.hops + 1)
        return Response(out.model_dump_json(), media_type="application/json")

    async def _array(self, request: Request, body: bytes) -> Response:
        if request.headers.get("content-type", "").startswith(OCTET):
            shape = tuple(int(x) for x in request.headers["x-shape"].split(","))
            arr = np.frombuffer(body, dtype=request.headers["x-dtype"]).reshape(shape)
            out = await self._mid.array.remote(arr)
            return Response(out.tobytes(), media_type=OCTET,
                            headers={"X-Dtype": str(out.dtype), "X-Shape": ",".join(map(str, out.shape))})
        arr = np.asarray(pydantic.TypeAdapter(dict[str, list[float]]).validate_json(body)["data"], dtype=np.float32)
        out = await self._mid.array.remote(arr)
        return JSONResponse(out.tolist())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    ray.init(include_dashboard=False, num_cpus=os.cpu_count(),
             configure_logging=False)
    serve.start(http_options={"host": "127.0.0.1", "port": args.port}, logging_config=LOGGING)
    serve.run(Entry.bind(Mid.bind(Leaf.bind())), route_prefix="/", blocking=False)
    print(f"ready on http://127.0.0.1:{args.port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
