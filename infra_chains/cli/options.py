"""Options the commands share: one declaration each, so their names, short forms and help never
drift apart between commands. The chain commands (`push`, `watch`, `preview`) take a chain file;
the commands on a deployed chain (`run`, `status`, `logs`, `down`) take `DEPLOYED_TARGET` and
`STACK`, turned into the `Target` they go through by `deployed_target`."""

from __future__ import annotations

import os
import pathlib
from typing import TYPE_CHECKING

import typer

from infra_chains.cli.assignments import build_arguments
from infra_chains.errors import ChainsUsageError
from infra_chains.targets.base import Target
from infra_chains.targets.registry import STACK_TARGETS, get_target

if TYPE_CHECKING:  # the kubernetes extra is imported only when --stack-config is given
    from infra_chains.components.settings import StackSettings

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
BUILD_ARG: list[str] = typer.Option([], "--build-arg", help="docker: NAME=VALUE build argument for the image builds (e.g. PIP_INDEX_URL), or NAME to take the value from the environment; never written into a layer; repeatable.")
STACK_CONFIG: pathlib.Path | None = typer.Option(None, "--stack-config", help="kubernetes: a Pulumi stack file (e.g. stacks/Pulumi.dev.yaml) whose infra-chains keys set the namespace, registry, userEnv, replicas, exposure...", show_default=False)


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


def kubernetes_settings(target: str, stack_config: pathlib.Path | None) -> StackSettings | None:
    """``--stack-config``'s settings (None when not given); only the kubernetes target has them."""
    if stack_config is None:
        return None
    if target.lower() != "kubernetes":
        raise ChainsUsageError(f"--stack-config sets a kubernetes stack's settings; add --target kubernetes (got --target {target}).")
    from infra_chains.components.settings import settings_from_stack_file

    return settings_from_stack_file(stack_config)


def docker_build_args(target: str, items: list[str]) -> dict[str, str]:
    """``--build-arg``'s values (empty when not given); only the docker target builds here."""
    if not items:
        return {}
    if target.lower() != "docker":
        raise ChainsUsageError(
            f"--build-arg passes build arguments to the docker target's image builds; add --target "
            f"docker (got --target {target}). The kubernetes target builds through its stack."
        )
    return build_arguments(items, os.environ)
