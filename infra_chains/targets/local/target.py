"""The local target: every chainlet a supervised HTTP server process on 127.0.0.1.

Push writes the desired state (contracts, ports, secrets) and lets the chain's supervisor
(`supervisor.py`) make it so; ports are kept per chainlet name across pushes, so URLs, the
entrypoint's above all, stay stable and unchanged chainlets keep running untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import pathlib
import secrets as secrets_module
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping

from infra_chains.build.layout import ChainletLayout
from infra_chains.chain_service import ChainService
from infra_chains.errors import ChainsUsageError, DeploymentError
from infra_chains.plan.models import ChainPlan
from infra_chains.public_types import DeployedChainlet
from infra_chains.plan.names import is_valid_chain_name, validate_chain_name, validate_chainlet_name
from infra_chains.targets.access import ensure_chain_token, loopback_hosts, with_chain_access
from infra_chains.targets.base import (
    ChainletInfo,
    ChainletProgress,
    ChainletStatus,
    ChainStatus,
    LogLine,
    ProgressCallback,
    Target,
)
from infra_chains.targets.contracts import predict_url, runtime_contract
from infra_chains.targets.local.logs import follow_logs
from infra_chains.targets.local.state import (
    KEPT_STATUSES,
    ChainDir,
    ChainletStatus as ChainletStatusLocal,
    ChainState,
    DesiredChainlet,
    DesiredState,
    list_chains,
    pid_alive,
    write_atomic,
)
from infra_chains.targets.secrets import write_secret_files

LOG_TAIL_LINES = 30
_DAEMON_LAUNCHER = (
    "import os, sys\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    os.execv(sys.argv[1], sys.argv[1:])\n"
)
#: How long a supervisor may take to pick up a new desired state before push gives up on it.
SUPERVISOR_START_SEC = 15.0
_POLL_SEC = 0.05


class LocalChainService(ChainService):
    """A chain running on this machine; reads the supervisor's state on every call."""

    def __init__(self, chain_dir: ChainDir) -> None:
        super().__init__(chain_dir.name)
        self._dir = chain_dir

    @property
    def chain_dir(self) -> ChainDir:
        return self._dir

    def state(self) -> ChainState:
        state = self._dir.read_state()
        if not isinstance(state, ChainState):
            raise ChainsUsageError(f"Chain {self.name!r} is not deployed on this machine.")
        return state

    @property
    def run_remote_url(self) -> str:
        entry = self.state().entrypoint_state
        if entry is None:  # pragma: no cover - the supervisor always writes the entrypoint
            raise DeploymentError(f"Chain {self.name!r} has no entrypoint in its state.")
        return predict_url(entry.url)

    @property
    def status_page_url(self) -> str:
        return self._dir.state.as_uri()

    def get_info(self) -> list[DeployedChainlet]:
        state = self.state()
        supervised = pid_alive(state.supervisor_pid)
        return [
            DeployedChainlet(
                name=c.name,
                is_entrypoint=c.name == state.entrypoint,
                status=shared_status(c.status) if supervised else "stopped",
                logs_url=pathlib.Path(c.log_file).as_uri(),
                url=predict_url(c.url),
            )
            for c in state.chainlets
        ]


