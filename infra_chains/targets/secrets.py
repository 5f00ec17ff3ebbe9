"""Secret values for a push: taken from explicit values or the environment, checked against what
the chain declares *before* anything starts, and written as 0600 files.

Values never reach a plan, contract, state file or log; only their names do. Reading them from
command-line options or ``.env`` files is the CLI's job (`infra_chains.cli.assignments`).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Callable, Mapping

from infra_chains.errors import ChainsUsageError
from infra_chains.plan.models import ChainPlan

#: How a Python caller supplies missing values; the CLI replaces it with its own options.
LIBRARY_HINT = (
    "Pass each in `secrets=` (a mapping of secret name to value), or set the environment "
    "variable of that name."
)


class MissingSecretsError(ChainsUsageError):
    """Secrets the chain declares have no value; nothing was started.

    ``missing`` maps each secret's name to the chainlets that use it.
    """

    def __init__(self, chain_name: str, missing: Mapping[str, list[str]], hint: str = LIBRARY_HINT) -> None:
        self.chain_name = chain_name
        self.missing = dict(missing)
        lines = "\n".join(f"  {key!r} (used by {', '.join(users)})" for key, users in self.missing.items())
        super().__init__(
            f"Missing secret value(s) for chain {chain_name!r}; nothing was started:\n{lines}\n{hint}"
        )

    def with_hint(self, hint: str) -> MissingSecretsError:
        """The same error, telling the user how to fix it in their own terms (e.g. CLI options)."""
        return MissingSecretsError(self.chain_name, self.missing, hint)


def resolve_secrets(
    plan: ChainPlan,
    provided: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The value of every secret the chain declares; one error lists all that are missing.

    Lookup order for key ``k``: ``provided[k]``, then the environment variable ``k``, then
    ``K`` (upper case).
    """
    provided = provided or {}
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    missing: dict[str, list[str]] = {}
    for key in plan.secret_keys:
        value = provided.get(key, environ.get(key, environ.get(key.upper())))
        if value is None:
            missing[key] = [s.name for s in plan.chainlets if key in s.secret_keys]
        else:
            values[key] = value
    if missing:
        raise MissingSecretsError(plan.chain_name, missing)
    return values


def write_private(path: pathlib.Path, data: str | bytes) -> None:
    """Write ``path`` readable by its owner only (0600), atomically: a process starting meanwhile
    never reads half a secret."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def read_or_create_private(path: pathlib.Path, make: Callable[[], bytes]) -> bytes:
    """The content of the 0600 file ``path``, written from ``make()`` first if it is missing or
    empty (keys and tokens a target keeps for a chain's lifetime)."""
    with contextlib.suppress(FileNotFoundError):
        if data := path.read_bytes():
            return data
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = make()
    write_private(path, data)
    return data


def write_secret_files(directory: pathlib.Path, values: Mapping[str, str]) -> bool:
    """Make ``directory`` hold exactly ``values`` (0700 dir, 0600 files); True if anything changed."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    changed = False
    for existing in directory.iterdir():
        if existing.name not in values:
            existing.unlink()
            changed = True
    for key, value in values.items():
        path = directory / key
        if path.exists() and path.read_text() == value:
            continue
        write_private(path, value)
        changed = True
    return changed
