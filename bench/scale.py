"""Start-up time and memory of a fan-out chain as it grows (local target).

    .venv/bin/python bench/scale.py [--sizes 3,10,20] [--repeats 3] [--compare-spawn]

For each size N, a generated chain (an entrypoint fanning out to N-1 workers) is pushed cold, N
times ``--repeats``: "ready" is the wall time of ``infra-chains push`` (it returns once every
chainlet answers /readyz). Then, with the chain up, memory is read from
``/proc/<pid>/smaps_rollup`` of every chainlet and of the supervisor's other children (the fork
server): **Pss** (each shared page divided among the processes sharing it; the sum is the memory
the chain really costs), **private** (Private_Clean + Private_Dirty: what one more chainlet adds)
and **Rss** (shared pages counted in every process; the sum overstates). Prints a markdown table
of medians. ``--compare-spawn`` adds rows with chainlets started as new interpreters
(``INFRA_CHAINS_FORK_SERVER=0``) instead of forked from the fork server, pushed alternately with
the forked ones. Loopback only; always tears down.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "infra_chains.cli.app"]
MB = 1024 * 1024


def chain_source(size: int) -> str:
    """An entrypoint calling ``size - 1`` workers concurrently (each a distinct chainlet)."""
    workers = [f"Worker{i:02d}" for i in range(1, size)]
    lines = ["import asyncio", "", "import infra_chains as chains", ""]
    for name in workers:
        lines += ["", f"class {name}(chains.ChainletBase):",
                  "    async def run_remote(self, text: str) -> str:",
                  f"        return text + {name!r}", ""]
    params = ", ".join(f"w{i}: {name} = chains.depends({name})" for i, name in enumerate(workers))
    fields = "; ".join(f"self._w{i} = w{i}" for i in range(len(workers))) or "pass"
    calls = ", ".join(f"self._w{i}.run_remote(text=text)" for i in range(len(workers)))
    lines += ["", "@chains.mark_entrypoint", "class Entry(chains.ChainletBase):",
              f"    def __init__(self{', ' if params else ''}{params}) -> None:",
              f"        {fields}", "",
              "    async def run_remote(self, text: str) -> list[str]:",
              f"        return list(await asyncio.gather({calls}))", ""]
    return "\n".join(lines)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"infra-chains {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def _rollup(pid: int) -> dict[str, int]:
    """Bytes per field of /proc/<pid>/smaps_rollup (kB in the file)."""
    fields: dict[str, int] = {}
    for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[key] = int(parts[0]) * 1024
    return fields


def _children(pid: int) -> list[int]:
    try:
        text = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def measure(size: int, repeats: int, env: dict[str, str], workdir: pathlib.Path,
            modes: dict[str, str]) -> dict[str, dict[str, float]]:
    """Per mode (label: INFRA_CHAINS_FORK_SERVER value), the row of one chain size."""
    chain = workdir / f"fanout{size}.py"
    chain.write_text(chain_source(size))
    name = f"bench-scale-{size}"
    ready: dict[str, list[float]] = {label: [] for label in modes}
    memory: dict[str, dict[str, float]] = {}
    try:
        for repeat in range(repeats):
            for label, fork in modes.items():
                env = {**env, "INFRA_CHAINS_FORK_SERVER": fork}
                start = time.perf_counter()
                _cli("push", str(chain), "--name", name, env=env)
                ready[label].append(time.perf_counter() - start)
                if repeat == repeats - 1:
                    time.sleep(1.0)  # let start-up garbage settle
                    memory[label] = _memory(json.loads(_cli("status", name, "--json", env=env).stdout))
                _cli("down", name, env=env)
    finally:
        subprocess.run([*CLI, "down", name], env=env, capture_output=True, timeout=120)
    return {label: {"ready_s": statistics.median(values), "ready_min_s": min(values),
                    "ready_max_s": max(values), **memory[label]}
            for label, values in ready.items()}


def _memory(status: dict[str, object]) -> dict[str, float]:
    chainlet_pids = [int(c["pid"]) for c in status["chainlets"]]  # type: ignore[attr-defined]
    supervisor = int(status.get("supervisor_pid") or 0)  # type: ignore[call-overload]
    others = [p for p in _children(supervisor) if p not in chainlet_pids] if supervisor else []
    chainlets = [_rollup(pid) for pid in chainlet_pids]
    helpers = [_rollup(pid) for pid in ([supervisor] if supervisor else []) + others]

    def private(r: dict[str, int]) -> int:
        return r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)

    return {
        "pss_total_mb": sum(r["Pss"] for r in chainlets + helpers) / MB,
        "pss_chainlets_mb": sum(r["Pss"] for r in chainlets) / MB,
        "rss_total_mb": sum(r["Rss"] for r in chainlets + helpers) / MB,
        "private_per_chainlet_mb": statistics.median(private(r) for r in chainlets) / MB,
        "pss_per_chainlet_mb": statistics.median(r["Pss"] for r in chainlets) / MB,
        "helpers": float(len(helpers)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3,10,20", help="chainlet counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare-spawn", action="store_true",
                        help="also measure chainlets started as new interpreters (no fork server)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    modes = {"forked": "1", "spawned": "0"} if args.compare_spawn else {"forked": "1"}
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="infra-chains-scale-") as home:
        env = dict(os.environ, INFRA_CHAINS_HOME=str(pathlib.Path(home) / "state"))
        for size in sizes:
            for label, row in measure(size, args.repeats, env, pathlib.Path(home), modes).items():
                rows[f"{size}, {label}"] = row
    print(f"\nlocal target, fan-out chains, {args.repeats} cold pushes each (median [min-max]); "
          "memory after the last push\n")
    print("| chainlets, start | ready | Pss total | Rss total | private per chainlet "
          "| Pss per chainlet | helper processes |")
    print("|---|---|---|---|---|---|---|")
    for key, row in rows.items():
        print(f"| {key} | {row['ready_s']:.2f} s [{row['ready_min_s']:.2f}-{row['ready_max_s']:.2f}] "
              f"| {row['pss_total_mb']:.0f} MB | {row['rss_total_mb']:.0f} MB "
              f"| {row['private_per_chainlet_mb']:.1f} MB | {row['pss_per_chainlet_mb']:.1f} MB "
              f"| {int(row['helpers'])} |")
    print("\nTotals include the supervisor and its other children (the fork server). Rss counts "
          "pages shared between processes once per process; Pss divides them among the sharers.")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
