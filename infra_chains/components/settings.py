"""What a Pulumi stack says about a chain's deployment, as one validated value.

Everything that differs between stacks (dev, prod) and is not the chain's code lives here: the
namespace, the registry, ``user_env``, sizes, how the entrypoint is exposed, GPU scheduling
overrides. The repo's program reads it from stack config (`StackSettings.from_pulumi_config`);
the Automation API target builds it from its arguments. Either way the components see one type.

Stack config keys are the fields' camelCase names in the ``infra-chains`` namespace
(``infra-chains:userEnv``, ``infra-chains:replicas``); nested objects accept either spelling.
Settings only change a chainlet's deployment part, never its image.
"""

from __future__ import annotations

import json
import pathlib
from typing import TYPE_CHECKING, Any, Literal, Self

import pydantic
from pydantic.alias_generators import to_camel

from infra_chains.errors import ConfigError

if TYPE_CHECKING:
    import pulumi

#: The Pulumi config namespace of every key this project reads (the project's name).
CONFIG_NAMESPACE = "infra-chains"

#: Keys of the repo's program in the same namespace (`components.program`): not settings.
PROGRAM_KEYS = frozenset({"chainFile", "entrypoint", "chainName"})

Exposure = Literal["cluster-ip", "load-balancer", "ingress"]

#: Fields whose config value is taken as written; the others arrive as JSON (Pulumi passes
#: numbers, booleans and objects from the stack file to the program that way).
_TEXT_FIELDS = frozenset(
    {"namespace", "registry", "environment", "exposure", "ingress_host", "ingress_class", "storage_class",
     "assets_storage_class", "assets_volume_size", "assets_access_mode", "render_yaml_to_directory"}
)


class _ConfigModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class AutoscalingSettings(_ConfigModel):
    """A chainlet's HorizontalPodAutoscaler: between ``min_replicas`` and ``max_replicas`` pods,
    scaled to keep average CPU use near ``target_cpu_percent`` of the requested CPU."""

    min_replicas: int = pydantic.Field(default=1, ge=1)
    max_replicas: int = pydantic.Field(ge=1)
    target_cpu_percent: int = pydantic.Field(default=80, ge=1, le=100)

    @pydantic.model_validator(mode="after")
    def _min_below_max(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) is above max_replicas ({self.max_replicas}); "
                "make max_replicas at least min_replicas"
            )
        return self


class StackSettings(_ConfigModel):
    """The deployment settings of one stack (one environment) for one chain.

    Per-chainlet maps (``replicas``, ``autoscaling``) are keyed by chainlet name (the class name
    or ``RemoteConfig.name``); a chainlet not named keeps what its ``RemoteConfig`` says.
    """

    namespace: str = "default"
    #: Image repository prefix the chainlets' images are pushed to, e.g. ``ghcr.io/acme``.
    registry: str | None = None
    user_env: dict[str, str] = {}
    #: The environment name chainlets see (``context.environment.name``); defaults to the stack.
    environment: str | None = None
    replicas: dict[str, int] = {}
    autoscaling: dict[str, AutoscalingSettings] = {}
    #: How the entrypoint is reachable: in-cluster only, a cloud load balancer, or an Ingress.
    exposure: Exposure = "cluster-ip"
    ingress_host: str | None = None
    ingress_class: str | None = None
    #: GPU name (``A10G``, ``H100``…) → node selector, merged over the components' default map.
    gpu_node_selectors: dict[str, dict[str, str]] = {}
    #: GPU name → tolerations in Kubernetes wire form (``key``, ``operator``, ``value``, ``effect``),
    #: replacing the default map's entry for that GPU.
    gpu_tolerations: dict[str, list[dict[str, str]]] = {}
    storage_class: str | None = None
    #: Assets (docs/assets.md): a PersistentVolumeClaim of this class per chainlet keeps fetched
    #: assets across pod restarts; unset, an emptyDir (fetched again by each new pod).
    assets_storage_class: str | None = None
    #: The asset volume's size: the claim's request, or the emptyDir's limit.
    assets_volume_size: str = pydantic.Field(default="50Gi", pattern=r"^[0-9]+(\.[0-9]+)?([KMGTPE]i?)?$")
    #: ReadWriteMany when replicas on several nodes share one claim (the class must support it).
    assets_access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = "ReadWriteOnce"
    #: How long the init container may take to fetch a chainlet's assets, on top of
    #: `startup_timeout_sec` (the rollout's deadline grows by it when a chainlet has assets).
    assets_fetch_timeout_sec: int = pydantic.Field(default=1800, ge=1)
    #: False: images are expected under ``registry`` already (built and pushed by CI).
    build_images: bool = True
    #: How long a pod may take to become ready (model loads) before the rollout fails.
    startup_timeout_sec: int = pydantic.Field(default=600, ge=1)
    #: Write the Kubernetes objects as YAML files here instead of applying them to a cluster
    #: (pulumi-kubernetes' ``renderYamlToDirectory``; relative to the project root): for a
    #: GitOps repository that another tool applies, or to check a stack with no cluster at hand.
    render_yaml_to_directory: str | None = None

    @pydantic.field_validator("replicas")
    @classmethod
    def _replicas_not_negative(cls, value: dict[str, int]) -> dict[str, int]:
        bad = {name: n for name, n in value.items() if n < 0}
        if bad:
            raise ValueError(f"replica counts must be 0 or more, got {bad}")
        return value

    @classmethod
    def config_keys(cls) -> dict[str, str]:
        """Stack config key (without namespace) → field name, for every field."""
        return {field.alias or name: name for name, field in cls.model_fields.items()}

    @classmethod
    def from_pulumi_config(cls, cfg: pulumi.Config) -> Self:
        """Read every field from ``cfg`` (``pulumi.Config("infra-chains")``); ``environment``
        defaults to the stack's name. `ConfigError` names the key, the value and the fix."""
        import pulumi

        raw: dict[str, Any] = {}
        for key, name in cls.config_keys().items():
            text = cfg.get(key)
            if text is None:
                continue
            raw[name] = text if name in _TEXT_FIELDS else _parse_json(cfg.name, key, text)
        raw.setdefault("environment", pulumi.get_stack())
        try:
            return cls.model_validate(raw)
        except pydantic.ValidationError as exc:
            raise ConfigError(_describe(cfg.name, exc)) from None


