"""Process lifecycle for benchmarked systems: start in a new session, measure RSS, kill everything.

Every system is started as the leader of a fresh session so that the whole tree (workers, Ray's
raylet, BentoML's arbiter...) can be found and killed, even when something forks or re-parents.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Mapping, Sequence

_PROC = Path("/proc")
_STARTED: list[int] = []  # session ids of everything spawn() started, for kill_everything()


def spawn(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` as the leader of a new session; output goes to `log` (or is discarded)."""
    out = open(log, "ab") if log is not None else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _STARTED.append(proc.pid)
        return proc
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]


def _stat_fields(pid: int) -> tuple[int, int] | None:
    """(ppid, session id) of `pid`, or None if it is gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    return int(rest[1]), int(rest[3])


def _all_pids() -> list[int]:
    return [int(p.name) for p in _PROC.iterdir() if p.name.isdigit()]


def family(roots: Sequence[int], sessions: Sequence[int] = ()) -> set[int]:
    """All live descendants of `roots` (inclusive) plus every process in `sessions`."""
    table = {pid: f for pid in _all_pids() if (f := _stat_fields(pid)) is not None}
    found = {pid for pid in roots if pid in table}
    found |= {pid for pid, (_, sid) in table.items() if sid in set(sessions)}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return found


def rss_bytes(pids: set[int]) -> int:
    """Sum of VmRSS over `pids` (shared pages are counted once per process, as `ps` does)."""
    total = 0
    for pid in pids:
        try:
            for line in (_PROC / str(pid) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total


def kill_family(roots: Sequence[int], sessions: Sequence[int] = (), grace_s: float = 3.0) -> set[int]:
    """SIGTERM the whole family, wait up to `grace_s`, SIGKILL what is left. Returns survivors."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 2.0)):
        pids = family(roots, sessions)
        if not pids:
            return set()
        for sid in sessions:
            try:
                os.killpg(sid, sig)
            except OSError:
                pass
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _alive(pids):
            _reap(roots)
            time.sleep(0.05)
    _reap(roots)
    return _alive(family(roots, sessions))


def _alive(pids: set[int]) -> set[int]:
    """Pids that exist and are not zombies."""
    alive = set()
    for pid in pids:
        try:
            state = (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _reap(pids: Sequence[int]) -> None:
    """Collect exit status of our own children so they do not linger as zombies."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        except OSError:
            pass


def kill_everything() -> set[int]:
    """Last line of defence (finally/Ctrl-C): kill every session spawn() ever started."""
    survivors = kill_family(_STARTED, _STARTED, grace_s=2.0) if _STARTED else set()
    _STARTED.clear()
    return survivors


def free_ports(n: int) -> list[int]:
    """`n` distinct currently-free TCP ports on 127.0.0.1 (the OS picks them)."""
    import socket

    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
