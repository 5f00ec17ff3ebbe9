#!/usr/bin/env python3
"""Benchmark the same 3-step chain across systems, interleaved, in one run.

    python bench/run.py --out bench/results [--quick] [--systems floor,handmade,infra_chains,bentoml,rayserve]

Stdlib only (any python3 >= 3.11): every system runs in its own venv under bench/.venvs/, which this
script creates on first use. Everything it starts is killed at the end, also on Ctrl-C or errors.
"""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))  # bench/ is a directory of scripts, not an installed package

from harness import procs, report, venvs  # noqa: E402
from harness.load import wrk_available  # noqa: E402
from systems.base import Config, NotAvailable, System  # noqa: E402
from systems.bentoml_sys import BentoML  # noqa: E402
from systems.floor import Floor  # noqa: E402
from systems.handmade import Handmade  # noqa: E402
from systems.infra import InfraChains  # noqa: E402
from systems.ray_sys import RayServe  # noqa: E402

SYSTEMS: dict[str, type[System]] = {
    "floor": Floor, "handmade": Handmade, "infra_chains": InfraChains, "bentoml": BentoML, "rayserve": RayServe,
}
ALIASES = {"infra": "infra_chains", "ray": "rayserve", "bento": "bentoml"}
TOOLS_REQUIREMENTS = ["matplotlib", "numpy"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=BENCH / "results")
    p.add_argument("--quick", action="store_true", help="1 repeat, short phases (a smoke run)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset, run in this order")
    p.add_argument("--repeats", type=int, help="interleaved repeats (default 3, --quick 1)")
    p.add_argument("--c1-s", type=float, help="seconds of sequential (c=1) load")
    p.add_argument("--load-s", type=float, help="seconds of each c=32 / c=128 load")
    p.add_argument("--array-requests", type=int, help="max sequential 1 MiB array requests per format")
    p.add_argument("--array-max-s", type=float, help="time bound of each array measurement")
    p.add_argument("--no-plot", action="store_true")
    return p.parse_args(argv)


def make_config(args: argparse.Namespace) -> tuple[Config, int]:
    cfg = Config(logs=args.out / "logs")
    if args.quick:
        cfg = replace(cfg, c1_s=2.0, load_s=3.0, array_requests=5, array_max_s=3.0)
    overrides = {k: v for k, v in (("c1_s", args.c1_s), ("load_s", args.load_s),
                                  ("array_requests", args.array_requests),
                                  ("array_max_s", args.array_max_s)) if v is not None}
    return replace(cfg, **overrides), args.repeats or (1 if args.quick else 3)


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def _raise_interrupt(_sig: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    names = [ALIASES.get(n.strip(), n.strip()) for n in args.systems.split(",") if n.strip()]
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown:
        sys.exit(f"unknown system(s) {unknown}; choose from {list(SYSTEMS)}")
    cfg, repeats = make_config(args)
    cfg.logs.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if why := wrk_available():
        log(f"warning: {why}; load phases will be reported as not available")

    systems = [SYSTEMS[n]() for n in names]
    unavailable: dict[str, str] = {}
    runs: list[dict[str, object]] = []
    started = time.monotonic()
    try:
        ready: list[System] = []
        for system in systems:
            log(f"[{system.name}] preparing")
            try:
                system.prepare(log)
                ready.append(system)
            except NotAvailable as exc:
                unavailable[system.name] = str(exc)
                log(f"[{system.name}] not available: {exc}")
        for rep in range(1, repeats + 1):
            for system in ready:  # interleaved: A B C A B C ...
                log(f"[{system.name}] repeat {rep}/{repeats}")
                run: dict[str, object] = {"system": system.name, "repeat": rep}
                try:
                    m = system.run_once(cfg, log)
                    run |= {"values": m.values, "unavailable": m.unavailable}
                except NotAvailable as exc:
                    run["error"] = str(exc)
                    log(f"[{system.name}] not available: {exc}")
                except Exception as exc:  # noqa: BLE001 - one system failing must not sink the run
                    run["error"] = f"{type(exc).__name__}: {exc}"
                    log(f"[{system.name}] failed: {run['error']}")
                runs.append(run)
    except KeyboardInterrupt:
        log("interrupted: stopping everything and writing what was measured")
    finally:
        for system in systems:
            cleanup = getattr(system, "cleanup", None)
            if cleanup is not None:
                try:
                    cleanup(log)
                except Exception as exc:  # noqa: BLE001
                    log(f"[{system.name}] cleanup failed: {exc}")
        if survivors := procs.kill_everything():
            log(f"warning: processes survived cleanup: {sorted(survivors)}")

    summary = report.summarize(runs, unavailable)
    write_outputs(args, cfg, repeats, names, runs, summary, time.monotonic() - started)
    return 0


def write_outputs(args: argparse.Namespace, cfg: Config, repeats: int, order: list[str],
                  runs: list[dict[str, object]], summary: dict[str, dict[str, object]], wall_s: float) -> None:
    out: Path = args.out
    stamp = time.strftime("%Y%m%d-%H%M%S")
    doc = {"created": stamp, "wall_s": wall_s, "repeats": repeats, "order": order,
           "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
           "machine": machine_info(), "runs": runs, "summary": summary}
    raw = out / f"results-{stamp}.json"
    raw.write_text(json.dumps(doc, indent=1))
    (out / "latest.json").write_text(json.dumps(doc, indent=1))
    parts = [f"Run {stamp}: {repeats} interleaved repeat(s), {wall_s / 60:.1f} min; "
             "medians (min–max over repeats); errors = total over repeats.", "",
             report.markdown_table(summary, order)]
    for ref in ("infra_chains", "handmade"):
        if table := report.ratio_table(summary, order, ref):
            parts += ["", f"Ratios against {ref} (median ÷ median; >1 = larger):", "", table]
    text = "\n".join(parts) + "\n"
    (out / "latest.md").write_text(text)
    print("\n" + text)
    log(f"raw results: {raw}; table: {out / 'latest.md'}")
    if not args.no_plot:
        plot(out / "latest.json", out / "latest.png")


def plot(summary_json: Path, png: Path) -> None:
    """Render the bar chart with matplotlib from the bench tools venv (never the system python)."""
    try:
        python = venvs.ensure("tools", TOOLS_REQUIREMENTS, log)
        subprocess.run([str(python), str(BENCH / "harness" / "plot.py"), str(summary_json), str(png)],
                       check=True, capture_output=True, text=True, timeout=300)
        log(f"chart: {png}")
    except (venvs.InstallError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        log(f"chart not written: {exc} {detail[-300:]}")


def machine_info() -> dict[str, object]:
    import os
    import platform

    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
