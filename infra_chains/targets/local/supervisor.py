"""The local chain supervisor: one detached process per chain, parent of its chainlets.

It makes the running processes match ``desired.json`` (on start and on SIGHUP), restarts a
chainlet that dies after it was ready (exponential backoff, counted), marks one that dies before
it was ever ready, or misses its readiness deadline, as ``failed`` (push reports it with the log
tail), and on SIGTERM stops every chainlet gracefully and exits. Only this process writes
``state.json``.

Run as ``python -m infra_chains.targets.local.supervisor <chain dir>``; push starts it, detached.
"""

from __future__ import annotations

import http.client
import logging
import os
import pathlib
import signal
import subprocess
import sys
import time
from types import FrameType

from infra_chains.serving.contract import CONTRACT_FILE_ENV
from infra_chains.targets.local.state import (
    KEPT_STATUSES,
    ChainDir,
    ChainletState,
    ChainState,
    DesiredChainlet,
    DesiredState,
    write_atomic,
)

logger = logging.getLogger("infra_chains.supervisor")

POLL_INTERVAL_SEC = 0.05
BACKOFF_BASE_SEC = 0.5
BACKOFF_MAX_SEC = 30.0
#: A chainlet up this long has its backoff reset: its next crash restarts it quickly again.
STABLE_AFTER_SEC = 60.0
STOP_GRACE_SEC = 10.0


class _Chainlet:
    """A chainlet process the supervisor owns."""

    def __init__(self, desired: DesiredChainlet, state: ChainletState) -> None:
        self.desired = desired
        self.state = state
        self.process: subprocess.Popen[bytes] | None = None
        self.deadline = 0.0
        self.restart_at: float | None = None
        self.ever_ready = False


