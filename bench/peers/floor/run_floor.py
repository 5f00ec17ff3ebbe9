"""The in-process floor: the infra_chains chain under `chains.run_local()`, plain calls, no HTTP.

Runs in the project venv (.venv). usage: python run_floor.py C1_S LOAD_S CONCURRENCIES ARRAY_N ARRAY_MAX_S
Prints one JSON object: {"values": {...}, "unavailable": {...}} with the same metric names as HTTP systems.
"""
import asyncio
import inspect
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

BENCH = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(BENCH / "chains"), str(BENCH)]

import infra_chains as chains  # noqa: E402

from harness import workload as w  # noqa: E402


async def _call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call run_remote whether it is `def` or `async def`."""
    out = fn(**kwargs)
    return await out if inspect.isawaitable(out) else out


async def sequential(call: Callable[[], Awaitable[Any]], max_s: float, max_n: int = 10**9) -> list[float]:
    lat: list[float] = []
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline and len(lat) < max_n:
        t0 = time.perf_counter()
        await call()
        lat.append((time.perf_counter() - t0) * 1e3)
    return lat


async def concurrent_rps(call: Callable[[], Awaitable[Any]], conc: int, dur_s: float) -> float:
    """`conc` tasks calling in a loop for `dur_s`; completed calls per second."""
    done = 0
    deadline = time.monotonic() + dur_s

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await call()
            done += 1

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(conc)))
    return done / (time.monotonic() - t0)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def text_chain(values: dict[str, float], c1_s: float, load_s: float, concs: list[int]) -> None:
    import pipeline

    with chains.run_local():
        entry = pipeline.Entry()

        async def call() -> Any:
            return await _call(entry.run_remote, text=w.TEXT_INPUT)

        got = (await call()).model_dump()
        if got != w.TEXT_EXPECTED:
            raise ValueError(f"unexpected result {got!r}")
        await sequential(call, 0.5)  # warm-up
        lat = sorted(await sequential(call, c1_s))
        values["c1_p50_ms"] = statistics.median(lat)
        values["c1_p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        values["c1_rps"] = len(lat) / c1_s
        for c in concs:
            values[f"c{c}_rps"] = await concurrent_rps(call, c, load_s)
            values[f"c{c}_errors"] = 0.0
        values["rss_mb"] = rss_mb()


async def array_chain(values: dict[str, float], n: int, max_s: float) -> None:
    import numpy as np

    import array_pipeline

    data = (np.arange(w.ARRAY_LEN, dtype=np.float32) % 1024) * np.float32(0.25)
    with chains.run_local():
        entry = array_pipeline.ArrayEntry()

        async def call() -> Any:
            return await _call(entry.run_remote, data=data)

        if not np.array_equal(await call(), data):
            raise ValueError("array did not come back intact")
        values["array_binary_ms"] = statistics.median(await sequential(call, max_s, n))


def main() -> None:
    c1_s, load_s = float(sys.argv[1]), float(sys.argv[2])
    concs = [int(c) for c in sys.argv[3].split(",")]
    arr_n, arr_s = int(sys.argv[4]), float(sys.argv[5])
    values: dict[str, float] = {}
    unavailable = {"array_json_ms": "in-process: no serialization at all",
                   "cold_start_s": "in-process: nothing to start"}
    asyncio.run(text_chain(values, c1_s, load_s, concs))
    try:
        asyncio.run(array_chain(values, arr_n, arr_s))
    except Exception as exc:  # noqa: BLE001 - report, do not lose the text-chain numbers
        unavailable["array_binary_ms"] = f"{type(exc).__name__}: {exc}"
    json.dump({"values": values, "unavailable": unavailable, "pid": os.getpid()}, sys.stdout)


if __name__ == "__main__":
    main()
