"""A fork server: chainlets forked from a process that already imported the runtime.

Starting a chainlet as a new interpreter costs its imports (pydantic, uvicorn, uvloop, aiohttp,
this package: most of its start-up time) and a private copy of every module in memory. A fork
server imports those once, then forks each chainlet: the child starts with them loaded, and the
pages stay shared copy-on-write between the chainlets (``gc.freeze`` keeps the collector from
writing to them). It imports no user code and runs no event loop or thread, so forking it is safe.

Run as ``python -m infra_chains.serve --fork-server <chain dir> <control fd>`` by a supervisor
that owns the other end of the control socket (``socket.socketpair(AF_UNIX, SOCK_SEQPACKET)``):

1. once its imports are done it sends ``{"ready": true}``;
2. each request is one message: a JSON :class:`ForkRequest` with three descriptors attached
   (SCM_RIGHTS): the log file, the listening socket and the probe socket;
3. it double-forks, so the chainlet is re-parented to the nearest child subreaper (the
   supervisor, which sees its exit code), and answers ``{"pid": <chainlet pid>}`` or
   ``{"error": "..."}``;
4. it exits when the supervisor closes its end (or dies, even before this process is ready).

The supervisor may start it itself, or adopt one its launcher started beside it (so that these
imports overlap the supervisor's own; see `targets.local.launcher`): either way this process is the
supervisor's child, which is what makes the double fork re-parent chainlets to the supervisor.

The chainlet itself resets signals, takes the log file as stdout/stderr, takes the request's
environment (the runtime contract inline, with the descriptors' numbers in this process) and
runs the same serve path as ``python -m infra_chains.serve``. The argv names the chain directory,
so `targets.local.processes` recognises a forked chainlet (its /proc cmdline is this one's).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import select
import signal
import socket
import sys
from collections.abc import Callable

import pydantic

from infra_chains.serving.contract import CONTRACT_FILE_ENV, CONTRACT_JSON_ENV, RuntimeContract

#: The flag of ``python -m infra_chains.serve`` that runs a fork server.
FORK_SERVER_FLAG = "--fork-server"
#: Descriptors attached to a request, in this order.
FDS_PER_REQUEST = 3
MAX_MESSAGE_BYTES = 1 << 20
#: What every chainlet imports: loaded before the server says it is ready, shared by all. Optional
#: ones (an extra not installed) are skipped. User code is never imported here.
PRELOAD = (
    "infra_chains",
    "infra_chains.serving.runtime",
    "infra_chains.serving.http_protocol",
    "infra_chains.serving.transport",
    "uvloop",
    "uvicorn.lifespan.on",
    "concurrent.futures.thread",
    "encodings.idna",
    "pydantic.type_adapter",
)
#: What only some chainlets import (aiohttp: the stubs' https and fallback transport), loaded once
#: the server has been idle for `IDLE_PRELOAD_SEC`: shared by chainlets forked after that, yet
#: not on a push's critical path (aiohttp alone is ~0.1 s, a quarter of this server's start-up).
PRELOAD_WHEN_IDLE = ("aiohttp",)
IDLE_PRELOAD_SEC = 1.0


class ForkRequest(pydantic.BaseModel):
    """One chainlet to fork (the descriptors travel beside the JSON)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    name: str
    #: The chainlet's environment, but for the contract.
    env: dict[str, str]
    #: The runtime contract; the chainlet gets it in its environment (inline), with
    #: ``listen_fd``/``probe_fd`` set to the numbers the descriptors have in it.
    contract_json: str


def preload(modules: tuple[str, ...] = PRELOAD) -> None:
    """Import what chainlets import (`PRELOAD`), so that it is shared, not per chainlet."""
    for module in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    gc.freeze()  # modules and their objects: never scanned again, so never copied by the GC


def serve_forks(control: socket.socket) -> Callable[[], int] | None:
    """Answer fork requests until the supervisor hangs up (returns None).

    In a forked chainlet it returns the chainlet's main function instead, so that the chainlet
    runs it from the bottom of the stack (and exits like a normal interpreter: atexit handlers,
    flushed streams), outside this loop.
    """
    preload()
    try:
        control.sendall(json.dumps({"ready": True}).encode())
    except OSError:  # the supervisor died (or never started) while this process imported
        return None
    idle_preload: tuple[str, ...] = PRELOAD_WHEN_IDLE
    while True:
        if idle_preload and not select.select([control], [], [], IDLE_PRELOAD_SEC)[0]:
            preload(idle_preload)
            idle_preload = ()
        try:
            data, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE_BYTES, FDS_PER_REQUEST)
        except OSError:  # the supervisor's end is gone: as good as a hang-up
            return None
        if not data:
            for fd in fds:
                os.close(fd)
            return None
        reply: dict[str, object]
        try:
            request = ForkRequest.model_validate_json(data)
            if len(fds) != FDS_PER_REQUEST:
                raise ValueError(f"expected {FDS_PER_REQUEST} descriptors, got {len(fds)}")
            pid = _double_fork()
        except (ValueError, OSError) as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        else:
            if pid == 0:  # the chainlet
                return _chainlet_main(control, request, fds)
            reply = {"pid": pid}
        for fd in fds:
            os.close(fd)
        try:
            control.sendall(json.dumps(reply).encode())
        except OSError:
            return None


def _double_fork() -> int:
    """Fork a chainlet: 0 in it, its pid in the server. Its parent exits at once, so it is
    re-parented to the nearest child subreaper (the supervisor), which reaps it."""
    gc.freeze()  # what the server allocated since: not to be scanned (and copied) either
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            os.close(read_end)
            pid = os.fork()
            if pid == 0:
                os.close(write_end)
                return 0
            os.write(write_end, str(pid).encode())
        except BaseException:
            os._exit(1)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(middle, 0)
    if not answer:
        raise OSError(f"the intermediate process {middle} forked no chainlet")
    return int(answer)


def _chainlet_main(control: socket.socket, request: ForkRequest,
                   fds: list[int]) -> Callable[[], int]:
    """Become the chainlet (in the forked process): stdio, signals, environment, name."""
    control.close()
    log_fd, listen_fd, probe_fd = fds
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    contract = RuntimeContract.model_validate_json(request.contract_json).model_copy(
        update={"listen_fd": listen_fd, "probe_fd": probe_fd})
    env = {k: v for k, v in request.env.items() if k not in (CONTRACT_FILE_ENV, CONTRACT_JSON_ENV)}
    env[CONTRACT_JSON_ENV] = contract.model_dump_json()
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [sys.argv[0]]
    with contextlib.suppress(OSError):  # the name `ps` and `top` show (15 bytes)
        with open("/proc/self/comm", "w") as comm:
            comm.write(request.name[:15])
    from infra_chains import serve

    return serve.run_chainlet


def main(args: list[str]) -> int:
    """``--fork-server <chain dir> <control fd>``: serve fork requests on the control socket."""
    if len(args) != 2 or not args[1].isdigit():
        print("usage: python -m infra_chains.serve --fork-server <chain dir> <control fd>",
              file=sys.stderr)
        return 2
    control = socket.socket(fileno=int(args[1]))
    # A Ctrl-C in the terminal that started the chain reaches the whole process group; the
    # supervisor decides when this process ends (it closes the control socket).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    chainlet = serve_forks(control)
    if chainlet is None:
        return 0
    return chainlet()
