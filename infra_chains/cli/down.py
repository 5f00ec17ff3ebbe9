"""`infra-chains down NAME`: stop every process of a chain and remove its secrets. Idempotent."""

from __future__ import annotations

import typer

from infra_chains.cli.console import err_console
from infra_chains.errors import ChainsUsageError
from infra_chains.targets.registry import get_target


def down(
    name: str = typer.Argument(..., help="The chain's name.", show_default=False),
    target: str = typer.Option("local", "--target", "-t", help="Where the chain is deployed."),
    stack: str | None = typer.Option(None, "--stack", "-s", help="Stack of the kubernetes target, e.g. dev.", show_default=False),
    yes: bool = typer.Option(False, "--yes", "-y", help="Confirm destroying a kubernetes stack's resources."),
) -> None:
    """Stop chain NAME and remove its state and secrets."""
    if target.lower() == "kubernetes" and not yes:
        # `pulumi destroy` deletes every resource of the stack: never without an explicit yes.
        raise ChainsUsageError(
            f"Taking chain {name} down on the kubernetes target destroys every resource of its "
            f"stack {stack or 'dev'} (pulumi destroy). Pass --yes to confirm."
        )
    if get_target(target, **({} if stack is None else {"stack": stack})).down(name):
        err_console.print(f"[green]✓[/] Chain {name} stopped and removed.", markup=True, highlight=False)
    else:
        err_console.print(f"No chain named {name} is deployed; nothing to do.", highlight=False)
