"""Systems under a fault: deploy the 3-step chain, find its middle process, hurt it, observe.

Each target deploys a fresh copy of the chain per measurement, exposes the text request, and
applies one fault to the MIDDLE process (Mid) while the load runs:
- kill:   SIGKILL (a crash);
- term:   SIGTERM (a graceful stop, as an orchestrator or `kill` sends it);
- freeze: SIGSTOP for `freeze_s`, then SIGCONT (a hung process: GC pause, deadlock, swapped out);
- repush: deploy again with only the middle chainlet's code changed (infra_chains only).
What the system did about it (restarted processes, status while frozen) is returned as notes.
"""
from __future__ import annotations

import abc
import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from harness import load, workload as w
from harness.load import Request
from systems.base import BENCH, Config, Log, NotAvailable, ProcDeployment, child_env, last_line
from systems.handmade import Handmade
from systems.infra import CLI, PROJECT, Pushed, cli

FAULTS = ("kill", "term", "repush", "freeze")
CHAIN_FILE = BENCH / "chains" / "pipeline.py"
# The one line of Mid's code that a re-push changes (same answer, different source -> new hash).
MID_LINE = 'return Result(text=r.text + "|mid", hops=r.hops + 1)'
MID_LINE_EDITED = 'return Result(text=f"{r.text}|mid", hops=r.hops + 1)  # re-pushed'

Notes = dict[str, Any]


class NotApplicable(Exception):
    """This fault has no meaning for this system (str(exc) says why)."""


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class Target(abc.ABC):
    """One system the fault table measures."""

    system: str

    def check_fault(self, fault: str) -> None:
        """Raise NotApplicable if `fault` means nothing for this system."""

    @abc.abstractmethod
    def start(self, cfg: Config, log: Log) -> Request:
        """Deploy a fresh copy, wait until it answers correctly, return the text request."""

    @abc.abstractmethod
    def middle_pid(self) -> int:
        """The pid serving the middle step now."""

    async def observe_frozen(self) -> Notes:
        """What the system reports while its middle process is frozen."""
        return {}

    async def repush(self, log: Log) -> Notes:
        raise NotApplicable("no deploy step")

    @abc.abstractmethod
    async def after(self) -> Notes:
        """What the system did about the fault (restarts, status), observed after the load."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop everything this target started; idempotent."""

    async def apply(self, fault: str, freeze_s: float, log: Log) -> Notes:
        """Apply `fault` to the middle process now; returns when the fault is over (or was sent)."""
        pid = self.middle_pid()
        notes: Notes = {"middle_pid": pid}
        if fault == "kill":
            _signal(pid, signal.SIGKILL)
        elif fault == "term":
            _signal(pid, signal.SIGTERM)
        elif fault == "freeze":
            _signal(pid, signal.SIGSTOP)
            try:
                await asyncio.sleep(freeze_s / 2)
                notes |= await self.observe_frozen()
                await asyncio.sleep(freeze_s / 2)
            finally:
                _signal(pid, signal.SIGCONT)  # also when cancelled: never leave a process stopped
        elif fault == "repush":
            notes |= await self.repush(log)
        else:
            raise ValueError(f"unknown fault {fault!r}; choose from {FAULTS}")
        return notes


