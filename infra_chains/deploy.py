"""`push`: graph -> plan -> target. The Python API and the CLI both come through here."""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Mapping
from typing import Any

from infra_chains.build.context import write_build_contexts
from infra_chains.chain_service import ChainService
from infra_chains.framework.chainlet import definition_of, entrypoint_chain_name
from infra_chains.framework.graph import build_graph
from infra_chains.plan import ChainPlan, default_chain_name, make_plan
from infra_chains.plan.names import validate_environment_name
from infra_chains.targets.base import ProgressCallback, Target
from infra_chains.targets.registry import resolve_target

logger = logging.getLogger(__name__)

#: Where ``only_generate_trusses`` writes, relative to the working directory.
GENERATED_DIR = pathlib.Path(".chains_generated")


def chain_name_for(entrypoint: type[Any]) -> str:
    """The default chain name: ``@mark_entrypoint("My Chain")``'s (as ``my-chain``), else the
    entrypoint's chainlet name in kebab-case."""
    given = entrypoint_chain_name(entrypoint)
    return default_chain_name(given if given is not None else definition_of(entrypoint).name)


def plan_chain(
    entrypoint: type[Any],
    chain_name: str | None = None,
    user_env: Mapping[str, str] | None = None,
    environment: str | None = None,
) -> ChainPlan:
    """Validate the chain below ``entrypoint`` and plan it (no side effects)."""
    graph = build_graph(entrypoint)
    if environment is not None:
        validate_environment_name(environment)
    return make_plan(
        graph,
        chain_name or chain_name_for(graph.entrypoint.cls),
        user_env=user_env,
        environment=environment,
    )


def push(
    entrypoint: type[Any],
    chain_name: str | None = None,
    publish: bool = True,
    promote: bool = True,
    user_env: Mapping[str, str] | None = None,
    only_generate_trusses: bool = False,
    remote: str | Target | None = None,
    environment: str | None = None,
    *,
    secrets: Mapping[str, str] | None = None,
    ready_timeout_sec: float = 60.0,
    generated_dir: pathlib.Path | None = None,
    on_progress: ProgressCallback | None = None,
    stack: str | None = None,
) -> ChainService | None:
    """Deploy the chain whose entrypoint is ``entrypoint``; returns its `ChainService`.

    Args:
        entrypoint: The entrypoint chainlet class.
        chain_name: Name of the deployed chain (default: the name given to
            ``@mark_entrypoint("...")``, else the entrypoint's name, in kebab-case).
            Pushing the same name again updates that chain, restarting only what changed.
        publish: Kept for truss-chains compatibility; every deployment here is published.
        promote: Kept for truss-chains compatibility.
        user_env: Values chainlets read from ``context.user_env``.
        only_generate_trusses: Write the plan and each chainlet's build context under
            ``generated_dir`` (default ``./.chains_generated``), deploy nothing, return None.
        remote: The deployment target: a name (``"local"``, the default; ``"docker"``,
            ``"kubernetes"``) or a `Target` instance made with options, e.g.
            ``LocalTarget(root=...)``.
        environment: The environment (stack) to deploy to, e.g. ``"dev"``; chainlets read it as
            ``context.environment.name``. A target given by name that has stacks
            (``"kubernetes"``) deploys to the stack of that name unless ``stack`` says another.
        secrets: (ext) Secret values; which ones a target needs, and where else it looks
            (the environment, for local), is the target's decision.
        ready_timeout_sec: (ext) How long each chainlet may take to become ready.
        on_progress: (ext) Called with every chainlet's status while deploying.
        stack: (ext) The stack of a target that has stacks (``"kubernetes"``), e.g. ``"dev"``;
            also the ``environment`` when that is not given.
    """
    del publish, promote  # every deployment of a self-owned target is "published"
    if stack is not None and environment is None:
        environment = stack
    plan = plan_chain(entrypoint, chain_name, user_env, environment)
    if only_generate_trusses:
        out = write_build_contexts(plan, generated_dir or GENERATED_DIR)
        logger.info("Wrote the plan and build contexts of chain %r to %s", plan.chain_name, out)
        return None
    target = resolve_target(remote, environment=environment, **({} if stack is None else {"stack": stack}))
    values = target.secret_values(plan, secrets or {})
    return target.deploy(plan, values, ready_timeout_sec=ready_timeout_sec, on_progress=on_progress)


def deploy_remotely(*args: Any, **kwargs: Any) -> ChainService | None:
    """Deprecated alias of `push`."""
    import warnings

    warnings.warn("deploy_remotely is deprecated; use push", DeprecationWarning, stacklevel=2)
    return push(*args, **kwargs)
