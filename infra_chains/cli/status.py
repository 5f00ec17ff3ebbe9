"""`infra-chains status [NAME]`: what runs, where, and how often it restarted."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from infra_chains.cli.console import out_console
from infra_chains.targets.local import LocalTarget
from infra_chains.targets.local.state import pid_alive


def status(
    name: str | None = typer.Argument(None, help="A chain's name (default: every chain).", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Show the chainlets of chain NAME (or of every local chain)."""
    target = LocalTarget()
    names = [name] if name else target.chains()
    documents = []
    for chain in names:
        state = target.service(chain).state()
        supervised = pid_alive(state.supervisor_pid)
        documents.append({
            "name": chain,
            "entrypoint": state.entrypoint,
            "entrypoint_url": target.service(chain).run_remote_url,
            "supervisor_pid": state.supervisor_pid if supervised else None,
            "chainlets": [
                {
                    "name": c.name,
                    "status": c.status if supervised else "stopped",
                    "pid": c.pid if supervised else None,
                    "port": c.port,
                    "url": f"{c.url}/run_remote",
                    "restarts": c.restarts,
                    "content_hash": c.content_hash[:12],
                    "message": c.message,
                }
                for c in state.chainlets
            ],
        })
    if as_json:
        out_console.print_json(json.dumps(documents[0] if name else documents))
        return
    if not documents:
        out_console.print("No chains are deployed locally.")
        return
    for document in documents:
        table = Table(title=f"chain {document['name']}", title_justify="left")
        for column in ("chainlet", "status", "url", "restarts", "pid"):
            table.add_column(column)
        for c in document["chainlets"]:
            entry = " (entrypoint)" if c["name"] == document["entrypoint"] else ""
            table.add_row(c["name"] + entry, c["status"], c["url"], str(c["restarts"]), str(c["pid"] or "-"))
        out_console.print(table)
