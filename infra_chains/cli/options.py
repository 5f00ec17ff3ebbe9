"""Options the commands share: one declaration each, so their names, short forms and help never
drift apart between commands. The chain commands (`push`, `watch`, `preview`) take a chain file;
the commands on a deployed chain (`run`, `status`, `logs`, `down`) take `DEPLOYED_TARGET` and
`STACK`, turned into the `Target` they go through by `deployed_target`."""

from __future__ import annotations

import pathlib

import typer

from infra_chains.targets.base import Target
from infra_chains.targets.registry import STACK_TARGETS, get_target

CHAIN_FILE: pathlib.Path = typer.Argument(..., help="The chain's source file.", show_default=False)
ENTRYPOINT: str | None = typer.Option(None, "--entrypoint", "-e", help="Entrypoint class, if the file marks none.")
CHAIN_NAME: str | None = typer.Option(None, "--name", "-n", help="Chain name (default: from the entrypoint).")
TARGET: str = typer.Option("local", "--target", "-t", help="local | docker | kubernetes.")
STACK: str | None = typer.Option(None, "--stack", "-s", help="Stack (environment) of the kubernetes target, e.g. dev.", show_default=False)
ENVIRONMENT: str | None = typer.Option(None, "--environment", help="Environment (stack) to deploy to, e.g. dev; chainlets see it as context.environment.", show_default=False)
USER_ENV: list[str] = typer.Option([], "--user-env", help="K=V given to chainlets as context.user_env; repeatable.")
SECRET: list[str] = typer.Option([], "--secret", help="K=V secret value; repeatable (visible in `ps`: prefer --secrets-file).")
SECRETS_FILE: pathlib.Path | None = typer.Option(None, "--secrets-file", help="A .env file of secret values.")
READY_TIMEOUT: float = typer.Option(60.0, "--timeout", help="Seconds each chainlet may take to become ready.")
DEPLOYED_TARGET: str = typer.Option("local", "--target", "-t", help="Where the chain is deployed: local | docker | kubernetes.")


def target_arguments(target: str, stack: str | None, environment: str | None = None) -> str:
    """The ``--target``/``--stack`` part of a command line the CLI suggests (empty for local);
    a target with stacks deployed with only ``--environment`` is on the stack of that name."""
    words = "" if target == "local" else f" --target {target}"
    if stack is None and target.lower() in STACK_TARGETS:
        stack = environment
    return words + (f" --stack {stack}" if stack is not None else "")


def deployed_target(target: str, stack: str | None) -> Target:
    """The `Target` named by ``--target``, on ``--stack`` when one is given (kubernetes)."""
    return get_target(target, **({} if stack is None else {"stack": stack}))
