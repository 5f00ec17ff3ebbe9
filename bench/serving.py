"""Serving-runtime bench: per-hop overhead, throughput, array codecs, RPC transports.

    .venv/bin/python bench/serving.py [--seconds 3] [--quick]

Measures, on real `python -m infra_chains.serve` processes on 127.0.0.1:
1. a 3-hop chain of trivial chainlets (async, and sync) at concurrency 1: p50/p99 latency
   against the in-process floor (the same chain through `run_local`), per hop = difference / 3;
2. the same chains at concurrency 32: req/s and failed requests (wrk if installed, else an
   aiohttp load loop);
3. a 1 MiB float32 array through 3 hops: JSON lists vs the binary codec (msgpack);
4. the stubs' async transports at concurrency 1/32/128 against one chainlet: aiohttp vs the
   httptools client vs httpx
   (the choice in `infra_chains/serving/transport.py` rests on this), and the sync transports
   at concurrency 1: pooled http.client vs httpx.Client.
Prints one markdown table per part. Every run is bounded in time and stops its servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

BENCH = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import numpy as np

import infra_chains as chains
from infra_chains.serving import codec, transport
from infra_chains.serving.testing import ChainletProcess, make_contract

TEXT = "  Hello from the infra_chains serving bench  "
WRK_LUA = """
function init(args)
  local f = assert(io.open(args[1], "rb")); wrk.body = f:read("*a"); f:close()
  wrk.method = "POST"; wrk.headers["Content-Type"] = "application/json"
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests": %d, "duration_us": %d, "errors": %d, ' ..
    '"non2xx": %d, "p50": %d, "p99": %d}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
