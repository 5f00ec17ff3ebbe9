"""A chain's processes as the kernel sees them, not as its state file says.

``state.json`` is written by the supervisor; once the supervisor is dead it can be stale (a
chainlet restarted after the last write, one being replaced beside its old process). So to
tell whether a chain is supervised, and to replace the chainlets a dead supervisor left behind,
the local target looks in ``/proc``: a supervisor is recognised by its command line (which names
the chain's directory), a chainlet by its runtime's command line and the contract in its
environment (whose paths are inside the chain's directory) — or, for a chainlet forked from the
chain's fork server, by the fork server's command line, which names the chain's directory. Only
this user's processes are readable there, and a recycled pid never matches both.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import time

from infra_chains.serving.contract import CONTRACT_FILE_ENV, CONTRACT_JSON_ENV
from infra_chains.serving.forkserver import FORK_SERVER_FLAG
from infra_chains.targets.local.state import ChainDir, pid_alive

SUPERVISOR_MODULE = "infra_chains.targets.local.supervisor"
#: The supervisor's option naming the fork server its launcher started: ``<pid> <control fd>``.
ADOPT_FORK_SERVER_OPTION = "--fork-server"
#: Set to "0" in push's environment to start chainlets as new interpreters, not forked (to
#: compare, or to rule the fork server out); passes the supervisor's environment allow-list.
FORK_SERVER_ENV = "INFRA_CHAINS_FORK_SERVER"
_RUNTIME_MARK = b"infra_chains.serve"
_FORK_SERVER_MARK = FORK_SERVER_FLAG.encode()
_POLL_SEC = 0.05


def _cmdline(pid: int) -> list[bytes]:
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _environ_value(pid: int, name: str) -> str | None:
    try:
        raw = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    prefix = name.encode() + b"="
    for item in raw.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix):].decode(errors="replace")
    return None


def _pids() -> list[int]:
    return [int(p.name) for p in pathlib.Path("/proc").iterdir() if p.name.isdigit()]


def is_supervisor(pid: int | None, chain_dir: ChainDir) -> bool:
    """Whether ``pid`` is a live supervisor of ``chain_dir`` (not a recycled pid)."""
    if not pid or not pid_alive(pid):
        return False
    argv = _cmdline(pid)
    return SUPERVISOR_MODULE.encode() in argv and str(chain_dir.path).encode() in argv


def supervisors(chain_dir: ChainDir) -> list[int]:
    """Every live supervisor of ``chain_dir``."""
    return [pid for pid in _pids() if pid != os.getpid() and is_supervisor(pid, chain_dir)]


def chainlets(chain_dir: ChainDir) -> list[int]:
    """Every live chainlet process started for ``chain_dir``, whoever its parent is now (and
    the chain's fork server, whose command line its forked chainlets share)."""
    return [pid for pid in _pids() if _is_chainlet_of(pid, chain_dir) and pid_alive(pid)]


def _is_chainlet_of(pid: int, chain_dir: ChainDir) -> bool:
    argv = _cmdline(pid)
    if not any(_RUNTIME_MARK in part for part in argv):
        return False
    # A forked chainlet has its fork server's command line, which names the chain's directory.
    forked = _FORK_SERVER_MARK in argv and str(chain_dir.path).encode() in argv
    return forked or _runs_from(pid, chain_dir)


def _runs_from(pid: int, chain_dir: ChainDir) -> bool:
    """Whether chainlet ``pid``'s contract (a file, or inline JSON) lives in ``chain_dir``.

    Every path a local contract holds (snapshot, secrets) is inside the chain's directory, and
    the directory's path includes the state root, so equal chain names under two roots differ.
    """
    inside = str(chain_dir.path) + os.sep
    path = _environ_value(pid, CONTRACT_FILE_ENV)
    if path is not None:
        return path.startswith(inside)
    inline = _environ_value(pid, CONTRACT_JSON_ENV)
    if inline is None:
        return False
    try:
        workspace = json.loads(inline).get("workspace_dir")
    except (ValueError, AttributeError):
        return False
    return isinstance(workspace, str) and workspace.startswith(inside)


def kill_and_wait(pids: list[int], timeout_sec: float = 10.0) -> list[int]:
    """SIGKILL ``pids`` and wait until they are gone; returns those still alive at the timeout.

    Orphans are not our children (init reaps them), so this polls instead of waiting.
    """
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_sec
    alive = [pid for pid in pids if pid_alive(pid)]
    while alive and time.monotonic() < deadline:
        for pid in alive:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(_POLL_SEC)
        alive = [pid for pid in alive if pid_alive(pid)]
    return alive
