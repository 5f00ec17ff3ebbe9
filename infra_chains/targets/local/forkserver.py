"""The supervisor's side of the fork server (`infra_chains.serving.forkserver`).

The supervisor has one fork server per chain (its launcher starts it beside the supervisor, which
adopts it: `ForkServer.adopt`; or the supervisor starts one: `ForkServer.start`) and asks it for
each chainlet incarnation; the chainlet is forked from a process that already imported the
runtime, so it starts faster and shares those pages with its siblings. The supervisor stays the chainlets' parent in the sense
that matters: it is a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``), the fork server
double-forks, so every chainlet is re-parented to the supervisor, which reaps it and so sees its
exit code. Only the reaper may signal a pid safely (a reaped pid can be recycled), and it is the
supervisor.

Anything wrong with the fork server (it died, hung, answered nonsense) raises
:class:`ForkServerError`; the supervisor then starts that chainlet as a new interpreter, as it
did before, and starts a fresh fork server for the next ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from infra_chains.serving.forkserver import FORK_SERVER_FLAG, MAX_MESSAGE_BYTES, ForkRequest

PR_SET_CHILD_SUBREAPER = 36
#: How long the fork server may take to import the runtime (a loaded 2-core machine: seconds).
READY_TIMEOUT_SEC = 30.0
#: How long one fork may take once the server is ready.
REPLY_TIMEOUT_SEC = 10.0
_POLL_SEC = 0.01


class ForkServerError(Exception):
    """The fork server could not start a chainlet (the caller starts it another way)."""


class ChildProcess(Protocol):
    """What the supervisor needs of a chainlet process; `subprocess.Popen` has it too."""

    @property
    def pid(self) -> int: ...
    @property
    def returncode(self) -> int | None: ...
    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...


def become_subreaper() -> bool:
    """Make orphaned descendants of this process its children (Linux); False where unsupported."""
    import ctypes  # here: the local target imports this module on every push, ctypes not needed
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


class ForkedProcess:
    """A chainlet re-parented to this process: polled, waited for and signalled by pid.

    Safe because this process reaps it: until then its pid cannot be reused.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # not our child after all: reaped elsewhere, code unknown
                self.returncode = 255
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"chainlet pid {self.pid}", timeout or 0.0)
            time.sleep(_POLL_SEC)
        return code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """One fork server process (a child of this process) and its control socket."""

    def __init__(self, python: str, process: ChildProcess, control: socket.socket) -> None:
        self.python = python
        self.process = process
        self._sock = control
        self._ready = False

    @classmethod
    def start(cls, python: str, chain_dir: str, env: Mapping[str, str]) -> ForkServer:
        """Start a fork server for the chain in ``chain_dir`` (named on its command line)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = subprocess.Popen(
                [*command(python, chain_dir), str(theirs.fileno())],
                stdin=subprocess.DEVNULL, env={**env, "PYTHONUNBUFFERED": "1"},
                close_fds=True, pass_fds=(theirs.fileno(),),
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        return cls(python, process, ours)

    @classmethod
    def adopt(cls, python: str, pid: int, control_fd: int) -> ForkServer:
        """Take over a fork server that this process's launcher started (`command`) before it
        exec'd this program: it is this process's child, its control socket is ``control_fd``.

        Raises `ForkServerError` when ``pid`` is not a child of this process (it could then be
        neither reaped nor signalled safely); ``control_fd`` is closed in that case.
        """
        control = socket.socket(fileno=control_fd)
        process = ForkedProcess(pid)
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            control.close()
            raise ForkServerError(f"pid {pid} is not a fork server this process started") from None
        return cls(python, process, control)

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def fork(self, request: ForkRequest, log_fd: int, listen_fd: int, probe_fd: int) -> ForkedProcess:
        """Fork one chainlet; its descriptors are duplicated into it (the caller keeps its own)."""
        try:
            if not self._ready:
                self._receive(READY_TIMEOUT_SEC, "ready")
                self._ready = True
            self._sock.settimeout(REPLY_TIMEOUT_SEC)
            socket.send_fds(self._sock, [request.model_dump_json().encode()],
                            [log_fd, listen_fd, probe_fd])
            pid = self._receive(REPLY_TIMEOUT_SEC, "pid")
            if not isinstance(pid, int) or pid <= 0:
                raise ValueError(f"it answered pid {pid!r}")
        except (OSError, ValueError) as exc:
            self.stop()
            raise ForkServerError(f"fork server pid {self.pid}: {exc}") from exc
        return ForkedProcess(pid)

    def _receive(self, timeout_sec: float, key: str) -> object:
        self._sock.settimeout(timeout_sec)
        try:
            data = self._sock.recv(MAX_MESSAGE_BYTES)
        except TimeoutError:
            raise ValueError(f"no answer within {timeout_sec:g} s") from None
        if not data:
            code = self.process.poll()
            raise ValueError("it exited" + (f" with code {code}" if code is not None else ""))
        message = json.loads(data)
        if isinstance(message, dict) and "error" in message:
            raise ValueError(f"it could not fork: {message['error']}")
        if not isinstance(message, dict) or key not in message:
            raise ValueError(f"it answered {message!r}")
        return message[key]

    def stop(self, timeout_sec: float = 2.0) -> None:
        """Hang up (the server exits on it), then kill it if it lingers; reaps it."""
        self._sock.close()
        try:
            self.process.wait(timeout_sec)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def command(python: str, chain_dir: str) -> list[str]:
    """The fork server's command line, but for the control socket's descriptor number (appended
    by whoever creates the socket). It names the chain directory: that is how
    `targets.local.processes` recognises the fork server and the chainlets forked from it."""
    return [python, "-m", "infra_chains.serve", FORK_SERVER_FLAG, chain_dir]


def reap_strays(known: Callable[[int], bool]) -> list[tuple[int, int]]:
    """Reap exited children this process does not track (a chainlet's own orphaned children,
    re-parented here because this process is a subreaper); tracked ones are left to their owner.

    Returns ``(pid, exit code)`` of each reaped.
    """
    reaped: list[tuple[int, int]] = []
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return reaped
        if info is None or info.si_pid == 0 or known(info.si_pid):
            return reaped
        with contextlib.suppress(ChildProcessError):
            _, status = os.waitpid(info.si_pid, 0)
            reaped.append((info.si_pid, os.waitstatus_to_exitcode(status)))