def settings_from_stack_file(path: pathlib.Path) -> StackSettings:
    """The settings a Pulumi stack file (``stacks/Pulumi.dev.yaml``) holds: its ``infra-chains``
    keys (bare keys belong to the project's namespace too), so ``infra-chains push --target
    kubernetes`` can deploy with what ``pulumi up`` from the repo uses. The program's own keys
    (``chainFile``…), secure values (secrets) and other namespaces are skipped; any other key is
    a `ConfigError` naming it, as a typo would otherwise be ignored."""
    import yaml  # type: ignore[import-untyped]  # pulumi's dependency; no stubs installed

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read the stack file {path}: {exc}") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise ConfigError(f"Stack file {path} has no `config:` mapping; it should look like "
                          f"stacks/Pulumi.dev.yaml (`config: {{{CONFIG_NAMESPACE}:namespace: ml}}`).")
    known = StackSettings.config_keys()
    raw: dict[str, Any] = {}
    unknown: list[str] = []
    for full_key, value in config.items():
        namespace, _, key = str(full_key).rpartition(":")
        if namespace not in ("", CONFIG_NAMESPACE) or key in PROGRAM_KEYS:
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            continue  # a secret config value: the target takes secrets from its caller
        if key not in known:
            unknown.append(key)
            continue
        raw[known[key]] = value
    if unknown:
        raise ConfigError(
            f"Stack file {path} has {CONFIG_NAMESPACE} keys that are not settings: "
            f"{', '.join(sorted(unknown))}; known keys: {', '.join(sorted(known))} (and the "
            f"program's {', '.join(sorted(PROGRAM_KEYS))}). Fix or remove them; a chain's secret "
            "belongs there only encrypted, as `pulumi config set --secret KEY` writes it."
        )
    try:
        return StackSettings.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise ConfigError(f"Stack file {path}: {_describe(CONFIG_NAMESPACE, exc)}") from None


def _parse_json(namespace: str, key: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(
            f"Stack config {namespace}:{key} is {text!r}, which is not a number, boolean or "
            f"object. Set it in the stack file as YAML (e.g. `{namespace}:{key}: {{...}}`) or with "
            f"`pulumi config set --path '{namespace}:{key}.NAME' VALUE`."
        ) from None


def _describe(namespace: str, exc: pydantic.ValidationError) -> str:
    lines = []
    for error in exc.errors():
        loc = error["loc"]
        key = to_camel(str(loc[0])) if loc else "?"
        path = ".".join(str(part) for part in loc[1:])
        where = f"{namespace}:{key}" + (f" at {path}" if path else "")
        value = f" (got {error['input']!r})" if error["type"] != "missing" else ""
        lines.append(f"- {where}: {error['msg']}{value}")
    return "Invalid stack config; fix these keys in the stack file:\n" + "\n".join(lines)