"""


# -- helpers ----------------------------------------------------------------------------------
@contextlib.contextmanager
def chain(prefix: str, predict_concurrency: int = 1, async_transport: str | None = None) -> Iterator[ChainletProcess]:
    """Start ``{prefix}Leaf``, ``{prefix}Mid``, ``{prefix}Entry``; yield the entrypoint.

    ``async_transport`` names the stubs' async transport (`transport.ASYNC_TRANSPORTS`)."""
    env = {transport.ASYNC_TRANSPORT_ENV: async_transport} if async_transport else {}
    with contextlib.ExitStack() as stack:
        url: dict[str, str] = {}
        for role, dep in (("Leaf", None), ("Mid", "Leaf"), ("Entry", "Mid")):
            name = prefix + role
            deps = {prefix + dep: url[prefix + dep]} if dep else {}
            contract = make_contract(f"serving_chain:{name}", BENCH, name=name, dependencies=deps,
                                     log_level="WARNING", chain_name="bench",
                                     predict_concurrency=predict_concurrency)
            process = stack.enter_context(ChainletProcess(contract, ready_timeout_sec=60, env=env))
            url[name] = process.url
        yield process


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def sequential_latency(url: str, body: bytes, content_type: str, seconds: float) -> list[float]:
    """Concurrency 1 over one keep-alive connection (stdlib client: cheap and predictable)."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    connection = http.client.HTTPConnection(host, int(port))
    headers = {"Content-Type": content_type}
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        connection.request("POST", "/run_remote", body, headers)
        response = connection.getresponse()
        response.read()
        samples.append(time.perf_counter() - start)
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status} from {url}")
    connection.close()
    return samples[len(samples) // 10:]  # drop warm-up


def wrk(url: str, body: bytes, connections: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        lua, body_file = pathlib.Path(tmp, "post.lua"), pathlib.Path(tmp, "body")
        lua.write_text(WRK_LUA)
        body_file.write_bytes(body)
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(lua),
             url, "--", str(body_file)],
            capture_output=True, text=True, timeout=seconds + 30, check=True,
        ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return {"rps": data["requests"] / (data["duration_us"] / 1e6), "p50_ms": data["p50"] / 1000,
            "p99_ms": data["p99"] / 1000, "failed": data["errors"] + data["non2xx"]}


async def _aiohttp_load(url: str, body: bytes, connections: int, seconds: float) -> dict[str, float]:
    import aiohttp

    done = failed = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done, failed
            while time.perf_counter() < deadline:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                    await r.read()
                    done += 1
                    failed += r.status != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    return {"rps": done / elapsed, "p50_ms": float("nan"), "p99_ms": float("nan"), "failed": failed}


def load(url: str, body: bytes, connections: int, seconds: float) -> dict[str, float]:
    if shutil.which("wrk"):
        return wrk(url, body, connections, seconds)
    return asyncio.run(_aiohttp_load(url, body, connections, seconds))


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    sys.stdout.flush()


# -- 1 + 2: per-hop overhead and throughput ---------------------------------------------------
def floor_latency(prefix: str, seconds: float) -> list[float]:
    import serving_chain

    samples: list[float] = []
    with chains.run_local():
        entry = getattr(serving_chain, prefix + "Entry")()
        if prefix:  # sync chain
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                entry.run_remote(TEXT)
                samples.append(time.perf_counter() - start)
        else:
            async def run() -> None:
                deadline = time.perf_counter() + seconds
                while time.perf_counter() < deadline:
                    start = time.perf_counter()
                    await entry.run_remote(TEXT)
                    samples.append(time.perf_counter() - start)

            asyncio.run(run())
    return samples[len(samples) // 10:]


def bench_chains(seconds: float) -> None:
    body = codec.encode({"text": TEXT}, False)
    rows = []
    # predict_concurrency 1 (the default) serialises a chain of async chainlets: Entry holds its
    # only slot while it awaits Mid. The load phase needs room for 32 requests in flight.
    # The async chain once per async transport (its two calls use it; sync stubs use http.client).
    default = transport.DEFAULT_ASYNC_TRANSPORT
    runs = [("", f"async chainlets, {name}{' (default)' if name == default else ''}", 64, name)
            for name in ("aiohttp", "httptools")]
    runs.append(("Sync", "sync chainlets", 8, None))
    floors: dict[str, tuple[float, float]] = {}
    for prefix, label, concurrency, async_transport in runs:
        if prefix not in floors:
            floors[prefix] = percentiles(floor_latency(prefix, min(seconds, 1.0)))
        floor50, floor99 = floors[prefix]
        with chain(prefix, concurrency, async_transport) as entry:
            p50, p99 = percentiles(sequential_latency(entry.predict_url, body, codec.JSON_CONTENT_TYPE, seconds))
            c1 = wrk(entry.predict_url, body, 1, seconds) if shutil.which("wrk") else None
            c32 = load(entry.predict_url, body, 32, seconds)
        rows.append([
            f"{label} (predict_concurrency={concurrency})", f"{floor50 * 1e3:.3f} / {floor99 * 1e3:.3f}", f"{p50 * 1e3:.2f} / {p99 * 1e3:.2f}",
            f"{c1['p50_ms']:.2f} / {c1['p99_ms']:.2f}" if c1 else "-",
            f"{(p50 - floor50) / 3 * 1e3:.3f} / {(p99 - floor99) / 3 * 1e3:.3f}",
            f"{c32['rps']:.0f}", f"{c32['failed']:.0f}",
        ])
    table("3-hop chain of trivial chainlets (Entry -> Mid -> Leaf), JSON",
          ["chain", "floor run_local p50/p99 ms", "c=1 p50/p99 ms (py client)", "c=1 p50/p99 ms (wrk)",
           "per hop p50/p99 ms", "c=32 req/s", "c=32 failed"], rows)


# -- 3: 1 MiB array, JSON vs binary -------------------------------------------------------------
def bench_arrays(repeats: int) -> None:
    array = np.random.default_rng(0).random(256 * 1024, dtype=np.float32)  # 1 MiB
    rows = []
    results: dict[str, float] = {}
    for prefix, binary in (("JsonArray", False), ("BinaryArray", True)):
        body = codec.encode({"data": array if binary else array.tolist()}, binary)
        with chain(prefix) as entry:
            samples = []
            for _ in range(repeats):
                start = time.perf_counter()
                status, data, content_type = _post(entry.predict_url, body, codec.content_type(binary))
                result = codec.decode(data, codec.is_msgpack(content_type))
                samples.append(time.perf_counter() - start)
                if status != 200:
                    raise RuntimeError(f"HTTP {status}: {data[:300]!r}")
            np.testing.assert_allclose(np.asarray(result, dtype=np.float32), array)
        results[prefix] = statistics.median(samples[1:])
        rows.append(["binary (msgpack)" if binary else "JSON lists", f"{len(body) / 2**20:.2f} MiB",
                     f"{results[prefix] * 1e3:.1f}"])
    rows.append(["speed-up", "", f"{results['JsonArray'] / results['BinaryArray']:.1f}x"])
    table("1 MiB float32 array through 3 hops and back", ["codec", "request body", "median ms"], rows)


def _post(url: str, body: bytes, content_type: str) -> tuple[int, bytes, str]:
    host, port = url.split("//")[1].split("/")[0].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request("POST", "/run_remote", body, {"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "")
    finally:
        connection.close()


# -- 4: transports -------------------------------------------------------------------------------
async def _transport_load(make: Callable[[], transport.AsyncTransport], url: str, concurrency: int,
                          seconds: float) -> tuple[float, float, float, int]:
    client = make()
    body = codec.encode({"text": TEXT}, False)
    headers = {"Content-Type": codec.JSON_CONTENT_TYPE}
    samples: list[float] = []
    failed = 0
    for _ in range(20):  # warm the pool
        await client.post(url, body, headers, 10)
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal failed
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                response = await client.post(url, body, headers, 10)
                failed += response.status != 200
            except transport.TransportError:
                failed += 1
            samples.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await client.aclose()
    p50, p99 = percentiles(samples)
    return len(samples) / elapsed, p50, p99, failed


def _sync_latency(post: Callable[[], Any], seconds: float) -> tuple[float, float]:
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        post()
        samples.append(time.perf_counter() - start)
    return percentiles(samples[len(samples) // 10:])


def bench_transports(seconds: float) -> None:
    import httpx
    import uvloop

    contract = make_contract("serving_chain:Leaf", BENCH, name="Leaf", log_level="WARNING")
    rows = []
    with ChainletProcess(contract) as leaf:
        default = transport.DEFAULT_ASYNC_TRANSPORT
        for name, make in (("aiohttp", transport.AiohttpTransport),
                           ("httptools", transport.HttptoolsTransport),
                           ("httpx", transport.HttpxTransport)):
            label = name + (" (default)" if name == default else "")
            for concurrency in (1, 32, 128):
                rps, p50, p99, failed = uvloop.run(_transport_load(make, leaf.predict_url, concurrency, seconds))
                rows.append([label, str(concurrency), f"{rps:.0f}", f"{p50 * 1e3:.2f} / {p99 * 1e3:.2f}",
                             str(failed)])
        body = codec.encode({"text": TEXT}, False)
        headers = {"Content-Type": codec.JSON_CONTENT_TYPE}
        pool = transport.HTTPClientTransport()
        p50, p99 = _sync_latency(lambda: pool.post(leaf.predict_url, body, headers, 10), seconds)
        rows.append(["sync: http.client pool (chosen)", "1", "-", f"{p50 * 1e3:.3f} / {p99 * 1e3:.3f}", "0"])
        with httpx.Client() as client:
            p50, p99 = _sync_latency(lambda: client.post(leaf.predict_url, content=body, headers=headers), seconds)
        rows.append(["sync: httpx.Client", "1", "-", f"{p50 * 1e3:.3f} / {p99 * 1e3:.3f}", "0"])
    table("Stub transports against one trivial chainlet (client in this process)",
          ["transport", "concurrency", "req/s", "p50 / p99 ms", "failed"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each load phase")
    parser.add_argument("--quick", action="store_true", help="1 s phases, fewer array repeats")
    parser.add_argument("--only", choices=["chains", "arrays", "transports"], action="append")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else args.seconds
    parts = args.only or ["chains", "arrays", "transports"]
    print(f"# infra_chains serving bench ({time.strftime('%Y-%m-%d %H:%M')}, "
          f"{'wrk' if shutil.which('wrk') else 'aiohttp load loop'} for c=32)")
    if "chains" in parts:
        bench_chains(seconds)
    if "arrays" in parts:
        bench_arrays(4 if args.quick else 10)
    if "transports" in parts:
        bench_transports(seconds)


if __name__ == "__main__":
    main()
