"""`infra-chains push FILE`: load the chain file, parse the options, and hand them to
`infra_chains.deploy.push` (the same call the Python API makes); render its progress and result."""

from __future__ import annotations

import atexit
import gc
import json
import pathlib
import shlex
import time

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from infra_chains import deploy
from infra_chains.cli import options
from infra_chains.cli.assignments import parse_assignments, secret_values
from infra_chains.cli.console import err_console, out_console
from infra_chains.cli.examples import example_arguments
from infra_chains.framework.chainlet import definition_of
from infra_chains.framework.loading import load_entrypoint
from infra_chains.serving.websocket import websocket_url
from infra_chains.targets.base import ChainletProgress, Target
from infra_chains.targets.registry import get_target

_STATUS_STYLE = {
    "ready": "[green]ready[/]",
    "starting": "[yellow]starting…[/]",
    "restarting": "[yellow]restarting…[/]",
    "crashed": "[red]crashed[/]",
    "building": "[yellow]building…[/]",
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


class MessageLog:
    """New progress messages (a docker build's log lines, a restart's reason), once each.

    A target reports its latest message per chainlet with every progress update; ``--verbose``
    prints each new one above the live table, prefixed with its chainlet.
    """

    def __init__(self) -> None:
        self._last: dict[str, str | None] = {}

    def new_lines(self, chainlets: list[ChainletProgress]) -> list[str]:
        lines = []
        for chainlet in chainlets:
            if chainlet.message and chainlet.message != self._last.get(chainlet.name):
                lines.append(f"{chainlet.name} | {chainlet.message}")
            self._last[chainlet.name] = chainlet.message
        return lines


def push(
    file: pathlib.Path = options.CHAIN_FILE,
    entrypoint: str | None = options.ENTRYPOINT,
    name: str | None = options.CHAIN_NAME,
    target: str = options.TARGET,
    stack: str | None = options.STACK,
    environment: str | None = options.ENVIRONMENT,
    user_env: list[str] = options.USER_ENV,
    secret: list[str] = options.SECRET,
    secrets_file: pathlib.Path | None = options.SECRETS_FILE,
    dry_run: bool = typer.Option(False, "--dry-run", help="Write the plan and build contexts; start nothing."),
    out: pathlib.Path = typer.Option(deploy.GENERATED_DIR, "--out", help="Where --dry-run writes."),
    timeout: float = options.READY_TIMEOUT,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print every progress message (e.g. the docker build log)."),
    stack_config: pathlib.Path | None = options.STACK_CONFIG,
    build_arg: list[str] = options.BUILD_ARG,
) -> None:
    """Deploy the chain in FILE; re-pushing restarts only the chainlets that changed."""
    started = time.monotonic()
    # At exit the interpreter's last collection would scan every object of the ~460 modules a
    # push loads (~40 ms after the chain is ready); frozen, they are skipped.
    atexit.register(gc.freeze)
    entry = load_entrypoint(file, entrypoint)
    env_values = parse_assignments(user_env, "--user-env")
    provided = secret_values(secrets_file, secret)
    settings = options.kubernetes_settings(target, stack_config)
    build_args = options.docker_build_args(target, build_arg)
    if settings is not None:  # the stack file's userEnv, under --user-env's; the rest: the target's
        env_values = {**settings.user_env, **env_values}
        environment, stack = environment or stack, None
    if dry_run:
        deploy.push(entry, name, user_env=env_values, only_generate_trusses=True,
                    environment=environment, generated_dir=out)
        chain = name or deploy.chain_name_for(entry)
        out_console.print(f"Wrote the plan and build contexts of chain {chain} to {out / chain}")
        return
    remote: str | Target = target
    if settings is not None:
        remote = get_target("kubernetes", environment=environment, settings=settings)
    if build_args:
        remote = get_target("docker", environment=environment, build_args=build_args)
    latest: list[ChainletProgress] = []
    messages = MessageLog()
    with Live(console=err_console, transient=True, refresh_per_second=12) as live:

        def on_progress(chainlets: list[ChainletProgress]) -> None:
            latest[:] = chainlets
            if verbose:
                for line in messages.new_lines(chainlets):
                    live.console.print(line, markup=False, highlight=False)
            live.update(progress_table(chainlets, time.monotonic() - started))

        service = deploy.push(
            entry, name, user_env=env_values, remote=remote, environment=environment,
            secrets=provided, ready_timeout_sec=timeout, on_progress=on_progress, stack=stack,
        )
    assert service is not None  # only a dry run returns None
    elapsed = time.monotonic() - started
    # Printed after the live display has ended, or it would be overwritten.
    err_console.print(progress_table(latest, elapsed))
    updated = sum(c.changed for c in latest)
    err_console.print(
        f"[green]✓[/] Chain [bold]{escape(service.name)}[/] ready in {elapsed:.2f}s "
        f"({updated} started, {len(latest) - updated} unchanged)."
    )
    if definition_of(entry).endpoint.is_websocket:
        url = websocket_url(service.run_remote_url)
        out_console.print(f"Entrypoint: {url}")
        out_console.print(f"Talk to it: python -m websockets {url}")
        return
    body = json.dumps(example_arguments(definition_of(entry).endpoint.params))
    out_console.print(f"Entrypoint: {service.run_remote_url}")
    out_console.print(
        f"Call it:    curl -s -X POST {service.run_remote_url} -H 'Content-Type: application/json' "
        f"-d {shlex.quote(body)}"
    )
    target_option = options.target_arguments(target, stack, environment)
    out_console.print(
        f"Or:         infra-chains run {service.name}{target_option} --data {shlex.quote(body)}"
    )

