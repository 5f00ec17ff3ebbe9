#!/usr/bin/env python3
"""What a user of the 3-step chain sees when its middle process is killed, stopped, re-pushed or frozen.

    python3 bench/faults.py [--seconds 20] [--fault-at 5] [--concurrency 32,128]
                            [--faults kill,term,repush,freeze] [--systems infra_chains,handmade]
                            [--out bench/results]

For every (system, fault, concurrency): deploy a fresh copy of the chain, run keep-alive load for
`--seconds`, apply the fault to the middle process at `--fault-at`, and record every request.
Prints a markdown table (sent, failed by kind, outage = longest window without a successful
response, p99 before and during the fault) and writes `faults-latest.{md,json}` and
`faults-<stamp>.json` to `--out`. Loopback only; every run is bounded in time; everything started
is stopped at the end, also on Ctrl-C or SIGTERM. infra_chains runs with INFRA_CHAINS_HOME in a
scratch directory, so the user's own chains are never touched.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))  # bench/ is a directory of scripts, not an installed package

from harness import procs, workload as w  # noqa: E402
from harness.faults import FAULTS, HandmadeTarget, InfraTarget, NotApplicable, Target, scratch_home  # noqa: E402
from harness.timeline import Load, Timeline, summarize  # noqa: E402
from systems.base import Config, NotAvailable  # noqa: E402

SYSTEMS = ("infra_chains", "handmade")
BIN_S = 0.1  # resolution of the timeline kept in the JSON


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0, help="load duration of each run")
    p.add_argument("--fault-at", type=float, default=5.0, help="seconds after the load starts")
    p.add_argument("--concurrency", default="32,128", help="comma-separated connection counts")
    p.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated subset of {','.join(FAULTS)}")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {','.join(SYSTEMS)}")
    p.add_argument("--freeze-s", type=float, default=8.0, help="how long `freeze` keeps the process stopped")
    p.add_argument("--timeout", type=float, default=5.0, help="per-request timeout (counted as `timeout`)")
    p.add_argument("--out", type=Path, default=BENCH / "results")
    args = p.parse_args(argv)
    args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    args.faults = [f.strip() for f in str(args.faults).split(",") if f.strip()]
    args.systems = [s.strip() for s in str(args.systems).split(",") if s.strip()]
    if bad := [f for f in args.faults if f not in FAULTS]:
        p.error(f"unknown fault(s) {bad}; choose from {list(FAULTS)}")
    if bad := [s for s in args.systems if s not in SYSTEMS]:
        p.error(f"unknown system(s) {bad}; choose from {list(SYSTEMS)}")
    if not 0 < args.fault_at < args.seconds or not args.concurrency or min(args.concurrency) < 1:
        p.error("need 0 < --fault-at < --seconds and positive --concurrency values")
    return args


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def _raise_interrupt(_sig: int, _frame: object) -> None:
    raise KeyboardInterrupt


async def measure(target: Target, req_url: str, fault: str, conc: int, args: argparse.Namespace,
                  body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """One run: load for --seconds, the fault at --fault-at; the summary, notes and binned timeline."""
    gen = Load(req_url, body, headers, w.check_text, timeout_s=args.timeout)
    tl = Timeline(time.monotonic())
    fault_times: dict[str, float] = {}

    async def fault_at() -> dict[str, Any]:
        await asyncio.sleep(max(0.0, tl.t0 + args.fault_at - time.monotonic()))
        fault_times["applied_s"] = time.monotonic() - tl.t0
        notes = await target.apply(fault, args.freeze_s, log)
        fault_times["over_s"] = time.monotonic() - tl.t0
        return notes

    task = asyncio.create_task(fault_at())
    try:
        await gen.run(conc, args.seconds, tl)
        notes = await asyncio.wait_for(task, timeout=180.0)  # a re-push may outlast the load
    finally:
        task.cancel()
    notes |= await target.after()
    summary = summarize(tl, args.fault_at, args.seconds - args.fault_at)
    return {"summary": asdict(summary), "notes": notes,
            "fault_s": {k: round(v, 3) for k, v in fault_times.items()}, "timeline": _bins(tl)}


def _bins(tl: Timeline) -> dict[str, list[int]]:
    """Successes and failures per BIN_S of completion time (for plots and eyeballing)."""
    n = math.ceil((max([tl.t_end, *(s.end for s in tl.samples)]) - tl.t0) / BIN_S) + 1
    ok, failed = [0] * n, [0] * n
    for s in tl.samples:
        (ok if s.ok else failed)[int((s.end - tl.t0) / BIN_S)] += 1
    return {"bin_s": [int(BIN_S * 1000)], "ok": ok, "failed": failed}


def run_system(name: str, args: argparse.Namespace, cfg: Config, scratch: Path, rows: list[dict[str, Any]]) -> None:
    """Append every (fault, concurrency) row of one system to `rows` (as measured, so an interrupt
    keeps them); a system that cannot run gets one row per cell saying why."""
    cells = [(f, c) for f in args.faults for c in args.concurrency]
    try:
        target: Target = InfraTarget(scratch / "workspace") if name == "infra_chains" else HandmadeTarget(log)
    except NotAvailable as exc:
        rows += [{"system": name, "fault": f, "concurrency": c, "error": f"not available: {exc}"} for f, c in cells]
        return
    try:
        for fault, conc in cells:
            row: dict[str, Any] = {"system": name, "fault": fault, "concurrency": conc}
            rows.append(row)
            try:
                target.check_fault(fault)
            except NotApplicable as exc:
                row["error"] = f"n/a: {exc}"
                continue
            log(f"[{name}] {fault} at c={conc}: deploying")
            try:
                req = target.start(cfg, log)
                log(f"[{name}] {fault} at c={conc}: {args.seconds:.0f} s of load, fault at +{args.fault_at:.0f} s")
                row |= asyncio.run(measure(target, req.url, fault, conc, args, req.body, dict(req.headers)))
                s = row["summary"]
                log(f"[{name}] {fault} at c={conc}: sent {s['sent']}, failed {s['failed']} "
                    f"{s['failed_by_kind']}, outage {s['outage_s']:.2f} s; {row['notes']}")
            except NotAvailable as exc:
                row["error"] = f"not available: {exc}"
                log(f"[{name}] not available: {exc}")
            except Exception as exc:  # noqa: BLE001 - one failed run must not sink the table
                row["error"] = f"failed: {type(exc).__name__}: {exc}"
                log(f"[{name}] {fault} at c={conc}: {row['error']}")
            finally:
                target.stop()
    finally:
        target.stop()


def _kinds(by_kind: dict[str, int]) -> str:
    if not by_kind:
        return "–"
    return ", ".join(f"{'HTTP ' + k if k.isdigit() else k} {n:,}" for k, n in by_kind.items())


def _ms(v: float) -> str:
    return "–" if v is None or math.isnan(v) else f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def _notes(system: str, fault: str, notes: dict[str, Any]) -> str:
    parts = []
    new = notes.get("new_process")
    if new is not None:
        parts.append("new process: " + (", ".join(new) if new else "none"))
    if "status_while_frozen" in notes:
        parts.append(f"Mid status while frozen: {notes['status_while_frozen']}")
    if "status_error" in notes:
        parts.append(f"status: {notes['status_error']}")
    if "repush_rc" in notes:
        parts.append(f"push rc={notes['repush_rc']} in {notes['repush_s']} s")
    statuses = notes.get("statuses") or {}
    if (bad := {k: v for k, v in statuses.items() if v != "ready"}):
        parts.append(f"status after: {bad}")
    restarts = {k: v for k, v in (notes.get("restarts") or {}).items() if v}
    if restarts:
        parts.append(f"restarts: {restarts}")
    return "; ".join(parts)


def markdown(rows: list[dict[str, Any]]) -> str:
    head = ("| system | fault | c | sent | failed | failed by kind | outage s | p99 before ms | "
            "p99 fault ms | max fault ms | what happened |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        cells = [r["system"], r["fault"], str(r["concurrency"])]
        if "summary" not in r:
            lines.append("| " + " | ".join(cells + [r.get("error", "interrupted")] + ["–"] * 7) + " |")
            continue
        s = r["summary"]
        outage = f"{s['outage_s']:.2f}" + ("" if s["recovered"] else " (not recovered)")
        cells += [f"{s['sent']:,}", f"{s['failed']:,}", _kinds(s["failed_by_kind"]), outage,
                  _ms(s["p99_before_ms"]), _ms(s["p99_fault_ms"]), _ms(s["max_fault_ms"]),
                  _notes(r["system"], r["fault"], r["notes"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_outputs(args: argparse.Namespace, rows: list[dict[str, Any]], wall_s: float) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    doc = {"created": stamp, "wall_s": round(wall_s, 1), "config": config,
           "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                       "platform": platform.platform()}, "runs": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    for path in (args.out / f"faults-{stamp}.json", args.out / "faults-latest.json"):
        path.write_text(json.dumps(doc, indent=1))
    cmd = "python3 bench/faults.py " + " ".join(sys.argv[1:])
    text = (f"Fault run {stamp} ({wall_s / 60:.1f} min): `{cmd}`; {args.seconds:g} s of load per row, the fault "
            f"on the middle process at +{args.fault_at:g} s (freeze: {args.freeze_s:g} s), request timeout "
            f"{args.timeout:g} s; p99 of successful responses, before the fault / from the fault to the end.\n\n"
            + markdown(rows) + "\n")
    (args.out / "faults-latest.md").write_text(text)
    return text


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.seconds < args.fault_at + args.freeze_s + 1 and "freeze" in args.faults:
        log(f"note: the load ends before the frozen process resumes (+{args.fault_at + args.freeze_s:g} s); "
            "raise --seconds to see the recovery")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)  # also when started with SIGINT ignored (a background job)
    scratch = Path(tempfile.mkdtemp(prefix="infra-chains-faults-"))
    os.environ["INFRA_CHAINS_HOME"] = str(scratch_home(scratch))  # inherited by every CLI call
    cfg = Config(logs=args.out / "logs")
    cfg.logs.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for name in args.systems:
            run_system(name, args, cfg, scratch, rows)
    except KeyboardInterrupt:
        log("interrupted: stopping everything and writing what was measured")
    finally:
        if survivors := procs.kill_everything():
            log(f"warning: processes survived cleanup: {sorted(survivors)}")
        shutil.rmtree(scratch, ignore_errors=True)
    print(write_outputs(args, rows, time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
