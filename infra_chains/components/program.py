"""The Pulumi program that deploys one chain: a chain file plus a stack's settings → a `Chain`.

Two callers, one body: the repo's own program (``deploy/pulumi/__main__.py``, run by ``pulumi
preview -s dev`` and by GitOps pipelines) calls `program_from_config`, which reads everything
from stack config; the Automation API target calls `run_chain_program` with settings and
secret values it was given. Both export the same stack outputs, which the target reads back.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pulumi

from infra_chains.components.settings import CONFIG_NAMESPACE, StackSettings
from infra_chains.deploy import GENERATED_DIR, plan_chain
from infra_chains.errors import ChainsUsageError, ConfigError
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan.fingerprints import FINGERPRINTS_OUTPUT, fingerprints_output, plan_fingerprints
from infra_chains.targets.secrets import MissingSecretsError

if TYPE_CHECKING:
    from infra_chains.components.chain import Chain
    from infra_chains.plan.models import ChainPlan

#: Stack config keys of the program itself (the others are `StackSettings` fields and secrets).
CHAIN_FILE_KEY = "chainFile"
ENTRYPOINT_KEY = "entrypoint"
CHAIN_NAME_KEY = "chainName"

#: The stack outputs every caller can rely on (the Automation API target reads them back).
OUTPUT_NAMES = ("chain_name", "entrypoint_url", "chainlet_urls", "image_hashes", "deployment_hashes")


def run_chain_program(
    chain_file: pathlib.Path,
    entrypoint: str | None,
    settings: StackSettings,
    secret_values: Mapping[str, pulumi.Input[str]],
    chain_name: str | None = None,
    *,
    context_root: pathlib.Path | None = None,
) -> Chain:
    """Load ``chain_file``, plan it with the stack's settings and create its `Chain` component.

    ``secret_values`` must hold every secret key the chain declares, each already wrapped with
    `pulumi.Output.secret` (values never become plain outputs). ``context_root`` is where the
    chainlets' build contexts are written (default: ``.chains_generated/pulumi/<environment>``
    beside the chain file's workspace). Exports `OUTPUT_NAMES`.
    """
    entry = load_entrypoint(chain_file, entrypoint)
    plan = plan_chain(entry, chain_name, user_env=settings.user_env, environment=settings.environment)
    if context_root is None:
        workspace = pathlib.Path(plan.workspace_dir)
        context_root = workspace / GENERATED_DIR / "pulumi" / (settings.environment or "default")
    return create_chain(plan, settings, secret_values, context_root)


def program_from_config(
    project_root: pathlib.Path | None = None, *, context_root: pathlib.Path | None = None
) -> Chain:
    """The repo's program: everything from the stack's config in the ``infra-chains`` namespace.

    ``chainFile`` (required) is a ``.py`` path relative to ``project_root`` (default: the
    directory of ``Pulumi.yaml``); ``entrypoint`` and ``chainName`` are optional; the other keys
    are `StackSettings` fields; each secret the chain declares is a secret config value of the
    same name. Build contexts go to ``context_root``, by default
    ``<project_root>/.chains_generated/pulumi/<stack>``.
    """
    root = (project_root or pathlib.Path(pulumi.get_root_directory() or ".")).resolve()
    cfg = pulumi.Config(CONFIG_NAMESPACE)
    chain_file = resolve_chain_file(root, cfg.get(CHAIN_FILE_KEY))
    entrypoint = cfg.get(ENTRYPOINT_KEY)
    settings = StackSettings.from_pulumi_config(cfg)
    if settings.render_yaml_to_directory:  # stack files are shared: relative to the project
        rendered = root / settings.render_yaml_to_directory
        settings = settings.model_copy(update={"render_yaml_to_directory": str(rendered)})
    try:
        entry = load_entrypoint(chain_file, entrypoint)
    except ChainsUsageError as exc:
        if entrypoint is None or "defines no chainlet named" not in str(exc):
            raise
        raise ConfigError(
            f"Stack config {CONFIG_NAMESPACE}:{ENTRYPOINT_KEY} is {entrypoint!r}: {exc} Set it to "
            f"one of those (pulumi config set {CONFIG_NAMESPACE}:{ENTRYPOINT_KEY} NAME), or remove "
            "it to use the chainlet marked with @chains.mark_entrypoint."
        ) from None
    plan = plan_chain(entry, cfg.get(CHAIN_NAME_KEY), user_env=settings.user_env, environment=settings.environment)
    _warn_unknown_keys(cfg, set(plan.secret_keys))
    secrets: dict[str, pulumi.Input[str]] = {}
    for key in plan.secret_keys:
        value = cfg.get_secret(key)
        if value is not None:
            secrets[key] = value
    if context_root is None:
        context_root = root / GENERATED_DIR / "pulumi" / pulumi.get_stack()
    return create_chain(plan, settings, secrets, context_root)


def create_chain(
    plan: ChainPlan,
    settings: StackSettings,
    secret_values: Mapping[str, pulumi.Input[str]],
    context_root: pathlib.Path,
) -> Chain:
    """The `Chain` of ``plan`` and the stack outputs; every declared secret must have a value."""
    from infra_chains.components.chain import Chain, ChainArgs

    missing = {
        key: [spec.name for spec in plan.chainlets if key in spec.secret_keys]
        for key in plan.secret_keys
        if key not in secret_values
    }
    if missing:
        raise MissingSecretsError(
            plan.chain_name,
            missing,
            "Give each as a secret config value of the stack: pulumi config set --secret KEY "
            "(with no value on the command line it is read from stdin, out of `ps` and history).",
        )
    opts = None
    if settings.render_yaml_to_directory:  # every Kubernetes object below goes to files instead
        import pulumi_kubernetes as k8s

        # kubeconfig "": the SDK would default it to $KUBECONFIG, which the provider refuses
        # beside renderYamlToDirectory (rendering needs no cluster).
        renderer = k8s.Provider(f"{plan.chain_name}-render-yaml", kubeconfig="",
                                render_yaml_to_directory=settings.render_yaml_to_directory)
        opts = pulumi.ResourceOptions(providers=[renderer])
    chain = Chain(
        plan.chain_name,
        ChainArgs(plan=plan, settings=settings, secrets=dict(secret_values), context_root=context_root),
        opts=opts,
    )
    pulumi.export("chain_name", plan.chain_name)
    pulumi.export("entrypoint_url", chain.entrypoint_url)
    pulumi.export("chainlet_urls", chain.chainlet_urls)
    pulumi.export("image_hashes", chain.image_hashes)
    pulumi.export("deployment_hashes", chain.deployment_hashes)
    autoscaling = {name: a.model_dump() for name, a in settings.autoscaling.items()}
    fingerprints = plan_fingerprints(plan, replicas=settings.replicas, autoscaling=autoscaling)
    pulumi.export(FINGERPRINTS_OUTPUT, fingerprints_output(fingerprints))
    return chain


def resolve_chain_file(root: pathlib.Path, value: str | None) -> pathlib.Path:
    """The chain file ``value`` names: relative to ``root``, inside it, a ``.py`` file that exists."""
    key = f"{CONFIG_NAMESPACE}:{CHAIN_FILE_KEY}"
    fix = f"Set it to a path relative to {root}: pulumi config set {key} examples/text_pipeline.py"
    if not value:
        raise ConfigError(f"Stack config {key} is not set; it names the chain file to deploy. {fix}")
    path = pathlib.PurePosixPath(value.replace("\\", "/"))
    if path.is_absolute():
        raise ConfigError(
            f"Stack config {key} is {value!r}, an absolute path; stack files are shared, so it "
            f"must be relative to the project root. {fix}"
        )
    if path.suffix != ".py":
        raise ConfigError(f"Stack config {key} is {value!r}, which does not end in .py. {fix}")
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root):
        raise ConfigError(f"Stack config {key} is {value!r}, which leads outside {root}. {fix}")
    if not resolved.is_file():
        raise ConfigError(f"Stack config {key} is {value!r}, but {resolved} does not exist. {fix}")
    return resolved


def _warn_unknown_keys(cfg: pulumi.Config, secret_keys: set[str]) -> None:
    """A typo in a stack file (``infra-chains:replica``) would otherwise be silently ignored."""
    from pulumi.runtime import config as runtime_config

    known = set(StackSettings.config_keys()) | {CHAIN_FILE_KEY, ENTRYPOINT_KEY, CHAIN_NAME_KEY} | secret_keys
    prefix = f"{cfg.name}:"
    present = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    unknown = sorted(k[len(prefix):] for k in present if k.startswith(prefix) and k[len(prefix):] not in known)
    if unknown:
        pulumi.log.warn(
            f"Stack config has keys infra-chains does not read: {', '.join(unknown)}; known keys: "
            f"{', '.join(sorted(known))}."
        )