class InfraTarget(Target):
    """infra_chains, local target, driven through its CLI from a private copy of the chain file.

    The copy lives in a workspace of its own, so a re-push changes exactly one line of Mid and
    nothing else; INFRA_CHAINS_HOME must point at a scratch directory (the caller sets it).
    """

    system = "infra_chains"
    name = "faultbench"

    def __init__(self, workspace: Path) -> None:
        if not CLI.exists():
            raise NotAvailable(f"`infra-chains` CLI not found at {CLI.relative_to(PROJECT)}")
        source = CHAIN_FILE.read_text()
        if MID_LINE not in source:
            raise NotAvailable(f"{CHAIN_FILE} no longer contains Mid's line {MID_LINE!r}; update MID_LINE")
        self._source = source
        self._workspace = workspace
        self._chain = workspace / "pipeline.py"
        self._pushed: Pushed | None = None
        self._cfg = Config()
        self._before: dict[str, int] = {}

    def start(self, cfg: Config, log: Log) -> Request:
        self.stop()
        self._cfg = cfg
        self._workspace.mkdir(parents=True, exist_ok=True)
        self._chain.write_text(self._source)
        self._pushed = Pushed(self.name, self._chain, cfg, log)
        self._pushed.roots()  # remember the supervisor's session for cleanup
        req = Request(self._pushed.url, w.TEXT_BODY, w.JSON, w.check_text)
        load.wait_ready(req, 15.0, self._pushed.alive)
        self._before = self._pids()
        return req

    def _status(self) -> dict[str, Any]:
        """`infra-chains status NAME --json`; raises RuntimeError saying why when it does not answer."""
        try:
            out = cli("status", self.name, "--json", timeout_s=30.0)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError("`status --json` did not answer within 30 s") from exc
        if out.returncode != 0:
            raise RuntimeError(f"`status --json` failed (rc={out.returncode}): {last_line(out.stderr or out.stdout, 160)}")
        try:
            doc = json.loads(out.stdout)
        except ValueError as exc:
            raise RuntimeError(f"`status --json` printed no JSON: {out.stdout[:160]!r}") from exc
        if not isinstance(doc, dict):
            raise RuntimeError(f"`status --json` printed {type(doc).__name__}, not an object")
        return doc

    async def _status_notes(self) -> tuple[dict[str, Any], Notes]:
        """The status document (empty if it failed) and, if it failed, a note saying why."""
        try:
            return await asyncio.to_thread(self._status), {}
        except RuntimeError as exc:
            return {}, {"status_error": str(exc)}

    def _pids(self, status: dict[str, Any] | None = None) -> dict[str, int]:
        """Chainlet name -> pid, from `status` (or a fresh status call)."""
        chainlets = (status if status is not None else self._status()).get("chainlets", [])
        return {str(c.get("name")): int(c.get("pid") or 0) for c in chainlets}

    def middle_pid(self) -> int:
        """Mid's pid as `status` showed it after the push (looked up before the load, never during it)."""
        pid = self._before.get("Mid", 0)
        if pid <= 0:
            raise RuntimeError(f"`infra-chains status {self.name} --json` shows no pid for Mid")
        return pid

    async def observe_frozen(self) -> Notes:
        status, notes = await self._status_notes()
        mid: dict[str, Any] = next((c for c in status.get("chainlets", []) if c.get("name") == "Mid"), {})
        return notes | {"status_while_frozen": mid.get("status", "(status failed)")}

    async def repush(self, log: Log) -> Notes:
        self._chain.write_text(self._source.replace(MID_LINE, MID_LINE_EDITED))
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            str(CLI), "push", str(self._chain), "--name", self.name, cwd=PROJECT, env=child_env(),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=self._cfg.ready_timeout_s)
        except BaseException:
            proc.kill()
            await proc.wait()
            raise
        text = out.decode(errors="replace")
        (self._cfg.logs / f"infra-repush-{self.name}.log").write_text(text)
        said = next((ln.strip() for ln in reversed(text.splitlines()) if "ready in" in ln), "")
        return {"repush_rc": proc.returncode, "repush_s": round(time.monotonic() - started, 2),
                "repush_said": said or last_line(text, 160)}

    async def after(self) -> Notes:
        status, notes = await self._status_notes()
        if notes:
            return notes
        now = self._pids(status)
        chainlets = status.get("chainlets", [])
        return {
            "new_process": sorted(n for n, pid in now.items() if pid != self._before.get(n)),
            "statuses": {str(c.get("name")): c.get("status") for c in chainlets},
            "restarts": {str(c.get("name")): c.get("restarts") for c in chainlets},
        }

    def stop(self) -> None:
        if self._pushed is not None:
            pushed, self._pushed = self._pushed, None
            if survivors := pushed.stop():
                raise RuntimeError(f"infra_chains processes survived `down` and SIGKILL: {sorted(survivors)}")


class HandmadeTarget(Target):
    """The hand-made stack: 3 uvicorn processes started by the bench, with no supervisor at all."""

    system = "handmade"

    def __init__(self, log: Log) -> None:
        self._system = Handmade()
        self._system.prepare(log)  # NotAvailable if its venv cannot be made
        self._dep: ProcDeployment | None = None
        self._mid = 0

    def check_fault(self, fault: str) -> None:
        if fault == "repush":
            raise NotApplicable("no deploy tool: replacing one process is done by hand")

    def start(self, cfg: Config, log: Log) -> Request:
        self.stop()
        dep = self._system.deploy(cfg, log)
        assert isinstance(dep, ProcDeployment)
        self._dep = dep
        load.wait_ready(dep.text, 30.0, dep.alive)
        mids = [pid for pid in dep.pids() if b"ROLE=mid\0" in _environ(pid)]
        if len(mids) != 1:
            raise RuntimeError(f"expected one hand-made process with ROLE=mid, found {mids}")
        self._mid = mids[0]
        return dep.text

    def middle_pid(self) -> int:
        return self._mid

    async def after(self) -> Notes:
        alive = _alive(self._mid)
        return {"middle_alive": alive,
                "new_process": [] if alive else ["(none: no supervisor, Mid stays down)"]}

    def stop(self) -> None:
        if self._dep is not None:
            dep, self._dep = self._dep, None
            _signal(self._mid, signal.SIGCONT)
            dep.stop()


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes() + b"\0"
    except OSError:
        return b""


def scratch_home(root: Path) -> Path:
    """A fresh INFRA_CHAINS_HOME under `root`, so the bench never touches the user's chains."""
    home = root / "home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    return home


__all__ = ["FAULTS", "HandmadeTarget", "InfraTarget", "NotApplicable", "Target", "scratch_home"]
