"""``KEY=VALUE`` options and ``.env`` files, as `push` reads them for ``--secret``,
``--secrets-file`` and ``--user-env``. Command-line parsing lives here, not in the library."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping

from infra_chains.errors import ChainsUsageError

#: What the CLI tells a user who is missing secret values (the library speaks of `secrets=`).
SECRETS_HINT = (
    "Pass each as --secret KEY=VALUE, put it in a --secrets-file (KEY=VALUE lines), or set the "
    "environment variable of that name."
)


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
            # Only the part before '=' is shown: the line may hold a secret value.
            raise ChainsUsageError(f"{path}:{number}: expected KEY=VALUE, got {key.strip()[:40]!r}.")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def parse_assignments(items: list[str], option: str) -> dict[str, str]:
    """``["K=V", ...]`` from the command line; ``option`` names the option in errors."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ChainsUsageError(f"{option} expects KEY=VALUE, got {key!r} without '=VALUE'.")
        values[key] = value
    return values


def build_arguments(items: list[str], environ: Mapping[str, str]) -> dict[str, str]:
    """``--build-arg`` as docker's CLI takes it: ``NAME=VALUE``, or ``NAME`` alone for the value of
    the environment variable of that name (a token stays out of ``ps`` and the shell's history)."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise ChainsUsageError(f"--build-arg expects NAME=VALUE or NAME, got {item!r}.")
        if not sep:
            if key not in environ:
                raise ChainsUsageError(
                    f"--build-arg {key}: no environment variable {key} to take its value from; "
                    f"export it, or pass {key}=VALUE."
                )
            value = environ[key]
        values[key] = value
    return values


def secret_values(secrets_file: pathlib.Path | None, secrets: list[str]) -> dict[str, str]:
    """The secret values of ``--secrets-file`` and ``--secret K=V`` (the latter win)."""
    values = parse_env_file(secrets_file) if secrets_file else {}
    values.update(parse_assignments(secrets, "--secret"))
    return values
