"""Streaming through 3 hops: infra_chains (local target) next to a hand-made relay, one run.

    .venv/bin/python bench/streaming.py                  # 3 interleaved repeats (~1 min)
    .venv/bin/python bench/streaming.py --repeats 1 --ttfi-requests 50

Both chains are Entry -> Mid -> Leaf; the leaf yields ``count`` items of ``size`` bytes, Mid and
Entry relay them. infra_chains: `bench/chains/streaming_pipeline.py` pushed to the local target
(Mid and Entry *return* their dependency's stream; the stub-to-server hops carry our frames, the
entrypoint answers the client raw). Hand-made: `bench/peers/handmade_stream/app.py`, 3 uvicorn
processes (uvloop + httptools), raw ASGI, aiohttp passing chunks on as they come (no framing, no
error signal). The client is one aiohttp session per system, on this machine's loopback.

Measured per system and repeat (systems interleaved A B A B ...; compare within one run):
- time to first item: sequential requests of 10 items of 64 bytes, from sending the request to
  the first body bytes (p50, p90);
- items/s: one stream of `--items` (200,000) items of 64 bytes, read to its end (bytes checked);
- MB/s: one stream of 100 MiB in 64 KiB items.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import aiohttp

ROOT = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from infra_chains import deploy  # noqa: E402
from infra_chains.framework.loading import load_entrypoint  # noqa: E402
from infra_chains.serving.testing import free_port  # noqa: E402
from infra_chains.targets.local import LocalTarget  # noqa: E402

CHAIN = "bench-streaming"


class Handmade:
    name = "handmade"

    def __init__(self, logs: pathlib.Path) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        ports = [free_port() for _ in range(3)]
        next_url = ""
        for role, port in zip(("leaf", "mid", "entry"), ports, strict=True):
            env = {**os.environ, "ROLE": role, "NEXT_URL": next_url}
            with open(logs / f"handmade-{role}.log", "ab") as log:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1",
                     "--port", str(port), "--loop", "uvloop", "--http", "httptools",
                     "--no-access-log", "--log-level", "warning"],
                    cwd=ROOT / "peers" / "handmade_stream", env=env, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True))
            next_url = f"http://127.0.0.1:{port}"
        self.url = f"{next_url}/run_remote"

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            process.wait(10)


class InfraChains:
    name = "infra_chains"

    def __init__(self, state: pathlib.Path) -> None:
        self.target = LocalTarget(state)
        entry = load_entrypoint(ROOT / "chains" / "streaming_pipeline.py", "Entry")
        service = deploy.push(entry, CHAIN, remote=self.target)
        assert service is not None
        self.url = service.run_remote_url

    def close(self) -> None:
        self.target.down(CHAIN)


async def _stream(session: aiohttp.ClientSession, url: str, count: int, size: int,
                  on_first: Callable[[], None] | None = None) -> int:
    async with session.post(url, json={"count": count, "size": size}) as response:
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}: {await response.text()}")
        received = 0
        async for chunk in response.content.iter_any():
            if not received and on_first is not None:
                on_first()
            received += len(chunk)
    if received != count * size:
        raise RuntimeError(f"{url}: got {received} bytes, expected {count * size}")
    return received


async def _wait_ready(url: str, timeout_sec: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_sec
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                await _stream(session, url, 1, 1)
                return
            except (aiohttp.ClientError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)


async def measure(url: str, ttfi_requests: int, items: int) -> dict[str, float]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        for _ in range(20):  # warm-up: connections, imports, pools
            await _stream(session, url, 10, 64)
        firsts: list[float] = []
        for _ in range(ttfi_requests):
            start = time.perf_counter()
            first: list[float] = []
            await _stream(session, url, 10, 64, lambda: first.append(time.perf_counter()))
            firsts.append((first[0] - start) * 1000)
        start = time.perf_counter()
        await _stream(session, url, items, 64)
        items_per_sec = items / (time.perf_counter() - start)
        start = time.perf_counter()
        received = await _stream(session, url, 1600, 64 * 1024)
        mb_per_sec = received / (1024 * 1024) / (time.perf_counter() - start)
    quantiles = statistics.quantiles(firsts, n=10)
    return {"ttfi_p50": statistics.median(firsts), "ttfi_p90": quantiles[8],
            "items_per_sec": items_per_sec, "mb_per_sec": mb_per_sec}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ttfi-requests", type=int, default=200)
    parser.add_argument("--items", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        work = pathlib.Path(tmp)
        systems: list[Handmade | InfraChains] = []
        try:
            systems.append(Handmade(work))
            systems.append(InfraChains(work / "state"))
            for system in systems:
                asyncio.run(_wait_ready(system.url))
            results: dict[str, list[dict[str, float]]] = {s.name: [] for s in systems}
            for repeat in range(args.repeats):
                for system in systems:
                    results[system.name].append(
                        asyncio.run(measure(system.url, args.ttfi_requests, args.items)))
                print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)
        finally:
            for system in systems:
                system.close()
    print(_table(results))
    return 0


def _table(results: dict[str, list[dict[str, float]]]) -> str:
    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    lines = ["| system | first item p50 (ms) | first item p90 (ms) | items/s (64 B) | MB/s (64 KiB items) |",
             "|---|---|---|---|---|"]
    for name in results:
        lines.append(f"| {name} | {med(name, 'ttfi_p50'):.2f} | {med(name, 'ttfi_p90'):.2f} | "
                     f"{med(name, 'items_per_sec'):,.0f} | {med(name, 'mb_per_sec'):,.0f} |")
    if {"handmade", "infra_chains"} <= results.keys():
        ours, theirs = "infra_chains", "handmade"
        lines.append(
            f"| ratio infra_chains / handmade | {med(ours, 'ttfi_p50') / med(theirs, 'ttfi_p50'):.2f}x | "
            f"{med(ours, 'ttfi_p90') / med(theirs, 'ttfi_p90'):.2f}x | "
            f"{med(ours, 'items_per_sec') / med(theirs, 'items_per_sec'):.2f}x | "
            f"{med(ours, 'mb_per_sec') / med(theirs, 'mb_per_sec'):.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
