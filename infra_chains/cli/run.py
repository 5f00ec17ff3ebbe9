"""`infra-chains run NAME --data JSON`: call a deployed chain's entrypoint."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import typer

from infra_chains.cli import options
from infra_chains.cli.console import out_console
from infra_chains.errors import ChainsError, ChainsUsageError, RemoteError


def _load_data(data: str) -> dict[str, Any]:
    source = "--data"
    if data.startswith("@"):
        path = pathlib.Path(data[1:])
        source = str(path)
        try:
            data = path.read_text()
        except OSError as exc:
            raise ChainsUsageError(f"Cannot read {path}: {exc.strerror}.") from exc
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ChainsUsageError(f"{source} is not valid JSON: {exc.msg} at position {exc.pos}.") from exc
    if not isinstance(value, dict):
        raise ChainsUsageError(
            f"{source} must be a JSON object of run_remote's keyword arguments, e.g. "
            '\'{"text": "hello"}\'.'
        )
    return value


def run(
    name: str = typer.Argument(..., help="The chain's name.", show_default=False),
    data: str = typer.Option("{}", "--data", "-d", help="JSON object of keyword arguments, or @file."),
    target: str = options.DEPLOYED_TARGET,
    stack: str | None = options.STACK,
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds to wait for the answer."),
) -> None:
    """Call the entrypoint of chain NAME and print its JSON answer."""
    payload = _load_data(data)
    service = options.deployed_target(target, stack).service(name)
    try:
        result = service.run_remote(payload, timeout_sec=timeout)
    except ChainsError:
        raise  # RemoteError and friends: main() prints the message (the remote traceback), exit 1
    except Exception as exc:
        # A remote built-in exception (ValueError, ...) is re-raised as its own type, carrying
        # the remote detail; report it like any remote error, never with the CLI's traceback.
        if getattr(exc, "__infra_chains_detail__", None) is None:
            raise
        raise RemoteError(str(exc), chainlet=service.name, url=service.run_remote_url) from exc
    out_console.print_json(json.dumps(result))
