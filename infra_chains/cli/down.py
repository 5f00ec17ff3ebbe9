"""`infra-chains down NAME`: stop every process of a chain and remove its secrets. Idempotent."""

from __future__ import annotations

import typer

from infra_chains.cli.console import err_console
from infra_chains.targets.registry import get_target


def down(
    name: str = typer.Argument(..., help="The chain's name.", show_default=False),
    target: str = typer.Option("local", "--target", "-t", help="Where the chain is deployed."),
) -> None:
    """Stop chain NAME and remove its state and secrets."""
    if get_target(target).down(name):
        err_console.print(f"[green]✓[/] Chain {name} stopped and removed.", markup=True, highlight=False)
    else:
        err_console.print(f"No chain named {name} is deployed; nothing to do.", highlight=False)