class Supervisor:
    def __init__(self, chain_dir: ChainDir) -> None:
        self.dir = chain_dir
        self.chainlets: dict[str, _Chainlet] = {}
        self.desired: DesiredState | None = None
        self.generation = 0
        self._reload = True
        self._stop = False
        self._dirty = True

    # -- signals -----------------------------------------------------------------------------
    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._reload = True

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        self._stop = True

    # -- main loop ---------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGHUP, self._on_hup)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        logger.info("supervisor %d started for chain %s", os.getpid(), self.dir.name)
        while not self._stop:
            if self._reload:
                self._reload = False
                self._reconcile()
            now = time.monotonic()
            for chainlet in self.chainlets.values():
                self._tick(chainlet, now)
            if self._dirty:
                self._write_state()
            time.sleep(POLL_INTERVAL_SEC)
        self._stop_all()
        self._write_state()
        logger.info("supervisor %d stopped", os.getpid())
        return 0

    def _reconcile(self) -> None:
        desired = self.dir.read_desired()
        if not isinstance(desired, DesiredState):
            logger.error("no desired state in %s", self.dir.desired)
            self._stop = True
            return
        self.desired = desired
        wanted = {c.name for c in desired.chainlets}
        for name in [n for n in self.chainlets if n not in wanted]:
            self._terminate(self.chainlets.pop(name))
        for spec in desired.chainlets:
            current = self.chainlets.get(spec.name)
            if (
                current is not None
                and current.state.fingerprint == spec.fingerprint
                and current.state.status in KEPT_STATUSES
            ):
                current.desired = spec
                continue
            if current is not None:
                logger.info("replacing %s (changed)", spec.name)
                self._terminate(current)
            state = ChainletState(
                name=spec.name,
                content_hash=spec.content_hash,
                fingerprint=spec.fingerprint,
                port=spec.port,
                url=f"http://127.0.0.1:{spec.port}",
                log_file=spec.log_file,
                restarts=0,
            )
            chainlet = _Chainlet(spec, state)
            self.chainlets[spec.name] = chainlet
            self._start(chainlet)
        # Keep the desired order (dependencies first) for status output.
        self.chainlets = {c.name: self.chainlets[c.name] for c in desired.chainlets}
        self.generation = desired.generation
        self._dirty = True

    def _start(self, chainlet: _Chainlet) -> None:
        assert self.desired is not None
        spec = chainlet.desired
        env = dict(os.environ, **{CONTRACT_FILE_ENV: spec.contract_file, "PYTHONUNBUFFERED": "1"})
        with open(spec.log_file, "ab") as log:
            chainlet.process = subprocess.Popen(
                [self.desired.python_executable, "-m", "infra_chains.serve"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                close_fds=True,
            )
        chainlet.state.pid = chainlet.process.pid
        chainlet.state.status = "starting"
        chainlet.state.started_at = time.time()
        chainlet.state.message = None
        chainlet.deadline = time.monotonic() + self.desired.ready_timeout_sec
        chainlet.restart_at = None
        self._dirty = True
        logger.info("started %s pid=%d port=%d", spec.name, chainlet.process.pid, spec.port)

    def _tick(self, chainlet: _Chainlet, now: float) -> None:
        state = chainlet.state
        process = chainlet.process
        if state.status == "restarting" and chainlet.restart_at is not None and now >= chainlet.restart_at:
            self._start(chainlet)
            return
        if process is None or state.status in ("failed", "stopped", "restarting"):
            return
        code = process.poll()
        if code is not None:
            state.last_exit_code = code
            state.pid = None
            self._dirty = True
            if not chainlet.ever_ready:
                state.status = "failed"
                state.message = f"exited with code {code} before it was ready"
                logger.error("%s %s", state.name, state.message)
                return
            state.restarts += 1
            up_for = time.time() - (state.started_at or 0)
            backoff = BACKOFF_BASE_SEC if up_for > STABLE_AFTER_SEC else min(
                BACKOFF_MAX_SEC, BACKOFF_BASE_SEC * 2 ** (state.restarts - 1)
            )
            state.status = "restarting"
            state.message = f"exited with code {code}; restart #{state.restarts} in {backoff:.1f}s"
            chainlet.restart_at = now + backoff
            logger.warning("%s %s", state.name, state.message)
            return
        if state.status == "starting":
            if _ready(state.port):
                state.status = "ready"
                chainlet.ever_ready = True
                self._dirty = True
                logger.info("%s ready", state.name)
            elif now > chainlet.deadline:
                self._terminate(chainlet)
                state.status = "failed"
                state.message = "not ready within the readiness timeout"
                self._dirty = True
                logger.error("%s %s", state.name, state.message)

    def _terminate(self, chainlet: _Chainlet) -> None:
        process = chainlet.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_GRACE_SEC)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        chainlet.state.status = "stopped"
        chainlet.state.pid = None
        self._dirty = True

    def _stop_all(self) -> None:
        running = [c for c in self.chainlets.values() if c.process is not None and c.process.poll() is None]
        for chainlet in reversed(running):  # dependents first, so none calls a stopped dependency
            chainlet.process.terminate()  # type: ignore[union-attr]
        deadline = time.monotonic() + STOP_GRACE_SEC
        for chainlet in running:
            try:
                chainlet.process.wait(max(0.0, deadline - time.monotonic()))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                chainlet.process.kill()  # type: ignore[union-attr]
                chainlet.process.wait()  # type: ignore[union-attr]
        for chainlet in self.chainlets.values():
            chainlet.state.status = "stopped"
            chainlet.state.pid = None

    def _write_state(self) -> None:
        if self.desired is None:
            return
        state = ChainState(
            chain_name=self.desired.chain_name,
            entrypoint=self.desired.entrypoint,
            generation=self.generation,
            supervisor_pid=os.getpid(),
            chainlets=[c.state for c in self.chainlets.values()],
        )
        write_atomic(self.dir.state, state.model_dump_json(indent=2))
        self._dirty = False


def _ready(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
    try:
        connection.request("GET", "/readyz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m infra_chains.targets.local.supervisor <chain dir>", file=sys.stderr)
        return 2
    path = pathlib.Path(args[0])
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    chain_dir = ChainDir(path.name, root=path.parent.parent)
    return Supervisor(chain_dir).run()


if __name__ == "__main__":
    sys.exit(main())
