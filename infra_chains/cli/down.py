"""`infra-chains down NAME`: stop every process of a chain and remove its secrets. Idempotent."""

from __future__ import annotations

import typer

from infra_chains.cli import options
from infra_chains.cli.console import err_console
from infra_chains.errors import ChainsUsageError


def down(
    name: str = typer.Argument(..., help="The chain's name.", show_default=False),
    target: str = options.DEPLOYED_TARGET,
    stack: str | None = options.STACK,
    yes: bool = typer.Option(False, "--yes", "-y", help="Confirm destroying a kubernetes stack's resources."),
) -> None:
    """Stop chain NAME and remove its state and secrets."""
    if target.lower() == "kubernetes" and not yes:
        # `pulumi destroy` deletes every resource of the stack: never without an explicit yes.
        raise ChainsUsageError(
            f"Taking chain {name} down on the kubernetes target destroys every resource of its "
            f"stack {stack or 'dev'} (pulumi destroy). Pass --yes to confirm."
        )
    if options.deployed_target(target, stack).down(name):
        err_console.print(f"[green]✓[/] Chain {name} stopped and removed.", markup=True, highlight=False)
    else:
        err_console.print(f"No chain named {name} is deployed; nothing to do.", highlight=False)
