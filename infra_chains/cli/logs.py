"""`infra-chains logs NAME`: the chainlets' logs, optionally followed."""

from __future__ import annotations

import typer
from rich.markup import escape

from infra_chains.cli import options
from infra_chains.cli.console import out_console


def logs(
    name: str = typer.Argument(..., help="The chain's name.", show_default=False),
    chainlet: str | None = typer.Option(None, "--chainlet", "-c", help="Only this chainlet ('supervisor' for the local supervisor)."),
    lines: int = typer.Option(50, "--lines", "-n", min=0, help="Lines to show from the end of each log (0: none)."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines (Ctrl-C to stop)."),
    target: str = options.DEPLOYED_TARGET,
    stack: str | None = options.STACK,
) -> None:
    """Print the last lines of each chainlet's log."""
    prefix = chainlet is None
    stream = options.deployed_target(target, stack).logs(name, chainlet, follow=follow, lines=lines)
    try:
        for line in stream:
            if prefix:
                out_console.print(f"[cyan]{escape(line.chainlet)}[/] | {escape(line.text)}", highlight=False)
            else:
                out_console.print(line.text, markup=False, highlight=False)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how --follow ends: not a failure
