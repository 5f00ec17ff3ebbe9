"""`infra-chains preview FILE --stack dev`: what pushing FILE to a Kubernetes stack would do.

Per chainlet first (unchanged / rebuild and why / restart only and why / new / removed, from the
plan against the stack's last outputs), then Pulumi's own change summary. ``--json`` prints
`infra_chains.targets.kubernetes.ChainPreview`.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from infra_chains import deploy
from infra_chains.cli import options
from infra_chains.cli.assignments import parse_assignments, secret_values
from infra_chains.cli.console import err_console, out_console
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.registry import get_target

if TYPE_CHECKING:  # imported when the command runs: the CLI starts without the kubernetes extra
    from infra_chains.targets.kubernetes import ChainPreview

_ACTION_STYLE = {
    "unchanged": "[dim]unchanged[/]",
    "new": "[green]new[/]",
    "rebuild": "[yellow]rebuild[/]",
    "restart": "[cyan]restart[/]",
    "removed": "[red]removed[/]",
}


def preview_table(result: ChainPreview) -> Table:
    table = Table(title=f"chain {result.chain_name} → stack {result.stack}", title_justify="left")
    for column in ("chainlet", "action", "why"):
        table.add_column(column)
    for change in result.chainlets:
        why = ", ".join(change.reasons)
        if not why and change.action in ("rebuild", "restart") and not change.detail_known:
            why = "hashes differ (the stack's outputs do not say which input)"
        table.add_row(change.name, _ACTION_STYLE.get(change.action, change.action), escape(why))
    return table


def preview(
    file: pathlib.Path = options.CHAIN_FILE,
    stack: str = typer.Option("dev", "--stack", "-s", help="The Pulumi stack (environment)."),
    entrypoint: str | None = options.ENTRYPOINT,
    name: str | None = options.CHAIN_NAME,
    user_env: list[str] = options.USER_ENV,
    secret: list[str] = options.SECRET,
    secrets_file: pathlib.Path | None = options.SECRETS_FILE,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    stack_config: pathlib.Path | None = options.STACK_CONFIG,
) -> None:
    """Show what `push --target kubernetes --stack STACK` would change, chainlet by chainlet."""
    from infra_chains.targets.kubernetes import KubernetesTarget

    entry = load_entrypoint(file, entrypoint)
    provided = secret_values(secrets_file, secret)
    settings = options.kubernetes_settings("kubernetes", stack_config)
    env_values = {**(settings.user_env if settings else {}), **parse_assignments(user_env, "--user-env")}
    plan = deploy.plan_chain(entry, name, env_values, environment=stack)
    target = get_target("kubernetes", stack=stack, settings=settings)  # None: the defaults
    assert isinstance(target, KubernetesTarget)  # the registry's kubernetes entry
    values = target.secret_values(plan, provided)
    result = target.preview(plan, values)
    if as_json:
        out_console.print(result.model_dump_json(indent=2), markup=False)
        return
    out_console.print(preview_table(result))
    if result.resource_changes is not None:
        summary = ", ".join(f"{op} {n}" for op, n in sorted(result.resource_changes.items()) if n)
        out_console.print(f"Pulumi: {summary or 'no changes'}")
    if not result.changed:
        err_console.print("No chainlet would change.")
