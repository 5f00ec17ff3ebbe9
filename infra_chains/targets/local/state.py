"""The local target's on-disk state: one directory per chain under the state root.

```
$INFRA_CHAINS_HOME (default: $XDG_STATE_HOME/infra-chains, i.e. ~/.local/state/infra-chains)
├── locks/<chain>.lock     flock held by push/down, so two never interleave (outlives `down`)
└── chains/<chain>/
    ├── plan.json          the ChainPlan last pushed
    ├── desired.json       what the supervisor must run (written by push)
    ├── state.json         what the supervisor runs (written by the supervisor only)
    ├── supervisor.log
    ├── contracts/<chainlet>.json
    ├── logs/<chainlet>.log
    └── secrets/<chainlet>/<key>   (dirs 0700, files 0600; removed by down)
```
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import time
from collections.abc import Iterator
from typing import Literal, TypeVar

import pydantic

from infra_chains.errors import ConfigError
from infra_chains.remote_config import HealthChecks

HOME_ENV = "INFRA_CHAINS_HOME"
ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)

#: The supervisor writes only the shared vocabulary of `targets.base.ChainletStatus`;
#: "crashed" is still read from state files written by older versions.
ChainletStatus = Literal["starting", "ready", "crashed", "restarting", "failed", "stopped"]
#: Statuses of a chainlet the supervisor keeps as it is when its fingerprint did not change.
KEPT_STATUSES: frozenset[str] = frozenset({"ready", "starting", "restarting", "crashed"})


def state_root() -> pathlib.Path:
    if explicit := os.environ.get(HOME_ENV):
        return pathlib.Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(pathlib.Path.home() / ".local" / "state")
    return pathlib.Path(base) / "infra-chains"


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class DesiredChainlet(_Model):
    name: str
    content_hash: str
    fingerprint: str = pydantic.Field(description="Changes whenever the process must restart.")
    port: int
    contract_file: str
    log_file: str
    #: The chainlet's ``ChainletOptions.health_checks``: the supervisor derives its liveness from
    #: them (`serving.health.health_policy`); push lengthens ``ready_timeout_sec`` by them.
    health_checks: HealthChecks = HealthChecks()


class DesiredState(_Model):
    """Written by push; the supervisor makes reality match it."""

    generation: int
    chain_name: str
    entrypoint: str
    ready_timeout_sec: float
    python_executable: str
    chainlets: list[DesiredChainlet]  # dependency order


class ChainletState(_Model):
    """One chainlet as the supervisor runs it.

    ``fingerprint`` and ``status`` are those of the *desired* version (the last push);
    ``serving_fingerprint`` is the version taking traffic. They differ while a new version starts
    beside the old one (``starting``) and after it failed (``failed``, ``message`` says why; the
    old version keeps serving until push rolls ``desired.json`` back).
    """

    name: str
    content_hash: str
    fingerprint: str
    port: int
    url: str
    pid: int | None = None
    status: ChainletStatus = "starting"
    restarts: int = pydantic.Field(default=0, description="Restarts after a crash or a hang; "
                                   "a clean exit (code 0) is restarted without counting.")
    started_at: float | None = None
    last_exit_code: int | None = None
    message: str | None = None
    log_file: str
    serving_fingerprint: str | None = None
    starting_pid: int | None = pydantic.Field(
        default=None, description="A new incarnation starting beside the serving one (`pid`)."
    )


class ChainState(_Model):
    """Written by the supervisor only (atomically); read by push, status, logs and down."""

    chain_name: str
    entrypoint: str
    generation: int
    supervisor_pid: int
    chainlets: list[ChainletState]
    updated_at: float = pydantic.Field(default_factory=time.time)

    def chainlet(self, name: str) -> ChainletState | None:
        return next((c for c in self.chainlets if c.name == name), None)

    @property
    def entrypoint_state(self) -> ChainletState | None:
        return self.chainlet(self.entrypoint)


class ChainDir:
    """Paths of one chain's state directory."""

    def __init__(self, chain_name: str, root: pathlib.Path | None = None) -> None:
        self.name = chain_name
        self.path = (root or state_root()) / "chains" / chain_name

    @property
    def plan(self) -> pathlib.Path:
        return self.path / "plan.json"

    @property
    def desired(self) -> pathlib.Path:
        return self.path / "desired.json"

    @property
    def state(self) -> pathlib.Path:
        return self.path / "state.json"

    @property
    def supervisor_log(self) -> pathlib.Path:
        return self.path / "supervisor.log"

    @property
    def contracts(self) -> pathlib.Path:
        return self.path / "contracts"

    @property
    def logs(self) -> pathlib.Path:
        return self.path / "logs"

    @property
    def secrets(self) -> pathlib.Path:
        return self.path / "secrets"

    def exists(self) -> bool:
        return self.path.is_dir()

    def create(self) -> None:
        for directory in (self.path, self.contracts, self.logs):
            directory.mkdir(parents=True, exist_ok=True)
        self.secrets.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.secrets, 0o700)

    @property
    def lock(self) -> pathlib.Path:
        """Outside the chain's directory, which `down` removes: a lock file deleted while held
        lets the next push take a fresh one while a waiting push still takes the old one."""
        return self.path.parent.parent / "locks" / f"{self.name}.lock"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the chain's lock; push and down never interleave for one chain."""
        self.lock.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read_state(self) -> ChainState | None:
        return _read(self.state, ChainState)

    def read_desired(self) -> DesiredState | None:
        return _read(self.desired, DesiredState)


def write_atomic(path: pathlib.Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _read(path: pathlib.Path, model: type[ModelT]) -> ModelT | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return model.model_validate_json(text)
    except pydantic.ValidationError as exc:
        raise ConfigError(f"State file {path} is corrupt ({exc.error_count()} errors); take "
                          "the chain down (down works without it) and push it again.") from exc


def list_chains(root: pathlib.Path | None = None) -> list[str]:
    base = (root or state_root()) / "chains"
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
