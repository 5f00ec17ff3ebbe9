"""`infra-chains serve-chainlet`: run one chainlet from its runtime contract (what targets run)."""

from __future__ import annotations

import pathlib

import typer


def serve_chainlet(
    contract: pathlib.Path | None = typer.Option(None, "--contract", help="Contract JSON file (default: $INFRA_CHAINS_RUNTIME)."),
) -> None:
    """Serve one chainlet as described by its runtime contract."""
    import os

    from infra_chains.serve import main as serve_main
    from infra_chains.serving.contract import CONTRACT_FILE_ENV

    if contract is not None:
        os.environ[CONTRACT_FILE_ENV] = str(contract)
    raise typer.Exit(serve_main())
