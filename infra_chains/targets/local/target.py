"""The local target: every chainlet a supervised HTTP server process on 127.0.0.1.

Push writes the desired state (contracts, ports, secrets) and lets the chain's supervisor
(`supervisor.py`) make it so; ports are kept per chainlet name across pushes, so URLs, the
entrypoint's above all, stay stable and unchanged chainlets keep running untouched.

What a desired state names is content-addressed and never overwritten: each contract
(``contracts/<chainlet>.<digest>.json``), the secrets it reads (``secrets/<chainlet>/<digest>/``)
and the snapshot of the pushed files it runs from (``snapshots/<digest>/``, see `snapshot.py`).
So a restart runs what was pushed, and a failed push can be rolled back by restoring the previous
``desired.json``: the supervisor keeps the old version serving until a new one is ready, push
waits for the *new* generation only (generations never repeat, and a dead supervisor's state
file is discarded), and files no desired state names any more are collected. The supervisor
starts with an allow-listed environment (`environ.py`).
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
import sys
import time
from collections.abc import Iterator, Mapping

from infra_chains.build.layout import ChainletLayout
from infra_chains.chain_service import ChainService
from infra_chains.errors import ChainsUsageError, ConfigError, DeploymentError
from infra_chains.plan.models import ChainPlan
from infra_chains.plan.workspace import workspace_files
from infra_chains.serving.contract import RuntimeContract
from infra_chains.public_types import DeployedChainlet
from infra_chains.plan.names import is_valid_chain_name, validate_chain_name
from infra_chains.targets.access import ensure_chain_token, loopback_hosts, with_chain_access
from infra_chains.targets.base import (
    ChainletInfo,
    ChainletProgress,
    ChainletStatus,
    ChainStatus,
    LogLine,
    ProgressCallback,
    Target,
    select_log_sources,
    warn_of_replicas,
)
from infra_chains.targets.assets import check_mount_locations, default_asset_cache_dir
from infra_chains.targets.contracts import AssetDirs, predict_url, runtime_contract
from infra_chains.targets.local import forkserver, launcher, processes, snapshot
from infra_chains.targets.local.environ import supervisor_environment
from infra_chains.targets.local.logs import follow_logs
from infra_chains.targets.ports import choose_ports
from infra_chains.targets.local.state import (
    KEPT_STATUSES,
    ChainDir,
    ChainletState as ChainletStateLocal,
    ChainletStatus as ChainletStatusLocal,
    ChainState,
    DesiredChainlet,
    DesiredState,
    list_chains,
    pid_alive,
    write_atomic,
)
from infra_chains.targets.secrets import read_or_create_private, resolve_secrets, write_secret_files

LOG_TAIL_LINES = 30
#: How long a supervisor may take to pick up a new desired state before push gives up on it.
SUPERVISOR_START_SEC = 15.0
_POLL_SEC = 0.05
#: How often push reads the supervisor's state while it waits (a small file: cheap to read, and
#: the wait ends that much sooner after the last chainlet is ready).
_READY_POLL_SEC = 0.02


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
        supervised = processes.is_supervisor(state.supervisor_pid, self._dir)
        return [
            DeployedChainlet(
                name=c.name,
                is_entrypoint=c.name == state.entrypoint,
                status=shared_status(c.status) if supervised else _unsupervised_status(c),
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
        """Make the chain run ``plan``; a running chain is only ever replaced by a ready one.

        What can be refused (a missing secret, a bad name) is checked before the chain's
        directory is touched. A first push that fails stops and removes everything it started; a
        re-push that fails is rolled back: the previous desired state is restored and the
        supervisor, which kept the old processes serving, is told, and the error says so.
        """
        values = resolve_secrets(plan, secrets, environ={})  # MissingSecretsError names them all
        warn_of_replicas(plan, "local", "process")
        chain_dir = self._dir(plan.chain_name)
        with chain_dir.locked():
            previous = chain_dir.read_desired() if chain_dir.exists() else None
            try:
                return self._deploy_locked(plan, values, chain_dir, previous, ready_timeout_sec, on_progress)
            except BaseException:
                if previous is None:
                    _stop(chain_dir)  # a first push leaves nothing behind, whatever went wrong
                raise

    def _deploy_locked(
        self,
        plan: ChainPlan,
        values: Mapping[str, str],
        chain_dir: ChainDir,
        previous: DesiredState | None,
        ready_timeout_sec: float,
        on_progress: ProgressCallback | None,
    ) -> LocalChainService:
        chain_dir.create()
        state = chain_dir.read_state()
        last_generation = max(previous.generation if previous else 0, state.generation if state else 0)
        if state is not None and not processes.is_supervisor(state.supervisor_pid, chain_dir):
            # The supervisor died: its chainlets may still serve, unsupervised, on the chain's
            # ports. Replace them, and never read its state file again: it describes the past.
            _retire_orphans(chain_dir)
            state = None
        desired = self._desired_state(plan, values, chain_dir, previous, last_generation + 1,
                                      ready_timeout_sec)
        changed = {c.name for c in desired.chainlets} - _unchanged(state, desired)
        if state is not None and not changed and all(c.status == "ready" for c in state.chainlets):
            if on_progress is not None:
                on_progress(_progress(state, changed))
            _collect(chain_dir, [d for d in (previous, desired) if d is not None])
            return LocalChainService(chain_dir)  # nothing changed: start nothing
        previous_plan = chain_dir.plan.read_text() if previous is not None else None
        write_atomic(chain_dir.plan, plan.model_dump_json(indent=2))
        self._apply(chain_dir, desired)
        try:
            self._wait_ready(chain_dir, desired, changed, on_progress)
        except BaseException as exc:
            if previous is None:
                if isinstance(exc, DeploymentError):
                    raise DeploymentError(
                        f"{exc}\nEvery process of chain {chain_dir.name!r} was stopped."
                    ) from exc
                raise
            if previous_plan is not None:
                write_atomic(chain_dir.plan, previous_plan)
            self._roll_back(chain_dir, previous, desired, exc)
            raise
        _collect(chain_dir, [d for d in (previous, desired) if d is not None])
        return LocalChainService(chain_dir)

    def _apply(self, chain_dir: ChainDir, desired: DesiredState) -> None:
        """Hand ``desired`` to the chain's supervisor, starting one if none runs."""
        write_atomic(chain_dir.desired, desired.model_dump_json(indent=2))
        state = chain_dir.read_state()
        if state is not None and processes.is_supervisor(state.supervisor_pid, chain_dir):
            os.kill(state.supervisor_pid, signal.SIGHUP)
        else:
            with contextlib.suppress(FileNotFoundError):
                chain_dir.state.unlink()  # a dead supervisor's: never mistaken for the new one's
            self._spawn_supervisor(chain_dir)

    def _roll_back(
        self, chain_dir: ChainDir, previous: DesiredState, failed: DesiredState, error: BaseException
    ) -> None:
        """Restore ``previous`` (under a new generation) and wait until it serves again.

        Raises a `DeploymentError` that says what failed and that the chain was rolled back; a
        non-deployment error (Ctrl-C) is re-raised by the caller once the chain is restored.
        """
        restored = previous.model_copy(update={"generation": failed.generation + 1})
        self._apply(chain_dir, restored)
        try:
            self._wait_ready(chain_dir, restored, set(), None)
        except DeploymentError as second:
            raise DeploymentError(
                f"{error}\nRolling chain {chain_dir.name!r} back to its previous version failed "
                f"too: {second}"
            ) from error
        finally:
            _collect(chain_dir, [restored, failed])
        if isinstance(error, DeploymentError):
            raise DeploymentError(
                f"{error}\nRolled back: chain {chain_dir.name!r} keeps serving its previous version "
                "at the same URL; fix the error and push again."
            ) from error

    def _desired_state(
        self,
        plan: ChainPlan,
        secrets: Mapping[str, str],
        chain_dir: ChainDir,
        previous: DesiredState | None,
        generation: int,
        ready_timeout_sec: float,
    ) -> DesiredState:
        check_mount_locations(plan)  # docs/assets.md: refused before anything starts
        old = {c.name: c for c in previous.chainlets} if previous else {}
        ports = _assign_ports([s.name for s in plan.chainlets], {n: c.port for n, c in old.items()})
        base_urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        key = _fingerprint_key(chain_dir)
        token_file = ensure_chain_token(chain_dir.secrets)  # one per chain, kept across pushes
        snapshots = _Snapshots(chain_dir.path / "snapshots")
        chainlets: list[DesiredChainlet] = []
        for spec in plan.chainlets:
            values = {k: secrets[k] for k in spec.secret_keys}
            # Content-addressed, like everything a desired state names: a failed push never
            # overwrites what the running version reads when it restarts.
            secrets_dir = chain_dir.secrets / spec.name / _keyed_digest(key, values)
            host_layout = ChainletLayout.on_host(plan, spec, self._python)

            def contract_for(layout: ChainletLayout) -> RuntimeContract:
                contract = runtime_contract(
                    plan, spec, layout, base_urls=base_urls, port=ports[spec.name], secrets_dir=secrets_dir,
                    assets=AssetDirs(default_asset_cache_dir(),
                                     chain_dir.path / "assets" / f"{spec.name}-{spec.content_hash[:12]}"),
                )
                return with_chain_access(
                    contract, entrypoint=spec.name == plan.entrypoint, token_file=token_file,
                    allowed_hosts=loopback_hosts(ports[spec.name]),
                )

            contract = contract_for(host_layout)
            # Keyed hash: a changed secret restarts its chainlet, yet no state file can be used
            # to guess a secret's value. It covers the contract as laid out on the host, not the
            # snapshot, so a chainlet whose code did not change keeps running.
            fingerprint = hmac.new(key, digestmod=hashlib.sha256)
            fingerprint.update(contract.model_dump_json().encode())
            fingerprint.update(self._python.encode())
            for name in sorted(values):
                fingerprint.update(f"\0{name}\0{values[name]}".encode())
            fingerprint_text = f"{spec.content_hash[:16]}-{fingerprint.hexdigest()[:32]}"
            kept = old.get(spec.name)
            if kept is not None and kept.fingerprint == fingerprint_text and pathlib.Path(kept.contract_file).is_file():
                contract_file = pathlib.Path(kept.contract_file)  # unchanged: keep its snapshot
            else:
                if spec.secret_keys:
                    write_secret_files(secrets_dir, values)
                text = contract_for(snapshots.layout(host_layout)).model_dump_json(indent=2)
                digest = hashlib.sha256(text.encode()).hexdigest()[:16]
                contract_file = chain_dir.contracts / f"{spec.name}.{digest}.json"
                write_atomic(contract_file, text)
            chainlets.append(DesiredChainlet(
                name=spec.name,
                content_hash=spec.content_hash,
                fingerprint=fingerprint_text,
                port=ports[spec.name],
                contract_file=str(contract_file),
                log_file=str(chain_dir.logs / f"{spec.name}.log"),
                health_checks=spec.deployment.health_checks,
            ))
        return DesiredState(
            generation=generation,
            chain_name=plan.chain_name,
            entrypoint=plan.entrypoint,
            # A chainlet's startup_threshold_seconds lengthens push's wait (never shortens it).
            ready_timeout_sec=max([ready_timeout_sec, *(
                c.health_checks.startup_threshold_seconds or 0 for c in chainlets)]),
            python_executable=self._python,
            chainlets=chainlets,
        )

    def _spawn_supervisor(self, chain_dir: ChainDir) -> None:
        # Detached, in a session of its own, with the fork server beside it (launcher.py). The
        # environment is an allow-list (environ.py): the shell's credentials stay there. The
        # working directory is the chain's own, which outlives any workspace edit.
        env = supervisor_environment()
        fork = env.get(processes.FORK_SERVER_ENV, "1") != "0"
        code = launcher.launch(
            self._python,
            [self._python, "-m", processes.SUPERVISOR_MODULE, str(chain_dir.path)],
            forkserver.command(self._python, str(chain_dir.path)) if fork else None,
            log=chain_dir.supervisor_log, cwd=chain_dir.path, env=env,
            timeout_sec=SUPERVISOR_START_SEC,
        )
        if code != 0:
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
                raise DeploymentError(_timeout_message(chain_dir, desired, state if current else None))
            time.sleep(_READY_POLL_SEC)

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
        supervised = processes.is_supervisor(state.supervisor_pid, service.chain_dir)
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
                    status=shared_status(c.status) if supervised else _unsupervised_status(c),
                    is_entrypoint=c.name == state.entrypoint,
                    url=predict_url(c.url),
                    restarts=c.restarts,
                    content_hash=c.content_hash[:12],
                    message=c.message,
                    pid=c.pid if supervised or _unsupervised_status(c) == "unsupervised" else None,
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
        files = select_log_sources(chain_name, self.log_files(chain_name), chainlet, lines)
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


