"""How long `infra-chains push` takes on this machine (local target).

    .venv/bin/python bench/push.py [--chain examples/text_pipeline.py] [--repeats 5] [--compare-spawn]

Measures, per repeat: a cold push (no chain running: supervisor + every chainlet started, until
all answer /readyz), a re-push with no change (must start nothing: pids are compared), and
`down`. With ``--compare-spawn``, each repeat also runs the same steps with chainlets started as
new interpreters (``INFRA_CHAINS_FORK_SERVER=0``) instead of forked, interleaved, so both are
measured under the same load. Prints a markdown table of medians and ranges. Loopback only;
always tears down.
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


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"infra-chains {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def _pids(env: dict[str, str], name: str) -> dict[str, int]:
    status = json.loads(_cli("status", name, "--json", env=env).stdout)
    return {c["name"]: c["pid"] for c in status["chainlets"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chain", default=str(ROOT / "examples" / "text_pipeline.py"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compare-spawn", action="store_true",
                        help="also measure chainlets started as new interpreters (no fork server)")
    args = parser.parse_args()
    name = "bench-push"
    modes = {"": "1", ", spawned": "0"} if args.compare_spawn else {"": "1"}
    timings: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="infra-chains-bench-") as home:
        env = dict(os.environ, INFRA_CHAINS_HOME=home, pipeline_token="bench-token")
        try:
            for _ in range(args.repeats):
                for label, fork in modes.items():
                    env["INFRA_CHAINS_FORK_SERVER"] = fork
                    start = time.perf_counter()
                    _cli("push", args.chain, "--name", name, env=env)
                    timings.setdefault(f"cold push{label}", []).append(time.perf_counter() - start)
                    before = _pids(env, name)
                    start = time.perf_counter()
                    _cli("push", args.chain, "--name", name, env=env)
                    timings.setdefault(f"re-push, no change{label}", []).append(
                        time.perf_counter() - start)
                    if (after := _pids(env, name)) != before:
                        raise SystemExit(f"re-push with no change restarted a chainlet{label}: "
                                         f"pids {before} before, {after} after")
                    start = time.perf_counter()
                    _cli("down", name, env=env)
                    timings.setdefault(f"down{label}", []).append(time.perf_counter() - start)
        finally:
            subprocess.run([*CLI, "down", name], env=env, capture_output=True, timeout=60)
    chainlets = len(before)
    print(f"\nlocal target, {pathlib.Path(args.chain).name} ({chainlets} chainlets), "
          f"{args.repeats} repeats, CLI wall time incl. interpreter start\n")
    print("| step | median | min | max |")
    print("|---|---|---|---|")
    for step, values in timings.items():
        print(f"| {step} | {statistics.median(values):.2f} s | {min(values):.2f} s | {max(values):.2f} s |")


if __name__ == "__main__":
    main()