class LocalTarget(Target):
    """Deploys chains as processes on this machine (the default target)."""

    name = "local"

    def __init__(self, root: pathlib.Path | None = None, python_executable: str | None = None) -> None:
        self._root = root
        self._python = python_executable or sys.executable

    def _dir(self, chain_name: str) -> ChainDir:
        # Every path of a chain is built here, from a validated name only: `down("../x")` or
        # `down("")` must never reach a directory outside the chain's own.
        return ChainDir(validate_chain_name(chain_name), self._root)

    # -- deploy ------------------------------------------------------------------------------
    def deploy(
        self,
        plan: ChainPlan,
        secrets: Mapping[str, str],
        *,
        ready_timeout_sec: float = 60.0,
        on_progress: ProgressCallback | None = None,
    ) -> LocalChainService:
        chain_dir = self._dir(plan.chain_name)
        with chain_dir.locked():
            chain_dir.create()
            previous = chain_dir.read_state()
            previous = previous if isinstance(previous, ChainState) else None
            if previous is not None and not pid_alive(previous.supervisor_pid):
                _kill_chainlets(previous)  # a crashed supervisor's orphans
                previous = None
            desired = self._desired_state(plan, secrets, chain_dir, previous, ready_timeout_sec)
            changed = {c.name for c in desired.chainlets} - _unchanged(previous, desired)
            if previous is not None and not changed and all(c.status == "ready" for c in previous.chainlets):
                if on_progress is not None:
                    on_progress(_progress(previous, changed))
                return LocalChainService(chain_dir)  # nothing changed: start nothing
            write_atomic(chain_dir.plan, plan.model_dump_json(indent=2))
            write_atomic(chain_dir.desired, desired.model_dump_json(indent=2))
            if previous is not None:
                os.kill(previous.supervisor_pid, signal.SIGHUP)
            else:
                self._spawn_supervisor(chain_dir, pathlib.Path(plan.workspace_dir))
            try:
                self._wait_ready(chain_dir, desired, changed, on_progress)
            except DeploymentError:
                _stop(chain_dir)
                raise
        return LocalChainService(chain_dir)

    def _desired_state(
        self,
        plan: ChainPlan,
        secrets: Mapping[str, str],
        chain_dir: ChainDir,
        previous: ChainState | None,
        ready_timeout_sec: float,
    ) -> DesiredState:
        old_ports = {c.name: c.port for c in previous.chainlets} if previous else {}
        ports = _assign_ports([s.name for s in plan.chainlets], old_ports)
        base_urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        key = _fingerprint_key(chain_dir)
        token_file = ensure_chain_token(chain_dir.secrets)  # one per chain, kept across pushes
        chainlets: list[DesiredChainlet] = []
        for spec in plan.chainlets:
            secrets_dir = chain_dir.secrets / spec.name
            values = {k: secrets[k] for k in spec.secret_keys}
            if spec.secret_keys:
                write_secret_files(secrets_dir, values)
            contract = runtime_contract(
                plan, spec, ChainletLayout.on_host(plan, spec, self._python),
                base_urls=base_urls, port=ports[spec.name], secrets_dir=secrets_dir,
            )
            contract = with_chain_access(
                contract, entrypoint=spec.name == plan.entrypoint, token_file=token_file,
                allowed_hosts=loopback_hosts(ports[spec.name]),
            )
            contract_file = chain_dir.contracts / f"{spec.name}.json"
            contract.write(contract_file)
            # Keyed hash: a changed secret restarts its chainlet, yet no state file can be used
            # to guess a secret's value.
            fingerprint = hmac.new(key, digestmod=hashlib.sha256)
            fingerprint.update(contract.model_dump_json().encode())
            fingerprint.update(self._python.encode())
            for name in sorted(values):
                fingerprint.update(f"\0{name}\0{values[name]}".encode())
            chainlets.append(DesiredChainlet(
                name=spec.name,
                content_hash=spec.content_hash,
                fingerprint=f"{spec.content_hash[:16]}-{fingerprint.hexdigest()[:32]}",
                port=ports[spec.name],
                contract_file=str(contract_file),
                log_file=str(chain_dir.logs / f"{spec.name}.log"),
            ))
        generation = (previous.generation + 1) if previous else 1
        return DesiredState(
            generation=generation,
            chain_name=plan.chain_name,
            entrypoint=plan.entrypoint,
            ready_timeout_sec=ready_timeout_sec,
            python_executable=self._python,
            chainlets=chainlets,
        )

    def _spawn_supervisor(self, chain_dir: ChainDir, workspace: pathlib.Path) -> None:
        command = [self._python, "-m", "infra_chains.targets.local.supervisor", str(chain_dir.path)]
        with open(chain_dir.supervisor_log, "ab") as log:
            # A stdlib-only launcher forks, the child starts a session of its own and becomes
            # the supervisor, and the launcher exits at once: push holds no child process, the
            # supervisor outlives the terminal, and one killpg stops it with its chainlets.
            # (Daemonizing inside the supervisor would make push wait for its imports, ~0.3 s.)
            launcher = subprocess.run(
                [self._python, "-c", _DAEMON_LAUNCHER, *command],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                close_fds=True,
                cwd=workspace,
                timeout=SUPERVISOR_START_SEC,
            )
        if launcher.returncode != 0:
            raise DeploymentError(_supervisor_failure(chain_dir))

    def _wait_ready(
        self,
        chain_dir: ChainDir,
        desired: DesiredState,
        changed: set[str],
        on_progress: ProgressCallback | None,
    ) -> None:
        started = time.monotonic()
        deadline = started + desired.ready_timeout_sec + SUPERVISOR_START_SEC
        while True:
            state = chain_dir.read_state()
            current = isinstance(state, ChainState) and state.generation == desired.generation
            if isinstance(state, ChainState) and current:
                if on_progress is not None:
                    on_progress(_progress(state, changed))
                failed = [c for c in state.chainlets if c.status == "failed"]
                if failed:
                    raise DeploymentError(_failure_message(chain_dir, failed[0].name, failed[0].message))
                if all(c.status == "ready" for c in state.chainlets):
                    return
                if not pid_alive(state.supervisor_pid):
                    raise DeploymentError(_supervisor_failure(chain_dir))
            elif time.monotonic() - started > SUPERVISOR_START_SEC:
                raise DeploymentError(_supervisor_failure(chain_dir))
            if time.monotonic() > deadline:
                raise DeploymentError(
                    f"Chain {desired.chain_name!r} was not ready within "
                    f"{desired.ready_timeout_sec:.0f}s; see `infra-chains logs {desired.chain_name}`."
                )
            time.sleep(_POLL_SEC)

    # -- the rest ----------------------------------------------------------------------------
    def service(self, chain_name: str) -> LocalChainService:
        chain_dir = self._dir(chain_name)
        if not isinstance(chain_dir.read_state(), ChainState):
            known = ", ".join(self.chains()) or "none"
            raise ChainsUsageError(
                f"No chain named {chain_name!r} is deployed locally (deployed: {known})."
            )
        return LocalChainService(chain_dir)

    def status(self, chain_name: str) -> ChainStatus:
        service = self.service(chain_name)
        state = service.state()
        supervised = pid_alive(state.supervisor_pid)
        entry = state.entrypoint_state
        return ChainStatus(
            name=chain_name,
            target=self.name,
            environment=_environment(service.chain_dir),
            entrypoint=state.entrypoint,
            entrypoint_url=predict_url(entry.url) if entry else None,
            supervisor_pid=state.supervisor_pid if supervised else None,
            chainlets=[
                ChainletInfo(
                    name=c.name,
                    status=shared_status(c.status) if supervised else "stopped",
                    is_entrypoint=c.name == state.entrypoint,
                    url=predict_url(c.url),
                    restarts=c.restarts,
                    content_hash=c.content_hash[:12],
                    message=c.message,
                    pid=c.pid if supervised else None,
                    port=c.port,
                )
                for c in state.chainlets
            ],
        )

    def logs(
        self,
        chain_name: str,
        chainlet: str | None = None,
        *,
        follow: bool = False,
        lines: int = 50,
    ) -> Iterator[LogLine]:
        """Chainlet logs, and the supervisor's as chainlet ``"supervisor"``."""
        if lines < 0:
            raise ChainsUsageError(f"lines must be 0 or more, got {lines}.")
        files = self.log_files(chain_name)
        if chainlet is not None:
            if chainlet not in files:
                validate_chainlet_name(chainlet)
                raise ChainsUsageError(
                    f"Chain {chain_name!r} has no chainlet {chainlet!r}; choose one of: "
                    f"{', '.join(files)}."
                )
            files = {chainlet: files[chainlet]}
        chain_dir = self._dir(chain_name)
        return follow_logs(files, lines, follow, still_deployed=chain_dir.exists)

    def down(self, chain_name: str) -> bool:
        chain_dir = self._dir(chain_name)
        if not chain_dir.exists():
            return False
        with chain_dir.locked():
            _stop(chain_dir)
        return True

    def chains(self) -> list[str]:
        # A directory that is not a valid chain name was not made by push; never touch it.
        return [name for name in list_chains(self._root) if is_valid_chain_name(name)]

    def log_files(self, chain_name: str) -> dict[str, pathlib.Path]:
        chain_dir = self._dir(chain_name)
        state = self.service(chain_name).state()
        files = {c.name: pathlib.Path(c.log_file) for c in state.chainlets}
        files["supervisor"] = chain_dir.supervisor_log
        return files


