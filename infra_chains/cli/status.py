"""`infra-chains status [NAME]`: what runs, where, and how often it restarted."""

from __future__ import annotations

import pydantic
import typer
from rich.table import Table

from infra_chains.cli.console import out_console
from infra_chains.targets.contracts import predict_url
from infra_chains.targets.local import LocalTarget
from infra_chains.targets.local.state import ChainletStatus, pid_alive


class ChainletStatusView(pydantic.BaseModel):
    name: str
    status: ChainletStatus
    pid: int | None
    port: int
    url: str
    restarts: int
    content_hash: str
    message: str | None


class ChainStatusView(pydantic.BaseModel):
    """What `status --json` prints for one chain (a stable, documented shape)."""

    name: str
    entrypoint: str
    entrypoint_url: str
    supervisor_pid: int | None
    chainlets: list[ChainletStatusView]


def chain_status(target: LocalTarget, chain: str) -> ChainStatusView:
    state = target.service(chain).state()
    supervised = pid_alive(state.supervisor_pid)
    entry = state.entrypoint_state
    return ChainStatusView(
        name=chain,
        entrypoint=state.entrypoint,
        entrypoint_url=predict_url(entry.url) if entry else "",
        supervisor_pid=state.supervisor_pid if supervised else None,
        chainlets=[
            ChainletStatusView(
                name=c.name,
                status=c.status if supervised else "stopped",
                pid=c.pid if supervised else None,
                port=c.port,
                url=predict_url(c.url),
                restarts=c.restarts,
                content_hash=c.content_hash[:12],
                message=c.message,
            )
            for c in state.chainlets
        ],
    )


def status(
    name: str | None = typer.Argument(None, help="A chain's name (default: every chain).", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Show the chainlets of chain NAME (or of every local chain)."""
    target = LocalTarget()
    views = [chain_status(target, chain) for chain in ([name] if name else target.chains())]
    if as_json:
        if name:
            out_console.print(views[0].model_dump_json(indent=2), markup=False)
        else:
            out_console.print(pydantic.TypeAdapter(list[ChainStatusView]).dump_json(views, indent=2).decode(), markup=False)
        return
    if not views:
        out_console.print("No chains are deployed locally.")
        return
    for view in views:
        table = Table(title=f"chain {view.name}", title_justify="left", caption="* entrypoint",
                      caption_justify="left")
        for column in ("chainlet", "status", "url", "restarts", "pid"):
            table.add_column(column, no_wrap=True)
        for c in view.chainlets:
            entry = "*" if c.name == view.entrypoint else ""
            table.add_row(c.name + entry, c.status, c.url, str(c.restarts), str(c.pid or "-"))
        out_console.print(table)
