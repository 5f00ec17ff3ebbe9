"""The local chain supervisor: one detached process per chain, parent of its chainlets.

It makes the running processes match ``desired.json`` (on start and on SIGHUP) and keeps them
serving; only this process writes ``state.json``. The mechanisms are the chain's contract
(docs/architecture.md, "Supervision, readiness, drain, identity"), mirrored by the other targets:

- **It owns each chainlet's listening socket** (bound once, kept across incarnations) and hands it
  to every incarnation (``listen_fd``): while a chainlet restarts, connections wait in the backlog
  instead of being refused.
- **Readiness proves identity**: each incarnation gets a nonce (``instance_id``) and a private
  probe socket (``probe_fd``); it is ready when *that* socket answers ``/readyz`` 200 echoing the
  nonce. It accepts traffic only from then on.
- **A new version starts beside the old one**; once ready, the old one gets SIGTERM and drains.
  If the new one exits or misses its readiness deadline it is killed, the old one keeps serving,
  and the chainlet is ``failed`` with the reason (push rolls back).
- **Liveness**: a ready incarnation whose ``/healthz`` misses `probe.LIVENESS` probes (hung,
  SIGSTOPped) is killed and restarted; the chainlet's ``health_checks`` raise the number of
  misses and delay the first probe (`serving.health.health_policy`). A crash restarts with
  exponential backoff, reset after a healthy period; a clean exit (code 0) restarts at once and
  is not a crash.
- **Chainlets are forked** from a fork server it starts (`targets.local.forkserver`), which has the
  runtime imported: they start sooner and share those pages. The supervisor is a child subreaper,
  so forked chainlets are still its children (it reaps them and sees their exit codes). If the
  fork server fails, that chainlet starts as a new interpreter and a fresh fork server follows.
  ``INFRA_CHAINS_FORK_SERVER=0`` in push's environment starts every chainlet as a new
  interpreter instead (to compare, or to rule the fork server out). Push's launcher starts the
  fork server beside this process (``--fork-server <pid> <fd>``: adopted), so that its imports
  overlap this process's own instead of following them.
- On SIGTERM it stops every chainlet gracefully (dependents first) and exits.

Run as ``python -m infra_chains.targets.local.supervisor <chain dir>``; push starts it, detached.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from types import FrameType

from infra_chains.errors import ConfigError
from infra_chains.serving import probe
from infra_chains.serving.contract import CONTRACT_FILE_ENV, CONTRACT_JSON_ENV, RuntimeContract
from infra_chains.serving.forkserver import ForkRequest
from infra_chains.serving.health import HealthPolicy, health_policy
from infra_chains.targets.local.forkserver import (
    ChildProcess,
    ForkServer,
    ForkServerError,
    become_subreaper,
    reap_strays,
)
from infra_chains.targets.local.processes import ADOPT_FORK_SERVER_OPTION, FORK_SERVER_ENV
from infra_chains.targets.local.state import (
    ChainDir,
    ChainletState,
    ChainletStatus,
    ChainState,
    DesiredChainlet,
    DesiredState,
    write_atomic,
)

logger = logging.getLogger("infra_chains.supervisor")

#: The main loop's period when nothing happens; a finished probe or a signal wakes it at once.
POLL_INTERVAL_SEC = 0.05
#: Between readiness probes of a starting incarnation (each probe itself waits up to
#: READY_PROBE_TIMEOUT_SEC: the private probe socket listens before the process serves it, so a
#: probe sent during imports is answered as soon as the server runs).
READY_PROBE_INTERVAL_SEC = 0.02
#: The first re-probe comes this soon and the interval doubles up to READY_PROBE_INTERVAL_SEC: a
#: quick ``__init__`` is seen ready within milliseconds; a slow one is probed as often as before.
READY_PROBE_FIRST_INTERVAL_SEC = 0.005
READY_PROBE_TIMEOUT_SEC = 2.0
BACKOFF_BASE_SEC = 0.5
BACKOFF_MAX_SEC = 30.0
#: A chainlet up this long has its backoff reset: its next crash restarts it quickly again.
STABLE_AFTER_SEC = 60.0
STOP_GRACE_SEC = 10.0
#: A draining incarnation is killed after this long; the runtime itself stops waiting for
#: in-flight requests after the contract's ``graceful_shutdown_sec`` (30 s by default).
DRAIN_KILL_AFTER_SEC = 60.0
#: Listen backlog of a chainlet's socket: connections that wait while it restarts (the kernel
#: caps it at net.core.somaxconn, 4096 on current kernels).
BACKLOG = 2048
#: A fork server that died is started again at most this often (meanwhile: new interpreters).
FORK_SERVER_RESTART_SEC = 5.0


@dataclasses.dataclass
class Backoff:
    """Delay before restarting a crashed chainlet: doubling per crash in a row, capped, and back
    to ``base_sec`` once it had run ``stable_after_sec`` without crashing."""

    base_sec: float = BACKOFF_BASE_SEC
    max_sec: float = BACKOFF_MAX_SEC
    stable_after_sec: float = STABLE_AFTER_SEC
    streak: int = 0

    def after_crash(self, up_for_sec: float) -> float:
        if up_for_sec >= self.stable_after_sec:
            self.streak = 0
        self.streak += 1
        return float(min(self.max_sec, self.base_sec * 2 ** (self.streak - 1)))


class _Incarnation:
    """One process of a chainlet, with its own nonce and private probe port."""

    def __init__(self, spec: DesiredChainlet, process: ChildProcess, instance_id: str,
                 probe_port: int, ready_timeout_sec: float, health: HealthPolicy) -> None:
        self.spec = spec
        self.health = health
        self.process = process
        self.instance_id = instance_id
        self.probe_port = probe_port
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.ready_timeout_sec = ready_timeout_sec
        self.ready_deadline = self.started + ready_timeout_sec
        self.pending: concurrent.futures.Future[probe.ProbeResult] | None = None
        self.next_probe_at = 0.0
        self.probe_interval_sec = READY_PROBE_FIRST_INTERVAL_SEC
        self.missed = 0
        self.last_probe = probe.ProbeResult(False, None, "not probed yet")

    @property
    def pid(self) -> int:
        return self.process.pid


class _Chainlet:
    """A chainlet the supervisor owns: its socket, the incarnation serving, one starting."""

    def __init__(self, spec: DesiredChainlet) -> None:
        self.spec = spec
        self.sock: socket.socket | None = None
        self.serving: _Incarnation | None = None
        self.candidate: _Incarnation | None = None
        #: Start `restart_spec` at this time (a crash or clean exit of the serving incarnation).
        self.restart_at: float | None = None
        self.restart_spec: DesiredChainlet | None = None
        self.backoff = Backoff()
        #: Fingerprints that were ready in this supervisor: their failures are crashes, not
        #: failed deploys.
        self.proven: set[str] = set()
        self.failed_fingerprint: str | None = None
        self.state = ChainletState(
            name=spec.name, content_hash=spec.content_hash, fingerprint=spec.fingerprint,
            port=spec.port, url=f"http://127.0.0.1:{spec.port}", log_file=spec.log_file,
        )

    def incarnations(self) -> list[_Incarnation]:
        return [i for i in (self.serving, self.candidate) if i is not None]


class Supervisor:
    def __init__(self, chain_dir: ChainDir, liveness: probe.ProbePolicy = probe.LIVENESS,
                 fork: bool = True, fork_server: ForkServer | None = None) -> None:
        self.dir = chain_dir
        self.liveness = liveness
        self.chainlets: dict[str, _Chainlet] = {}
        self.desired: DesiredState | None = None
        self.generation = 0
        self._draining: list[tuple[ChildProcess, float]] = []
        self._fork = fork
        #: Adopted from the launcher, which started it beside this process: it imported the
        #: runtime while this process did its own imports.
        self._forks: ForkServer | None = fork_server
        self._forks_started = time.monotonic() if fork_server else -FORK_SERVER_RESTART_SEC
        self._probes = concurrent.futures.ThreadPoolExecutor(64, thread_name_prefix="probe")
        self._reload = True
        self._stop = False
        self._dirty = True
        self._wake = threading.Event()

    # -- signals -----------------------------------------------------------------------------
    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._reload = True
        self._wake.set()

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        self._stop = True
        self._wake.set()

    # -- main loop ---------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGHUP, self._on_hup)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        logger.info("supervisor %d started for chain %s", os.getpid(), self.dir.name)
        if self._fork and not become_subreaper():
            logger.warning("cannot become a child subreaper; chainlets start as new interpreters")
            self._fork = False
        if self._forks is not None:
            logger.info("fork server adopted (pid %d)", self._forks.pid)
            if not self._fork:
                self._stop_fork_server()
        self._start_fork_server(sys.executable)  # it imports while we read the desired state
        try:
            while not self._stop:
                if self._reload:
                    self._reload = False
                    self._reconcile()
                now = time.monotonic()
                for chainlet in self.chainlets.values():
                    self._tick(chainlet, now)
                self._reap_draining(now)
                self._watch_fork_server()
                if self._dirty:
                    self._write_state()
                self._wake.wait(self._idle_sec(time.monotonic()))
                self._wake.clear()
            self._stop_all()
            self._write_state()
        finally:
            if self._forks is not None:
                self._forks.stop()
            self._probes.shutdown(wait=False, cancel_futures=True)
        logger.info("supervisor %d stopped", os.getpid())
        return 0

    def _idle_sec(self, now: float) -> float:
        """How long the main loop may sleep: until the next readiness probe is due, at most
        `POLL_INTERVAL_SEC` (a probe's answer and a signal wake it anyway). A starting chainlet
        is re-probed a few milliseconds after a "not yet", not a whole period later."""
        due = [c.candidate.next_probe_at for c in self.chainlets.values()
               if c.candidate is not None and c.candidate.pending is None]
        return max(0.0, min([POLL_INTERVAL_SEC, *(at - now for at in due)]))

    def _reconcile(self) -> None:
        desired = self.dir.read_desired()
        if not isinstance(desired, DesiredState):
            logger.error("no desired state in %s", self.dir.desired)
            self._stop = True
            return
        self.desired = desired
        wanted = {c.name for c in desired.chainlets}
        for name in [n for n in self.chainlets if n not in wanted]:
            self._remove(self.chainlets.pop(name))
        for spec in desired.chainlets:
            chainlet = self.chainlets.get(spec.name)
            if chainlet is None or chainlet.spec.port != spec.port:
                if chainlet is not None:
                    self._remove(chainlet)
                chainlet = self.chainlets[spec.name] = _Chainlet(spec)
            self._converge(chainlet, spec)
        # Keep the desired order (dependencies first) for status output.
        self.chainlets = {c.name: self.chainlets[c.name] for c in desired.chainlets}
        self.generation = desired.generation
        self._dirty = True

    def _converge(self, chainlet: _Chainlet, spec: DesiredChainlet) -> None:
        """Make ``chainlet`` head for ``spec``: keep what already runs it, else start it beside."""
        chainlet.spec = spec
        chainlet.failed_fingerprint = None  # a new push retries a version that failed before
        state = chainlet.state
        state.fingerprint, state.content_hash, state.log_file = (
            spec.fingerprint, spec.content_hash, spec.log_file)
        candidate, serving = chainlet.candidate, chainlet.serving
        if candidate is not None and candidate.spec.fingerprint == spec.fingerprint:
            return
        if candidate is not None:  # superseded before it was ready
            logger.info("%s: dropping the incarnation still starting (pid %d), superseded",
                        spec.name, candidate.pid)
            self._drain(candidate)
            chainlet.candidate = None
        if serving is not None and serving.spec.fingerprint == spec.fingerprint:
            state.message = None  # e.g. a rollback to the version that kept serving
            return
        if serving is None and chainlet.restart_at is not None:
            chainlet.restart_spec = spec  # restart (after its backoff) as the new version
            return
        if serving is not None:
            logger.info("%s changed: starting the new version beside pid %d", spec.name, serving.pid)
        self._start(chainlet, spec)

    # -- incarnations ------------------------------------------------------------------------
    def _start(self, chainlet: _Chainlet, spec: DesiredChainlet) -> None:
        assert self.desired is not None
        chainlet.restart_at = chainlet.restart_spec = None
        try:
            if chainlet.sock is None:
                chainlet.sock = _listen(spec.port)
            contract = RuntimeContract.read(pathlib.Path(spec.contract_file))
        except (OSError, ConfigError) as exc:
            self._fail(chainlet, spec, _cannot_start(spec, exc))
            return
        instance_id = secrets.token_hex(8)
        probes = _listen(0, backlog=16)
        health = health_policy(spec.health_checks, liveness=self.liveness)
        contract = contract.model_copy(update={
            "instance_id": instance_id, "listen_fd": chainlet.sock.fileno(),
            "probe_fd": probes.fileno(), "liveness_budget_sec": health.restart_after_sec,
        })
        env = {k: v for k, v in os.environ.items() if k != CONTRACT_FILE_ENV}
        env.update({CONTRACT_JSON_ENV: contract.model_dump_json(), "PYTHONUNBUFFERED": "1"})
        try:
            with open(spec.log_file, "ab") as log:
                process = self._launch(spec, env, log.fileno(), chainlet.sock, probes)
        except OSError as exc:
            self._fail(chainlet, spec, _cannot_start(spec, exc))
            return
        finally:
            probes_port = int(probes.getsockname()[1])
            probes.close()  # the process's own now: a dead process's probes are refused at once
        chainlet.candidate = _Incarnation(spec, process, instance_id, probes_port,
                                          self.desired.ready_timeout_sec, health)
        self._dirty = True
        logger.info("started %s pid=%d port=%d instance=%s", spec.name, process.pid, spec.port,
                    instance_id)

    def _launch(self, spec: DesiredChainlet, env: dict[str, str], log_fd: int,
                sock: socket.socket, probes: socket.socket) -> ChildProcess:
        """Fork the chainlet from the fork server; a new interpreter if that fails."""
        assert self.desired is not None
        python = self.desired.python_executable
        if self._forks is not None and self._forks.python != python:
            self._stop_fork_server()  # pushed with another interpreter: fork from that one
        if self._forks is None:
            self._start_fork_server(python)
        if self._forks is not None:
            request = ForkRequest(
                name=spec.name, contract_json=env[CONTRACT_JSON_ENV],
                env={k: v for k, v in env.items() if k != CONTRACT_JSON_ENV},
            )
            try:
                return self._forks.fork(request, log_fd, sock.fileno(), probes.fileno())
            except ForkServerError as exc:
                logger.warning("%s: %s; starting it as a new interpreter", spec.name, exc)
                self._forks = None  # stopped by fork(); a fresh one after FORK_SERVER_RESTART_SEC
        return subprocess.Popen(
            [python, "-m", "infra_chains.serve"], stdin=subprocess.DEVNULL, stdout=log_fd,
            stderr=subprocess.STDOUT, env=env, close_fds=True,
            pass_fds=(sock.fileno(), probes.fileno()),
        )

    # -- the fork server ---------------------------------------------------------------------
    def _start_fork_server(self, python: str) -> None:
        now = time.monotonic()
        if (not self._fork or self._forks is not None
                or now - self._forks_started < FORK_SERVER_RESTART_SEC):
            return
        self._forks_started = now
        env = {k: v for k, v in os.environ.items() if k not in (CONTRACT_FILE_ENV, CONTRACT_JSON_ENV)}
        try:
            self._forks = ForkServer.start(python, str(self.dir.path), env)
        except OSError as exc:
            logger.warning("cannot start the fork server (%s); chainlets start as new "
                           "interpreters", exc)
            return
        logger.info("fork server started (pid %d)", self._forks.pid)

    def _stop_fork_server(self) -> None:
        if self._forks is not None:
            self._forks.stop()
            self._forks = None

    def _watch_fork_server(self) -> None:
        """Replace a fork server that died; reap the chainlets' own orphaned children."""
        if self._forks is not None and (code := self._forks.poll()) is not None:
            logger.warning("fork server pid %d exited with code %d; starting another",
                           self._forks.pid, code)
            self._stop_fork_server()
        if self._forks is None and not self._stop:  # rate-limited: FORK_SERVER_RESTART_SEC
            self._start_fork_server(self.desired.python_executable if self.desired else sys.executable)
        if self._fork:
            for pid, code in reap_strays(self._tracked):
                logger.info("reaped pid %d (exit code %d), a chainlet's orphaned child", pid, code)

    def _tracked(self, pid: int) -> bool:
        if self._forks is not None and pid == self._forks.pid:
            return True
        return any(pid == p.pid for p, _ in self._draining) or any(
            pid == i.pid for c in self.chainlets.values() for i in c.incarnations())

    def _tick(self, chainlet: _Chainlet, now: float) -> None:
        if chainlet.restart_at is not None and now >= chainlet.restart_at and chainlet.candidate is None:
            self._start(chainlet, chainlet.restart_spec or chainlet.spec)
        if chainlet.serving is not None:
            self._watch_serving(chainlet, chainlet.serving, now)
        if chainlet.candidate is not None:
            self._watch_candidate(chainlet, chainlet.candidate, now)
        self._update_state(chainlet)

    def _watch_serving(self, chainlet: _Chainlet, serving: _Incarnation, now: float) -> None:
        code = serving.process.poll()
        if code is not None:
            chainlet.serving = None
            chainlet.state.last_exit_code = code
            up_for = now - serving.started
            if code == 0:
                # A graceful stop (an external SIGTERM, say) is not a crash: come back at once;
                # meanwhile the socket's backlog holds the connections.
                self._restart(chainlet, serving.spec, now, f"exited cleanly (code 0) after "
                              f"{up_for:.0f} s; restarted at once")
            else:
                delay = chainlet.backoff.after_crash(up_for)
                self._crashed(chainlet, serving.spec, now, delay, f"exited with code {code}")
            return
        if serving.pending is not None:
            if not serving.pending.done():
                return
            result = serving.pending.result()
            serving.pending = None
            serving.last_probe = result
            serving.missed = 0 if result.ok else serving.missed + 1
            if serving.missed >= serving.health.liveness.failure_threshold:
                serving.process.kill()
                serving.process.wait()
                chainlet.serving = None
                chainlet.state.last_exit_code = serving.process.returncode
                delay = chainlet.backoff.after_crash(now - serving.started)
                self._crashed(chainlet, serving.spec, now, delay,
                              f"hung: missed {serving.missed} liveness probes in a row "
                              f"({result.detail}); killed")
                return
        if now >= serving.next_probe_at:
            liveness = serving.health.liveness
            serving.next_probe_at = now + liveness.period_sec
            serving.pending = self._probe(serving, probe.LIVE_PATH, liveness.timeout_sec)

    def _watch_candidate(self, chainlet: _Chainlet, candidate: _Incarnation, now: float) -> None:
        code = candidate.process.poll()
        if code is not None:
            chainlet.candidate = None
            chainlet.state.last_exit_code = code
            self._candidate_failed(chainlet, candidate, now,
                                   f"exited with code {code} before it was ready")
            return
        if candidate.pending is not None and candidate.pending.done():
            candidate.last_probe = candidate.pending.result()
            candidate.pending = None
            if candidate.last_probe.ok:
                self._promote(chainlet, candidate)
                return
            candidate.next_probe_at = now + candidate.probe_interval_sec
            candidate.probe_interval_sec = min(READY_PROBE_INTERVAL_SEC, 2 * candidate.probe_interval_sec)
        if now > candidate.ready_deadline:
            self._drain(candidate, kill=True)
            chainlet.candidate = None
            self._candidate_failed(
                chainlet, candidate, now,
                f"not ready within the readiness timeout ({candidate.ready_timeout_sec:g} s; "
                f"last probe: {candidate.last_probe.detail})",
            )
            return
        if candidate.pending is None and now >= candidate.next_probe_at:
            candidate.pending = self._probe(candidate, probe.READY_PATH, READY_PROBE_TIMEOUT_SEC)

    def _probe(self, incarnation: _Incarnation, path: str,
               timeout_sec: float) -> concurrent.futures.Future[probe.ProbeResult]:
        """Probe in a thread; its answer wakes the main loop (a readiness seen at once)."""
        future = self._probes.submit(probe.probe, "127.0.0.1", incarnation.probe_port, path,
                                     timeout_sec=timeout_sec, instance_id=incarnation.instance_id)
        future.add_done_callback(lambda _: self._wake.set())
        return future

    def _promote(self, chainlet: _Chainlet, candidate: _Incarnation) -> None:
        """The candidate is ready (and accepts on the shared socket): the old one drains."""
        old = chainlet.serving
        chainlet.serving, chainlet.candidate = candidate, None
        candidate.next_probe_at = time.monotonic() + candidate.health.liveness_delay_sec
        chainlet.proven.add(candidate.spec.fingerprint)
        chainlet.state.started_at = candidate.started_wall
        if chainlet.state.status != "restarting":
            chainlet.state.message = None
        elif chainlet.state.message is not None:
            chainlet.state.message += "; ready again"
        if old is not None:
            logger.info("%s ready (pid %d); draining pid %d", chainlet.spec.name, candidate.pid, old.pid)
            self._drain(old)
        else:
            logger.info("%s ready (pid %d)", chainlet.spec.name, candidate.pid)
        self._dirty = True

    def _candidate_failed(self, chainlet: _Chainlet, candidate: _Incarnation, now: float,
                          reason: str) -> None:
        fingerprint = candidate.spec.fingerprint
        if fingerprint in chainlet.proven and chainlet.serving is None:
            # This version served before: a crash while coming back, retried with backoff.
            delay = chainlet.backoff.after_crash(now - candidate.started)
            self._crashed(chainlet, candidate.spec, now, delay, reason)
            return
        chainlet.failed_fingerprint = fingerprint
        kept = chainlet.serving
        suffix = (f"; the previous version (pid {kept.pid}) keeps serving" if kept is not None else "")
        self._fail(chainlet, candidate.spec, reason + suffix)

    def _crashed(self, chainlet: _Chainlet, spec: DesiredChainlet, now: float, delay: float,
                 reason: str) -> None:
        chainlet.state.restarts += 1
        self._restart(chainlet, spec, now + delay,
                      f"{reason}; restart #{chainlet.state.restarts} in {delay:.1f} s")

    def _restart(self, chainlet: _Chainlet, spec: DesiredChainlet, at: float, message: str) -> None:
        # Come back as the desired version unless that is the one that failed.
        target = spec if chainlet.spec.fingerprint == chainlet.failed_fingerprint else chainlet.spec
        chainlet.restart_at, chainlet.restart_spec = at, target
        chainlet.state.status = "restarting"
        chainlet.state.message = message
        self._dirty = True
        logger.warning("%s %s", chainlet.spec.name, message)

    def _fail(self, chainlet: _Chainlet, spec: DesiredChainlet, reason: str) -> None:
        chainlet.failed_fingerprint = spec.fingerprint
        chainlet.state.message = reason
        self._dirty = True
        logger.error("%s %s", spec.name, reason)

    def _update_state(self, chainlet: _Chainlet) -> None:
        state = chainlet.state
        status: ChainletStatus
        if chainlet.failed_fingerprint == chainlet.spec.fingerprint:
            status = "failed"
        elif chainlet.serving is not None and chainlet.serving.spec.fingerprint == chainlet.spec.fingerprint:
            status = "ready"
        elif chainlet.restart_at is not None or (state.status == "restarting" and chainlet.candidate):
            status = "restarting"
        elif chainlet.candidate is not None:
            status = "starting"
        else:
            status = "stopped"
        serving, candidate = chainlet.serving, chainlet.candidate
        pid = serving.pid if serving else (candidate.pid if candidate else None)
        starting_pid = candidate.pid if serving and candidate else None
        serving_fp = serving.spec.fingerprint if serving else None
        if (status, pid, starting_pid, serving_fp) != (
            state.status, state.pid, state.starting_pid, state.serving_fingerprint
        ):
            state.status, state.pid, state.starting_pid = status, pid, starting_pid
            state.serving_fingerprint = serving_fp
            self._dirty = True

    # -- stopping ----------------------------------------------------------------------------
    def _drain(self, incarnation: _Incarnation, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL): it stops accepting and finishes its requests; reaped later."""
        process = incarnation.process
        if process.poll() is None:
            if kill:
                process.kill()
            else:
                process.terminate()
        self._draining.append((process, time.monotonic() + DRAIN_KILL_AFTER_SEC))

    def _reap_draining(self, now: float) -> None:
        still: list[tuple[ChildProcess, float]] = []
        for process, kill_at in self._draining:
            if process.poll() is not None:
                continue
            if now >= kill_at:
                logger.warning("pid %d still draining after %.0f s; killing it", process.pid,
                               DRAIN_KILL_AFTER_SEC)
                process.kill()
            still.append((process, kill_at))
        self._draining = still

    def _remove(self, chainlet: _Chainlet) -> None:
        for incarnation in chainlet.incarnations():
            self._drain(incarnation)
        chainlet.serving = chainlet.candidate = None
        if chainlet.sock is not None:
            chainlet.sock.close()
        self._dirty = True

    def _stop_all(self) -> None:
        running = [i.process for c in reversed(self.chainlets.values())  # dependents first
                   for i in c.incarnations() if i.process.poll() is None]
        running += [p for p, _ in self._draining if p.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SEC
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for chainlet in self.chainlets.values():
            chainlet.serving = chainlet.candidate = None
            chainlet.state.status = "stopped"
            chainlet.state.pid = chainlet.state.starting_pid = None
            if chainlet.sock is not None:
                chainlet.sock.close()

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


def _listen(port: int, backlog: int = BACKLOG) -> socket.socket:
    """A listening loopback socket (SO_REUSEADDR: a restarted supervisor rebinds at once)."""
    return socket.create_server(("127.0.0.1", port), backlog=backlog)


def _cannot_start(spec: DesiredChainlet, exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == 98:  # EADDRINUSE
        return (f"cannot listen on 127.0.0.1:{spec.port}: another program holds the port; stop it "
                "or `down` this chain and push again (a new port is chosen)")
    return f"cannot start: {exc}"


def main(argv: list[str] | None = None) -> int:
    """``<chain dir> [--fork-server <pid> <control fd>]``; the option names a fork server the
    launcher started as this process's child (`targets.local.target`), to adopt."""
    args = sys.argv[1:] if argv is None else argv
    adopt = args[1:] if len(args) == 4 and args[1] == ADOPT_FORK_SERVER_OPTION else None
    if len(args) != 1 and not (adopt and adopt[1].isdigit() and adopt[2].isdigit()):
        print("usage: python -m infra_chains.targets.local.supervisor <chain dir> "
              f"[{ADOPT_FORK_SERVER_OPTION} <pid> <control fd>]", file=sys.stderr)
        return 2
    path = pathlib.Path(args[0])
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    chain_dir = ChainDir(path.name, root=path.parent.parent)
    fork_server = None
    if adopt is not None:
        try:
            fork_server = ForkServer.adopt(sys.executable, int(adopt[1]), int(adopt[2]))
        except (ForkServerError, OSError) as exc:
            logger.warning("cannot adopt the launcher's fork server (%s); starting another", exc)
    fork = os.environ.get(FORK_SERVER_ENV, "1") != "0"
    return Supervisor(chain_dir, fork=fork, fork_server=fork_server).run()


if __name__ == "__main__":
    sys.exit(main())
