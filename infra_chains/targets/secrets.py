"""Secret values for a push: gathered from explicit values, a ``.env`` file and the environment,
checked against what the chain declares *before* anything starts, and written as 0600 files.

Values never reach a plan, contract, state file or log; only their names do.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping

from infra_chains.errors import ChainsUsageError
from infra_chains.plan.models import ChainPlan


def parse_env_file(path: pathlib.Path) -> dict[str, str]:
    """Read ``KEY=VALUE`` lines (``#`` comments, optional ``export`` and quotes)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ChainsUsageError(f"Cannot read secrets file {path}: {exc.strerror}.") from exc
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ChainsUsageError(
                f"{path}:{number}: expected KEY=VALUE, got {raw.strip()[:40]!r}."
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def parse_assignments(items: list[str], what: str) -> dict[str, str]:
    """``["K=V", ...]`` from the command line; ``what`` names the option in errors."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ChainsUsageError(f"{what} expects KEY=VALUE, got {item.split('=')[0]!r}=….")
        values[key] = value
    return values


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
    missing: list[str] = []
    for key in plan.secret_keys:
        value = provided.get(key, environ.get(key, environ.get(key.upper())))
        if value is None:
            users = ", ".join(s.name for s in plan.chainlets if key in s.secret_keys)
            missing.append(f"  {key!r} (used by {users})")
        else:
            values[key] = value
    if missing:
        raise ChainsUsageError(
            "Missing secret value(s); nothing was started:\n" + "\n".join(missing) + "\n"
            "Pass each as --secret KEY=VALUE, put it in a --secrets-file, or set the "
            "environment variable of that name."
        )
    return values


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
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
        os.chmod(path, 0o600)
        changed = True
    return changed