def _unsupervised_status(chainlet: ChainletStateLocal) -> ChainletStatus:
    """A chainlet whose supervisor died: still serving on its own, or gone."""
    alive = chainlet.pid is not None and pid_alive(chainlet.pid) and _is_chainlet_process(chainlet.pid)
    return "unsupervised" if alive else "stopped"


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
    """Reuse each chainlet's port; pick distinct free ports (see `targets.ports`) for new ones."""
    ports = {name: keep[name] for name in names if name in keep}
    new = [name for name in names if name not in ports]
    ports.update(zip(new, choose_ports(len(new), avoid=ports.values()), strict=True))
    return ports


def _fingerprint_key(chain_dir: ChainDir) -> bytes:
    return read_or_create_private(chain_dir.secrets / ".fingerprint-key", lambda: secrets_module.token_bytes(32))


class _Snapshots:
    """The snapshots one push takes: each source directory copied once, however many use it."""

    def __init__(self, store: pathlib.Path) -> None:
        self._store = store
        self._taken: dict[str, str] = {}

    def _take(self, directory: str) -> str:
        if directory not in self._taken:
            root = pathlib.Path(directory)
            self._taken[directory] = str(snapshot.take(workspace_files(root), root, self._store))
        return self._taken[directory]

    def layout(self, host: ChainletLayout) -> ChainletLayout:
        """``host`` with the workspace, package dirs and data dir replaced by their snapshots."""
        return host.model_copy(update={
            "workspace_dir": self._take(host.workspace_dir),
            "package_dirs": [self._take(p) for p in host.package_dirs],
            "data_dir": self._take(host.data_dir) if host.data_dir is not None else None,
        })


