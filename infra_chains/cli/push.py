"""`infra-chains push FILE`: validate, plan and deploy a chain, with live progress."""

from __future__ import annotations

import json
import pathlib
import shlex
import time

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from infra_chains.build.context import write_build_contexts
from infra_chains.cli.console import err_console, out_console
from infra_chains.deploy import GENERATED_DIR, plan_chain
from infra_chains.framework.chainlet import definition_of
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.base import ChainletProgress
from infra_chains.targets.registry import get_target
from infra_chains.targets.secrets import (
    parse_assignments,
    parse_env_file,
    resolve_secrets,
)

_STATUS_STYLE = {
    "ready": "[green]ready[/]",
    "starting": "[yellow]starting…[/]",
    "restarting": "[yellow]restarting…[/]",
    "crashed": "[red]crashed[/]",
    "failed": "[bold red]failed[/]",
    "stopped": "[dim]stopped[/]",
}


def progress_table(chainlets: list[ChainletProgress], elapsed: float) -> Table:
    table = Table(title=f"deploying… {elapsed:.1f}s", title_justify="left", box=None, pad_edge=False)
    for column in ("chainlet", "status", "change", "url"):
        table.add_column(column)
    for chainlet in chainlets:
        table.add_row(
            chainlet.name,
            _STATUS_STYLE.get(chainlet.status, chainlet.status),
            "updated" if chainlet.changed else "[dim]unchanged[/]",
            chainlet.url or "",
        )
    return table


def push(
    file: pathlib.Path = typer.Argument(..., help="The chain's source file.", show_default=False),
    entrypoint: str | None = typer.Option(None, "--entrypoint", "-e", help="Entrypoint class, if the file marks none."),
    name: str | None = typer.Option(None, "--name", "-n", help="Chain name (default: from the entrypoint)."),
    target: str = typer.Option("local", "--target", "-t", help="local | docker | kubernetes."),
    user_env: list[str] = typer.Option([], "--user-env", help="K=V given to chainlets as context.user_env; repeatable."),
    secret: list[str] = typer.Option([], "--secret", help="K=V secret value; repeatable."),
    secrets_file: pathlib.Path | None = typer.Option(None, "--secrets-file", help="A .env file of secret values."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Write the plan and build contexts; start nothing."),
    out: pathlib.Path = typer.Option(GENERATED_DIR, "--out", help="Where --dry-run writes."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds each chainlet may take to become ready."),
) -> None:
    """Deploy the chain in FILE; re-pushing restarts only the chainlets that changed."""
    started = time.monotonic()
    entry = load_entrypoint(file, entrypoint)
    plan = plan_chain(entry, name, parse_assignments(user_env, "--user-env"))
    if dry_run:
        directory = write_build_contexts(plan, out)
        out_console.print(f"Wrote the plan and {len(plan.chainlets)} build contexts to {directory}")
        return
    provided = parse_env_file(secrets_file) if secrets_file else {}
    provided.update(parse_assignments(secret, "--secret"))
    values = resolve_secrets(plan, provided)
    deploy_target = get_target(target)
    latest: list[ChainletProgress] = []
    with Live(console=err_console, transient=True, refresh_per_second=12) as live:

        def on_progress(chainlets: list[ChainletProgress]) -> None:
            latest[:] = chainlets
            live.update(progress_table(chainlets, time.monotonic() - started))

        service = deploy_target.deploy(plan, values, ready_timeout_sec=timeout, on_progress=on_progress)
    elapsed = time.monotonic() - started
    # Printed after the live display has ended, or it would be overwritten.
    err_console.print(progress_table(latest, elapsed))
    updated = sum(c.changed for c in latest)
    err_console.print(
        f"[green]✓[/] Chain [bold]{escape(plan.chain_name)}[/] ready in {elapsed:.2f}s "
        f"({updated} started, {len(latest) - updated} unchanged)."
    )
    params = definition_of(entry).endpoint.params
    example = {p.name: _example_value(p.annotation) for p in params if not p.has_default}
    body = json.dumps(example)
    out_console.print(f"Entrypoint: {service.run_remote_url}")
    out_console.print(
        f"Call it:    curl -s -X POST {service.run_remote_url} -H 'Content-Type: application/json' "
        f"-d {shlex.quote(body)}"
    )
    out_console.print(f"Or:         infra-chains run {plan.chain_name} --data {shlex.quote(body)}")


def _example_value(annotation: object) -> object:
    """A placeholder of the right JSON shape for the printed example call."""
    import typing

    origin = typing.get_origin(annotation)
    if annotation is str:
        return "text"
    if annotation in (int, float):
        return 1
    if annotation is bool:
        return True
    if origin is list:
        (item,) = typing.get_args(annotation) or (str,)
        return [_example_value(item)]
    if origin is dict:
        return {}
    if hasattr(annotation, "model_fields"):
        return {n: _example_value(f.annotation) for n, f in annotation.model_fields.items() if f.is_required()}
    return None
