"""`infra-chains init [DIR]`: write a small working chain to start from, and say what to run next."""

from __future__ import annotations

import os
import pathlib
import shlex

import typer
from rich.markup import escape

from infra_chains.cli.console import err_console, out_console
from infra_chains.scaffold import ScaffoldExistsError, write_scaffold


def init(
    directory: pathlib.Path = typer.Argument(pathlib.Path("."), help="Where to write the chain (created if missing).", show_default="the current directory"),
    name: str | None = typer.Option(None, "--name", "-n", help="Chain name, e.g. my-chain (default: from the directory's name).", show_default=False),
) -> None:
    """Write a new chain (three chainlets, a README and a .gitignore) into DIR; never overwrites a file."""
    try:
        result = write_scaffold(directory, name)
    except ScaffoldExistsError as exc:
        raise ScaffoldExistsError(
            exc.path, fix="Choose an empty directory, or another chain name with --name."
        ) from None
    scaffold = result.scaffold
    err_console.print(
        f"[green]✓[/] Created chain [bold]{escape(scaffold.chain_name)}[/] in {escape(str(directory))}: "
        f"{escape(', '.join(result.written))}",
        highlight=False,
    )
    for kept in result.kept:
        err_console.print(f"  kept the existing {escape(kept)}", highlight=False)
    name_option = f" --name {scaffold.chain_name}" if scaffold.name_option else ""
    steps = []
    if directory.resolve() != pathlib.Path.cwd().resolve():
        steps.append(f"cd {shlex.quote(os.path.relpath(directory))}")
    steps += [
        f"python {scaffold.chain_file}",
        f"infra-chains push {scaffold.chain_file}{name_option}",
        f"infra-chains run {scaffold.chain_name} --data '{{\"name\": \"Ada\"}}'",
        f"infra-chains watch {scaffold.chain_file}{name_option}",
        f"infra-chains down {scaffold.chain_name}",
    ]
    out_console.print("Next:", highlight=False)
    for step in steps:
        out_console.print(f"  {step}", markup=False, highlight=False)
