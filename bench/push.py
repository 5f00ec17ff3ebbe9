"""How long `infra-chains push` takes on this machine (local target).

    .venv/bin/python bench/push.py [--chain examples/text_pipeline.py] [--repeats 5] [--compare-spawn]
                                   [--timeline] [--baseline DIR]

Measures, per repeat: a cold push (no chain running: supervisor + every chainlet started, until
all answer /readyz), a re-push with no change (must start nothing: pids are compared), and
`down`. With ``--compare-spawn``, each repeat also runs the same steps with chainlets started as
new interpreters (``INFRA_CHAINS_FORK_SERVER=0``) instead of forked, interleaved, so both are
measured under the same load. With ``--baseline DIR`` (the package of another commit:
``git archive <commit> | tar -x -C DIR``), each repeat also runs the same steps with that code
(``PYTHONPATH=DIR``, which the supervisor and chainlets inherit), interleaved: a before/after
that holds on a shared machine. Prints a markdown table of medians and ranges. With ``--timeline``
it first prints where one cold push spends its time, from the supervisor's and chainlets' log
lines (their timestamps have millisecond resolution). Loopback only; always tears down.

The package's bytecode is compiled first (``compileall``, checked-hash: never stale), as an
installed package's is: with ``PYTHONDONTWRITEBYTECODE=1`` in the environment (as on the shared
development machines) every process would otherwise compile the package from source (~60 ms
each for the CLI, the supervisor and the fork server), while the libraries it is compared with
come compiled from their wheels.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "infra_chains.cli.app"]


def compile_bytecode(tree: pathlib.Path) -> None:
    """Write ``tree/infra_chains``'s bytecode, validated by source hash (an edit is never hidden)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "checked-hash",
                    str(tree / "infra_chains")], check=True, capture_output=True, timeout=300)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Run from the state root, not the repository: `python -m` puts the working directory first
    # on sys.path, which would shadow a --baseline tree on PYTHONPATH.
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120,
                            cwd=env["INFRA_CHAINS_HOME"])
    if result.returncode != 0:
        raise SystemExit(f"infra-chains {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def _pids(env: dict[str, str], name: str) -> dict[str, int]:
    status = json.loads(_cli("status", name, "--json", env=env).stdout)
    return {c["name"]: c["pid"] for c in status["chainlets"]}


_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (?:INFO|WARNING|ERROR) (.*)$")
#: Log lines that mark a step of a cold push, and how the timeline names them.
_STEPS = (
    (re.compile(r"supervisor \d+ started"), "supervisor running (its imports done)"),
    (re.compile(r"fork server (adopted|started)"), "fork server adopted / started"),
    (re.compile(r"started (\w+) pid="), "supervisor: {} forked"),
    (re.compile(r"chainlet (\w+) ready \(__init__"), "{}: __init__ done, serving"),
    (re.compile(r"^(\w+) ready \(pid"), "supervisor: {} ready (probe answered)"),
)


def timeline(chain: str, env: dict[str, str], home: str, name: str) -> None:
    """One cold push, then its steps as offsets from the moment the CLI was started."""
    started = time.time()
    _cli("push", chain, "--name", name, env=env)
    returned = time.time()
    chain_dir = pathlib.Path(home) / "chains" / name
    logs = [chain_dir / "supervisor.log", *sorted((chain_dir / "logs").glob("*.log"))]
    steps: list[tuple[float, str]] = [(0.0, "CLI started"), (returned - started, "push returned")]
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if (match := _LOG_LINE.match(line)) is None:
                continue
            stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            text = match.group(2).split(": ", 1)[-1] if "serving.runtime" in match.group(2) else match.group(2)
            for pattern, label in _STEPS:
                if found := pattern.search(text):
                    steps.append((stamp - started, label.format(*found.groups())))
    print(f"\ntimeline of one cold push of {pathlib.Path(chain).name} (s after the CLI started)\n")
    print("| s | step |")
    print("|---|---|")
    for offset, label in sorted(steps):
        print(f"| {offset:.3f} | {label} |")
    _cli("down", name, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chain", default=str(ROOT / "examples" / "text_pipeline.py"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compare-spawn", action="store_true",
                        help="also measure chainlets started as new interpreters (no fork server)")
    parser.add_argument("--timeline", action="store_true",
                        help="first print the steps of one cold push, in time")
    parser.add_argument("--baseline", type=pathlib.Path, default=None,
                        help="also measure the package in this directory (another commit's tree)")
    args = parser.parse_args()
    args.chain = str(pathlib.Path(args.chain).resolve())
    name = "bench-push"
    # label -> (INFRA_CHAINS_FORK_SERVER, PYTHONPATH or None)
    own_path = os.environ.get("PYTHONPATH")  # the caller's, kept for the code under test
    modes: dict[str, tuple[str, str | None]] = {"": ("1", own_path)}
    if args.compare_spawn:
        modes[", spawned"] = ("0", own_path)
    if args.baseline is not None:
        if not (args.baseline / "infra_chains" / "__init__.py").is_file():
            raise SystemExit(f"--baseline {args.baseline}: no infra_chains package there")
        modes[", baseline"] = ("1", str(args.baseline.resolve()))
    for tree in {ROOT, *(pathlib.Path(p) for p in (own_path or "").split(os.pathsep) if p),
                 *([args.baseline] if args.baseline else [])}:
        if (tree / "infra_chains").is_dir():
            compile_bytecode(tree)
    timings: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="infra-chains-bench-") as home:
        env = dict(os.environ, INFRA_CHAINS_HOME=home, pipeline_token="bench-token")
        try:
            if args.timeline:
                timeline(args.chain, env, home, name)
            for _ in range(args.repeats):
                for label, (fork, python_path) in modes.items():
                    env["INFRA_CHAINS_FORK_SERVER"] = fork
                    env.pop("PYTHONPATH", None)
                    if python_path is not None:
                        env["PYTHONPATH"] = python_path
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
            env.pop("PYTHONPATH", None)
            subprocess.run([*CLI, "down", name], env=env, capture_output=True, timeout=60, cwd=home)
    chainlets = len(before)
    print(f"\nlocal target, {pathlib.Path(args.chain).name} ({chainlets} chainlets), "
          f"{args.repeats} repeats, CLI wall time incl. interpreter start\n")
    print("| step | median | min | max |")
    print("|---|---|---|---|")
    for step, values in timings.items():
        print(f"| {step} | {statistics.median(values):.2f} s | {min(values):.2f} s | {max(values):.2f} s |")


if __name__ == "__main__":
    main()