def _keyed_digest(key: bytes, values: Mapping[str, str]) -> str:
    digest = hmac.new(key, digestmod=hashlib.sha256)
    for name in sorted(values):
        digest.update(f"\0{name}\0{values[name]}".encode())
    return digest.hexdigest()[:16]


def _collect(chain_dir: ChainDir, keep: list[DesiredState]) -> None:
    """Remove the contracts, snapshots and secret directories none of ``keep`` refers to.

    Push keeps the previous desired state's files as well as the new one's: an unchanged
    chainlet still runs from the snapshot it started with, and a rollback needs them all.
    """
    contracts = {pathlib.Path(c.contract_file) for desired in keep for c in desired.chainlets}
    snapshots: set[pathlib.Path] = set()
    secret_dirs: set[pathlib.Path] = set()
    for path in contracts:
        try:
            contract = RuntimeContract.read(path)
        except ConfigError:
            continue
        snapshots.update([contract.workspace_dir, *contract.extra_python_paths])
        if contract.data_dir is not None:
            snapshots.add(contract.data_dir)
        if contract.secrets_dir is not None:
            secret_dirs.add(contract.secrets_dir)
    for path in chain_dir.contracts.glob("*.json"):
        if path not in contracts:
            path.unlink(missing_ok=True)
    snapshot.collect(chain_dir.path / "snapshots", snapshots)
    for chainlet_dir in (p for p in chain_dir.secrets.iterdir() if p.is_dir()):
        for values_dir in chainlet_dir.iterdir():
            if values_dir not in secret_dirs:
                shutil.rmtree(values_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            chainlet_dir.rmdir()  # only when empty


def _retire_orphans(chain_dir: ChainDir) -> None:
    """Stop the chainlets a dead supervisor left serving, so a new one can take their ports."""
    left = processes.kill_and_wait(processes.chainlets(chain_dir))
    if left:
        raise DeploymentError(
            f"Chain {chain_dir.name!r}: processes {left} of its dead supervisor did not exit; "
            "stop them and push again."
        )


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
        f"Last lines of its log ({log}):\n{_tail(log)}"
    )


