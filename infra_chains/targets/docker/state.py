"""What the docker target keeps on the deploying machine, per chain: the few things an engine cannot.

``<state root>/docker/<chain>/`` (0700; state root as for the local target, ``$INFRA_CHAINS_HOME``):

- ``chain.json``: the entrypoint's host port (stable across pushes, even after a failed one
  removed its container) and the chain's environment;
- ``fingerprint-key``: the HMAC key of the containers' ``infra-chains.fingerprint`` labels;
- ``chain-token``: the chain token (`targets/access.py`);
- ``run/<chainlet>/<digest>/``: what is bind-mounted read-only at ``/run/infra-chains`` in that
  chainlet's container: ``chain-token`` and ``secrets/<name>``, 0600, owned by the image's user.

Everything else (which chainlets run, which image, which fingerprint) is read from the engine's
container labels. `down` removes the whole directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import pathlib
import secrets as secrets_module
import shutil
from collections.abc import Iterator, Mapping

import pydantic

from infra_chains.plan.names import validate_chain_name
from infra_chains.targets.access import CHAIN_TOKEN_FILE, ensure_chain_token
from infra_chains.targets.local.state import state_root
from infra_chains.targets.secrets import read_or_create_private


class ChainRecord(pydantic.BaseModel):
    entrypoint_port: int | None = None
    environment: str | None = None


class DockerChainDir:
    """One chain's directory, built from a validated name only."""

    def __init__(self, chain_name: str, root: pathlib.Path | None = None) -> None:
        self.name = validate_chain_name(chain_name)
        self.path = (root or state_root()) / "docker" / self.name

    def exists(self) -> bool:
        return self.path.is_dir()

    def create(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One push or down of this chain at a time (from this machine)."""
        self.create()
        with open(self.path / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def read_record(self) -> ChainRecord:
        try:
            return ChainRecord.model_validate_json((self.path / "chain.json").read_text())
        except (OSError, ValueError):
            return ChainRecord()

    def write_record(self, record: ChainRecord) -> None:
        tmp = self.path / "chain.json.tmp"
        tmp.write_text(record.model_dump_json())
        os.replace(tmp, self.path / "chain.json")

    def fingerprint_key(self) -> bytes:
        return read_or_create_private(self.path / "fingerprint-key", lambda: secrets_module.token_bytes(32))

    def chain_token(self) -> str:
        return ensure_chain_token(self.path).read_text().strip()

    def write_run_dir(self, chainlet: str, token: str, values: Mapping[str, str],
                      owner: tuple[int, int]) -> pathlib.Path:
        """The directory mounted at ``/run/infra-chains`` for ``chainlet``: content-addressed
        (keyed), never rewritten, so a running container's files never change under it."""
        digest = hmac.new(self.fingerprint_key(), digestmod=hashlib.sha256)
        digest.update(f"{token}\0{owner[0]}:{owner[1]}".encode())
        for name in sorted(values):
            digest.update(f"\0{name}\0{values[name]}".encode())
        directory = self.path / "run" / chainlet / digest.hexdigest()[:16]
        if directory.is_dir():
            return directory
        tmp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "secrets").mkdir(mode=0o700, parents=True)
        _write_private(tmp / CHAIN_TOKEN_FILE, token, owner)
        for name, value in values.items():
            _write_private(tmp / "secrets" / name, value, owner)
        for path in (tmp / "secrets", tmp):
            os.chmod(path, 0o700)
            _chown(path, owner)
        os.replace(tmp, directory)
        return directory

    def collect_run_dirs(self, keep: set[pathlib.Path]) -> None:
        """Remove the mounted directories no container uses any more."""
        run = self.path / "run"
        if not run.is_dir():
            return
        for chainlet_dir in run.iterdir():
            for directory in chainlet_dir.iterdir():
                if directory not in keep:
                    shutil.rmtree(directory, ignore_errors=True)
            with contextlib.suppress(OSError):
                chainlet_dir.rmdir()

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _write_private(path: pathlib.Path, value: str, owner: tuple[int, int]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    _chown(path, owner)


def _chown(path: pathlib.Path, owner: tuple[int, int]) -> None:
    """Give the file to the image's user (root can); else leave it readable to that user by mode.

    A non-root deploying user cannot chown: then the files are made readable by everyone in the
    container, and the chain's 0700 directory still hides them from other users of this machine.
    """
    if (os.geteuid(), os.getegid()) == owner:
        return
    try:
        os.chown(path, *owner)
    except PermissionError:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
