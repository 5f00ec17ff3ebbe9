"""`infra-chains watch FILE`: push the chain, then push it again on every save of its files.

The loop is `infra_chains.watch` (a `Watcher` of the workspace, a `ChainPusher` that returns
what each push restarted); this module renders it. A bad edit is printed and waited out: the
chain keeps serving its last good version until the next save pushes a good one.
"""

from __future__ import annotations

import pathlib
import time

import typer
from rich.live import Live
from rich.markup import escape

from infra_chains.cli import options
from infra_chains.cli.assignments import SECRETS_HINT, parse_assignments, secret_values
from infra_chains.cli.console import err_console, out_console
from infra_chains.cli.push import progress_table
from infra_chains.targets.base import ChainletProgress
from infra_chains.watch import ChainPusher, FileChange, PushOutcome, Watcher


def watch(
    file: pathlib.Path = options.CHAIN_FILE,
    entrypoint: str | None = options.ENTRYPOINT,
    name: str | None = options.CHAIN_NAME,
    target: str = options.TARGET,
    stack: str | None = options.STACK,
    environment: str | None = options.ENVIRONMENT,
    user_env: list[str] = options.USER_ENV,
    secret: list[str] = options.SECRET,
    secrets_file: pathlib.Path | None = options.SECRETS_FILE,
    timeout: float = options.READY_TIMEOUT,
    interval: float = typer.Option(0.5, "--interval", help="Seconds between two looks at the files."),
    debounce: float = typer.Option(0.3, "--debounce", help="Seconds without a further save before pushing (editors save in bursts)."),
    max_pushes: int | None = typer.Option(None, "--max-pushes", hidden=True, help="Stop after this many re-pushes (for tests)."),
) -> None:
    """Push the chain in FILE, then re-push it on every save: only the chainlets whose code or
    config changed restart. Ctrl-C stops watching; the chain keeps running."""
    provided = secret_values(secrets_file, secret)
    pusher = ChainPusher(
        file, entrypoint=entrypoint, chain_name=name, target=target, stack=stack,
        environment=environment, user_env=parse_assignments(user_env, "--user-env"),
        secrets=provided, ready_timeout_sec=timeout, missing_secrets_hint=SECRETS_HINT,
    )
    # Made before the first push, so a save during that push is pushed next, not missed.
    watcher = Watcher(pusher.roots, exclude=pusher.state_dirs, interval_sec=interval,
                      debounce_sec=debounce)
    first = _push_live(pusher, [])
    if not first.ok:
        err_console.print(f"[bold red]Error:[/] {escape(first.error or '')}", highlight=False)
        err_console.print("Nothing is watched; fix the error and run watch again.", highlight=False)
        raise typer.Exit(2 if first.failure == "invalid" else 1)
    _report(first)
    out_console.print(f"Entrypoint: {first.url}")
    watcher.set_roots(pusher.roots)
    _waiting(watcher, interval)
    try:
        for changes in watcher.changes(max_batches=max_pushes):
            err_console.print(f"[dim]{_now()}[/] {escape(_describe(changes))}", highlight=False)
            outcome = _push_live(pusher, changes)
            _report(outcome)
            watcher.set_roots(pusher.roots)
    except KeyboardInterrupt:
        pass
    chain = escape(pusher.chain_name or "")
    target_option = options.target_arguments(target, stack, environment)
    err_console.print(
        f"Stopped watching. Chain [bold]{chain}[/] keeps running; "
        f"`infra-chains down {chain}{target_option}` stops it.",
        highlight=False,
    )


def _push_live(pusher: ChainPusher, changes: list[FileChange]) -> PushOutcome:
    """One push with the live progress table (transient: the summary line replaces it)."""
    started = time.monotonic()
    with Live(console=err_console, transient=True, refresh_per_second=12) as live:

        def on_progress(chainlets: list[ChainletProgress]) -> None:
            live.update(progress_table(chainlets, time.monotonic() - started))

        return pusher.push(changes, on_progress=on_progress)


def _report(outcome: PushOutcome) -> None:
    chain = escape(outcome.chain_name or "")
    if outcome.ok:
        restarted = ", ".join(outcome.restarted) or "none"
        unchanged = ", ".join(outcome.unchanged) or "none"
        err_console.print(
            f"[green]✓[/] Chain [bold]{chain}[/] ready in {outcome.duration_sec:.2f}s — "
            f"restarted: {escape(restarted)}; unchanged: [dim]{escape(unchanged)}[/]",
            highlight=False,
        )
        return
    err_console.print(f"[bold red]✗ Not deployed:[/] {escape(outcome.error or '')}", highlight=False)
    if outcome.failure == "invalid" and outcome.chain_name:
        # The target was never called; the deployment failure's own message says what it kept.
        err_console.print(
            f"Chain [bold]{chain}[/] keeps serving its last good version; "
            "waiting for the next save.",
            highlight=False,
        )
    else:
        err_console.print("Waiting for the next save.", highlight=False)


def _waiting(watcher: Watcher, interval: float) -> None:
    roots = ", ".join(str(root) for root in watcher.roots)
    err_console.print(
        f"Watching {watcher.file_count} files under {escape(roots)} (every {interval:g}s). "
        "Ctrl-C stops watching; the chain keeps running.",
        highlight=False,
    )


def _describe(changes: list[FileChange]) -> str:
    shown = ", ".join(f"{pathlib.Path(c.path).name} ({c.kind})" for c in changes[:5])
    more = f" and {len(changes) - 5} more" if len(changes) > 5 else ""
    return f"Changed: {shown}{more}"


def _now() -> str:
    return time.strftime("%H:%M:%S")