def _timeout_message(chain_dir: ChainDir, desired: DesiredState, state: ChainState | None) -> str:
    """Which chainlets were not ready in time, and where their logs are (the target's `logs`)."""
    waiting = [f"{c.name} ({c.status})" for c in state.chainlets if c.status != "ready"] if state else []
    which = f": not ready: {', '.join(waiting)}" if waiting else ""
    return (
        f"Chain {desired.chain_name!r} was not ready within {desired.ready_timeout_sec:.0f}s"
        f"{which}. Their logs are in {chain_dir.logs} (the target's logs(...) shows them)."
    )


def _supervisor_failure(chain_dir: ChainDir) -> str:
    return (
        f"The supervisor of chain {chain_dir.name!r} did not come up.\n"
        f"Last lines of {chain_dir.supervisor_log}:\n{_tail(chain_dir.supervisor_log)}"
    )


def _stop(chain_dir: ChainDir) -> None:
    """Stop the supervisor (which stops its chainlets), then remove the chain's directory.

    The supervisors and chainlets are found in /proc as well as in the state file, which a
    supervisor that died, or one that never wrote it, leaves stale or absent; a corrupt one (edited
    by hand, a damaged disk) counts as absent, since `down` is the way out of it.
    """
    try:
        state = chain_dir.read_state()
    except ConfigError:
        state = None
    listed = [state.supervisor_pid] if state is not None else []
    for pid in sorted(set(listed) | set(processes.supervisors(chain_dir))):
        if not processes.is_supervisor(pid, chain_dir):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20.0
        while pid_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(_POLL_SEC)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        _reap(pid)
    _kill_chainlets(state, chain_dir)
    shutil.rmtree(chain_dir.path, ignore_errors=True)


def _kill_chainlets(state: ChainState | None, chain_dir: ChainDir) -> None:
    """Kill what the state names and whatever else runs from this chain's contracts."""
    listed = [c.pid for c in state.chainlets if c.pid] if state is not None else []
    listed = [pid for pid in listed if pid_alive(pid) and _is_chainlet_process(pid)]
    processes.kill_and_wait(sorted(set(listed) | set(processes.chainlets(chain_dir))))


def _is_chainlet_process(pid: int) -> bool:
    """Guard against a recycled pid: only kill what runs our serving runtime."""
    try:
        return b"infra_chains.serve" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