def shared_status(status: ChainletStatusLocal) -> ChainletStatus:
    """The supervisor's chainlet status in the vocabulary every target shares."""
    return "restarting" if status == "crashed" else status


def _environment(chain_dir: ChainDir) -> str | None:
    try:
        return ChainPlan.model_validate_json(chain_dir.plan.read_text()).environment
    except (OSError, ValueError):
        return None


def _unchanged(previous: ChainState | None, desired: DesiredState) -> set[str]:
    if previous is None:
        return set()
    old = {c.name: c.fingerprint for c in previous.chainlets if c.status in KEPT_STATUSES}
    return {c.name for c in desired.chainlets if old.get(c.name) == c.fingerprint}


def _progress(state: ChainState, changed: set[str]) -> list[ChainletProgress]:
    return [
        ChainletProgress(name=c.name, status=c.status, url=predict_url(c.url), restarts=c.restarts,
                         changed=c.name in changed, message=c.message)
        for c in state.chainlets
    ]


def _assign_ports(names: list[str], keep: Mapping[str, int]) -> dict[str, int]:
    """Reuse each chainlet's port; pick distinct free loopback ports for new ones."""
    ports = {name: keep[name] for name in names if name in keep}
    held: list[socket.socket] = []
    try:
        for name in names:
            if name in ports:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            held.append(sock)  # held open until all are chosen, so no two coincide
            ports[name] = sock.getsockname()[1]
    finally:
        for sock in held:
            sock.close()
    return ports


