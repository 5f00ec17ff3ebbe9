"""`infra-chains status [NAME]`: what runs, where, and how often it restarted.

``--json`` prints `infra_chains.targets.base.ChainStatus` (one chain) or a list of them (every
chain): a stable shape, documented there and in docs/architecture.md.
"""

from __future__ import annotations

import pydantic
import typer
from rich.table import Table

from infra_chains.cli import options
from infra_chains.cli.console import out_console
from infra_chains.targets.base import ChainStatus

_STATUS_STYLE = {
    "ready": "[green]ready[/]",
    "starting": "[yellow]starting[/]",
    "restarting": "[yellow]restarting[/]",
    "failed": "[bold red]failed[/]",
    "stopped": "[dim]stopped[/]",
    "unsupervised": "[bold yellow]unsupervised[/]",
    "unknown": "[dim]unknown[/]",
}


def status(
    name: str | None = typer.Argument(None, help="A chain's name (default: every chain).", show_default=False),
    target: str = options.DEPLOYED_TARGET,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    stack: str | None = options.STACK,
) -> None:
    """Show the chainlets of chain NAME (or of every chain on the target)."""
    deploy_target = options.deployed_target(target, stack)
    chains = [name] if name is not None else deploy_target.chains()
    views = [deploy_target.status(chain) for chain in chains]
    if as_json:
        if name is not None:
            out_console.print(views[0].model_dump_json(indent=2), markup=False)
        else:
            text = pydantic.TypeAdapter(list[ChainStatus]).dump_json(views, indent=2).decode()
            out_console.print(text, markup=False)
        return
    if not views:
        out_console.print(f"No chains are deployed on the {deploy_target.name} target.")
        return
    for view in views:
        environment = f" ({view.environment})" if view.environment else ""
        table = Table(title=f"chain {view.name}{environment}", title_justify="left",
                      caption="* entrypoint", caption_justify="left")
        for column in ("chainlet", "status", "url", "restarts", "pid", "message"):
            table.add_column(column, no_wrap=column != "message")
        for c in view.chainlets:
            table.add_row(
                c.name + ("*" if c.is_entrypoint else ""),
                _STATUS_STYLE.get(c.status, c.status),
                c.url or "",
                str(c.restarts),
                str(c.pid or "-"),
                c.message or "",
            )
        out_console.print(table)
