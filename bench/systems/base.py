"""What a benchmarked system is, and the one measurement procedure shared by every HTTP system.

A system either cannot run here (`NotAvailable`, with the reason the table shows) or yields one
`Metrics` per repeat. HTTP systems only say how to deploy and what to send; `HttpSystem.run_once`
does the measuring, identically for all of them.
"""
from __future__ import annotations

import abc
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from harness import load, procs
from harness.load import Request

Log = Callable[[str], None]
BENCH = Path(__file__).resolve().parent.parent
PEERS = BENCH / "peers"


def child_env(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """Our environment without venv/PYTHONPATH leakage, plus `extra`, for a system's processes."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    return {k: v for k, v in os.environ.items() if k not in drop} | {"PYTHONUNBUFFERED": "1", **extra}


def last_line(text: str, limit: int = 400) -> str:
    """What went wrong, from a tool's output: from its last 'Error'/'Traceback' line on, else its last line."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return "(no output)"
    starts = [i for i, ln in enumerate(lines) if ln.startswith(("Error", "Traceback", "error:"))]
    if starts and lines[starts[-1]].startswith("Traceback"):
        return lines[-1][:limit]  # a traceback's last line is the exception itself
    picked = " ".join(lines[starts[-1]:]) if starts else lines[-1]
    return picked if len(picked) <= limit else picked[: limit - 1] + "…"


class NotAvailable(Exception):
    """This system (or one of its measurements) cannot run here; str(exc) is the reason shown."""


@dataclass(frozen=True)
class Config:
    """Durations and sizes of one measurement pass (all bounded, all configurable)."""

    c1_s: float = 4.0
    load_s: float = 5.0
    concurrencies: tuple[int, ...] = (32, 128)
    array_requests: int = 20
    array_max_s: float = 6.0
    ready_timeout_s: float = 120.0
    wrk_timeout_s: float = 10.0
    logs: Path = BENCH / "results" / "logs"


@dataclass
class Metrics:
    """One repeat of one system: metric name -> value, and metric name -> why it is missing."""

    values: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


class System(abc.ABC):
    name: str

    @abc.abstractmethod
    def prepare(self, log: Log) -> None:
        """Install/check what the system needs (once per run); raise NotAvailable if it cannot run."""

    @abc.abstractmethod
    def run_once(self, cfg: Config, log: Log) -> Metrics:
        """Start the system, measure everything, stop it (nothing may be left running)."""


class Deployment(abc.ABC):
    """A running copy of the pipeline: the text request, array requests, its processes."""

    text: Request

    @abc.abstractmethod
    def array_request(self, binary: bool) -> Request:
        """The 1 MiB array request in the system's best binary framing or as a JSON list."""

    @abc.abstractmethod
    def pids(self) -> set[int]:
        """Every process of this deployment (for RSS)."""

    def alive(self) -> bool:
        return True

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop everything; idempotent."""


class ProcDeployment(Deployment):
    """A deployment made of processes we spawned ourselves (each the leader of its own session)."""

    def __init__(self, procs_: Sequence[subprocess.Popen[bytes]], text: Request,
                 arrays: dict[bool, Request | str]) -> None:
        self._procs = list(procs_)
        self.text = text
        self._arrays = arrays

    def array_request(self, binary: bool) -> Request:
        req = self._arrays[binary]
        if isinstance(req, str):
            raise NotAvailable(req)
        return req

    def _roots(self) -> list[int]:
        return [p.pid for p in self._procs]

    def pids(self) -> set[int]:
        return procs.family(self._roots(), self._roots())

    def alive(self) -> bool:
        return all(p.poll() is None for p in self._procs)

    def stop(self) -> None:
        survivors = procs.kill_family(self._roots(), self._roots())
        if survivors:
            raise RuntimeError(f"processes survived SIGKILL: {sorted(survivors)}")


class HttpSystem(System):
    """A system reached over HTTP on 127.0.0.1; subclasses implement `deploy` only."""

    @abc.abstractmethod
    def deploy(self, cfg: Config, log: Log) -> Deployment:
        """Start the system's processes (without waiting for readiness) and describe them."""

    def run_once(self, cfg: Config, log: Log) -> Metrics:
        m = Metrics()
        t0 = time.monotonic()
        dep = self.deploy(cfg, log)
        try:
            ready = load.wait_ready(dep.text, cfg.ready_timeout_s, dep.alive)
            m.values["cold_start_s"] = ready - t0
            load.sequential_ms(dep.text, max_requests=200, max_s=1.0)  # warm-up
            m.values["rss_mb"] = procs.rss_bytes(dep.pids()) / 2**20
            self._load(dep, cfg, m, log)
            m.values["rss_loaded_mb"] = procs.rss_bytes(dep.pids()) / 2**20
            self._arrays(dep, cfg, m, log)
        finally:
            dep.stop()
        return m

    def _load(self, dep: Deployment, cfg: Config, m: Metrics, log: Log) -> None:
        for conns, dur in ((1, cfg.c1_s), *((c, cfg.load_s) for c in cfg.concurrencies)):
            key = f"c{conns}"
            try:
                load.wait_ready(dep.text, 30.0, dep.alive)  # let the previous phase drain
                r = load.run_wrk(dep.text, conns, dur, cfg.wrk_timeout_s)
            except Exception as exc:  # noqa: BLE001 - one failed phase must not sink the row
                m.unavailable[key] = f"{type(exc).__name__}: {exc}"
                log(f"    {key}: failed: {exc}")
                continue
            m.values.update({f"{key}_rps": r.ok_rps, f"{key}_p50_ms": r.p50_ms, f"{key}_p99_ms": r.p99_ms,
                             f"{key}_errors": float(r.errors), f"{key}_attempts": float(r.attempts)})
            log(f"    {key}: {r.ok_rps:8.0f} ok req/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  "
                f"errors {r.errors} ({r.errors_status} status, {r.errors_socket} socket) of {r.requests}")

    def _arrays(self, dep: Deployment, cfg: Config, m: Metrics, log: Log) -> None:
        for binary in (True, False):
            key = "array_binary_ms" if binary else "array_json_ms"
            try:
                req = dep.array_request(binary)
                load.call_ok(req)  # also checks the array came back intact
                lat = load.sequential_ms(req, cfg.array_requests, cfg.array_max_s, warmup=1)
            except Exception as exc:  # noqa: BLE001
                m.unavailable[key] = str(exc) if isinstance(exc, NotAvailable) else f"{type(exc).__name__}: {exc}"
                log(f"    {key}: not available: {m.unavailable[key][:200]}")
                continue
            m.values[key] = load.median(lat)
            log(f"    {key}: {m.values[key]:.1f} ms (median of {len(lat)})")