def _fingerprint_key(chain_dir: ChainDir) -> bytes:
    path = chain_dir.secrets / ".fingerprint-key"
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    key = secrets_module.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def _tail(path: pathlib.Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "  (no log written)"
    tail = text.splitlines()[-lines:]
    return "\n".join(f"  | {line}" for line in tail) or "  (log is empty)"


def _failure_message(chain_dir: ChainDir, chainlet: str, reason: str | None) -> str:
    log = chain_dir.logs / f"{chainlet}.log"
    return (
        f"Chainlet {chainlet!r} of chain {chain_dir.name!r} failed: {reason or 'unknown reason'}.\n"
        f"Last lines of its log ({log}):\n{_tail(log)}\n"
        f"Every process of chain {chain_dir.name!r} was stopped."
    )


def _supervisor_failure(chain_dir: ChainDir) -> str:
    return (
        f"The supervisor of chain {chain_dir.name!r} did not come up.\n"
        f"Last lines of {chain_dir.supervisor_log}:\n{_tail(chain_dir.supervisor_log)}"
    )


def _stop(chain_dir: ChainDir) -> None:
    """Stop the supervisor (which stops its chainlets), then remove the chain's directory."""
    state = chain_dir.read_state()
    state = state if isinstance(state, ChainState) else None
    if state is not None and pid_alive(state.supervisor_pid):
        os.kill(state.supervisor_pid, signal.SIGTERM)
        deadline = time.monotonic() + 20.0
        while pid_alive(state.supervisor_pid) and time.monotonic() < deadline:
            _reap(state.supervisor_pid)
            time.sleep(_POLL_SEC)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(state.supervisor_pid, signal.SIGKILL)
        _reap(state.supervisor_pid)
    if state is not None:
        _kill_chainlets(state)
    shutil.rmtree(chain_dir.path, ignore_errors=True)


def _kill_chainlets(state: ChainState) -> None:
    for chainlet in state.chainlets:
        pid = chainlet.pid
        if pid and pid_alive(pid) and _is_chainlet_process(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _is_chainlet_process(pid: int) -> bool:
    """Guard against a recycled pid: only kill what runs our serving runtime."""
    try:
        return b"infra_chains.serve" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
