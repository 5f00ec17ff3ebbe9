"""The in-process floor: the infra_chains chain under run_local(), plain awaited calls, no HTTP.

It bounds what any deployment can reach: the cost of the user code and the framework's local wiring.
"""
from __future__ import annotations

import json
import subprocess

from systems.base import BENCH, PEERS, Config, Log, Metrics, NotAvailable, System, child_env, last_line
from systems.infra import PROJECT_PYTHON

PROBE = ("import sys; sys.path.insert(0, sys.argv[1]); import infra_chains as c; "
         "c.run_local; c.ChainletBase; import pipeline")


class Floor(System):
    name = "floor"

    def prepare(self, log: Log) -> None:
        if not PROJECT_PYTHON.exists():
            raise NotAvailable(f"project venv missing: {PROJECT_PYTHON}")
        probe = subprocess.run([str(PROJECT_PYTHON), "-c", PROBE, str(BENCH / "chains")],
                               capture_output=True, text=True, timeout=120, env=child_env())
        if probe.returncode != 0:
            raise NotAvailable(f"infra_chains chain does not import: {last_line(probe.stderr)}")

    def run_once(self, cfg: Config, log: Log) -> Metrics:
        argv = [str(PROJECT_PYTHON), str(PEERS / "floor" / "run_floor.py"), str(cfg.c1_s), str(cfg.load_s),
                ",".join(map(str, cfg.concurrencies)), str(cfg.array_requests), str(cfg.array_max_s)]
        budget = cfg.c1_s + len(cfg.concurrencies) * cfg.load_s + cfg.array_max_s + 120
        out = subprocess.run(argv, capture_output=True, text=True, timeout=budget, env=child_env())
        if out.returncode != 0:
            raise RuntimeError(f"floor runner failed: {last_line(out.stderr)}")
        doc = json.loads(out.stdout)
        m = Metrics(values=doc["values"], unavailable=doc["unavailable"])
        log(f"    c1 p50 {m.values['c1_p50_ms'] * 1e3:.0f} µs; "
            + "; ".join(f"c{c}: {m.values.get(f'c{c}_rps', 0):.0f} calls/s" for c in cfg.concurrencies))
        return m

