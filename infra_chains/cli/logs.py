"""`infra-chains logs NAME`: the chainlets' logs, optionally followed."""

from __future__ import annotations

import pathlib
import time

import typer

from infra_chains.cli.console import out_console
from infra_chains.errors import ChainsUsageError
from infra_chains.targets.local import LocalTarget


def logs(
    name: str = typer.Argument(..., help="The chain's name.", show_default=False),
    chainlet: str | None = typer.Option(None, "--chainlet", "-c", help="Only this chainlet ('supervisor' for the supervisor)."),
    lines: int = typer.Option(50, "--lines", "-n", help="Lines to show from the end of each log."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines (Ctrl-C to stop)."),
) -> None:
    """Print the last lines of each chainlet's log."""
    files = LocalTarget().log_files(name)
    if chainlet is not None:
        if chainlet not in files:
            raise ChainsUsageError(
                f"Chain {name!r} has no chainlet {chainlet!r}; choose one of: {', '.join(files)}."
            )
        files = {chainlet: files[chainlet]}
    prefix = len(files) > 1
    positions: dict[str, int] = {}
    for label, path in files.items():
        text = path.read_text(errors="replace") if path.exists() else ""
        for line in text.splitlines()[-lines:]:
            _emit(label, line, prefix)
        positions[label] = len(text.encode())
    try:
        while follow:
            time.sleep(0.25)
            for label, path in files.items():
                positions[label] = _print_new(label, path, positions[label], prefix)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how --follow ends: not a failure


def _print_new(label: str, path: pathlib.Path, position: int, prefix: bool) -> int:
    try:
        with open(path, "rb") as handle:
            handle.seek(position)
            chunk = handle.read()
    except FileNotFoundError:
        return position
    for line in chunk.decode(errors="replace").splitlines():
        _emit(label, line, prefix)
    return position + len(chunk)


def _emit(label: str, line: str, prefix: bool) -> None:
    out_console.print(f"[cyan]{label}[/] | {line}" if prefix else line, markup=prefix, highlight=False)
