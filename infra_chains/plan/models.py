"""The chain plan: what every target deploys, as pure data.

Each chainlet has two parts with a hash each:

- the **image part** (`ImageSpec`): everything that goes into its image and nothing else; it is
  relocatable (paths relative to the workspace, no machine state), so a plan made on a laptop
  gives the same `image_hash`, the image tag, in CI;
- the **deployment part** (`DeploymentSpec`): how the image runs (compute, replicas,
  dependencies, config, assets, secret names, user_env); its `deployment_hash` decides roll-outs,
  so scaling a chainlet never rebuilds its image.

`content_hash` combines both: the local target restarts a chainlet when it changes. A dependent
covers its dependencies' *interfaces* (`infra_chains.plan.interface`), not their code: a
dependency's new body restarts that dependency alone. The plan's JSON is deterministic (sorted, no timestamps); the only
machine-local value is `ChainPlan.workspace_dir`, which the build step needs to find the files
and which no hash covers.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

import pydantic

from infra_chains.plan.assets import PlannedAsset
from infra_chains.public_types import RPCOptions
from infra_chains.remote_config import Assets, HealthChecks


class _Frozen(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")


def stable_hash(data: pydantic.BaseModel | dict[str, Any]) -> str:
    """sha256 of ``data``'s JSON with sorted keys: equal data, equal hash, on every machine."""
    document = data.model_dump(mode="json") if isinstance(data, pydantic.BaseModel) else data
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


class RuntimeVersion(_Frozen):
    """The infra_chains runtime an image carries: a new release or a local edit is a new image."""

    version: str = pydantic.Field(description="The infra-chains package version.")
    digest: str = pydantic.Field(description="sha256 over the runtime's source files.")


class SourceDigests(_Frozen):
    """Digests of the files a chainlet's image holds (contents and workspace-relative names)."""

    code: str = pydantic.Field(
        description="The chainlet's class, its module's shared code and the workspace's other "
        "files (every other chainlet's class left out, in its module or another)."
    )
    dependencies: dict[str, str] = pydantic.Field(
        default_factory=dict,
        description="Interface digest of each direct dependency (name, run_remote signature, "
        "I/O JSON schemas): the image's stubs are made from it, not from the dependency's code.",
    )
    packages: list[str] = pydantic.Field(default_factory=list, description="One per package dir.")
    data: str | None = None


class ImageSpec(_Frozen):
    """What a chainlet's image holds; its hash is the image tag."""

    base_image: str = pydantic.Field(description="Image reference, e.g. python:3.11-slim.")
    python_executable: str = "python3"
    python_version: str | None = pydantic.Field(
        default=None, description="`3.X` of the image's Python; None for a CustomImage."
    )
    python_setup: Literal["image", "apt-venv"] = pydantic.Field(
        default="image",
        description="`image`: the base image has the Python; `apt-venv`: the build installs the "
        "distribution's python3 and makes a venv at the python_executable's prefix.",
    )
    pip_requirements: list[str] = pydantic.Field(
        default_factory=list,
        description="The runtime's pins, then the requirements file's and pip_requirements "
        "lines, one entry per project (the user's win).",
    )
    apt_requirements: list[str] = pydantic.Field(default_factory=list)
    external_package_dirs: list[str] = pydantic.Field(
        default_factory=list, description="Relative to the workspace (POSIX, may start with ..)."
    )
    data_dir: str | None = pydantic.Field(default=None, description="Relative to the workspace.")
    build_commands: list[str] = pydantic.Field(
        default_factory=list,
        description="`RemoteConfig.build_commands`: RUN after the requirements install, as root.",
    )
    sources: SourceDigests
    runtime: RuntimeVersion
    template_version: int = pydantic.Field(description="Version of the image recipe.")


class ComputeSpec(_Frozen):
    """`Compute` of one replica with every choice resolved (``predict_concurrency`` a number)."""

    cpu_count: int
    memory: str
    memory_bytes: int
    gpu: str | None
    gpu_count: int
    predict_concurrency: int


class DependencySpec(_Frozen):
    """An edge of the chain: the dependency's chainlet name and how to call it."""

    name: str
    options: RPCOptions


class DeploymentSpec(_Frozen):
    """How a chainlet's image runs; its hash decides roll-outs."""

    import_path: str = pydantic.Field(description="`module:QualName` within the workspace.")
    compute: ComputeSpec
    replicas: int = 1
    dependencies: list[DependencySpec] = pydantic.Field(default_factory=list)
    user_config: dict[str, Any] | None = None
    assets: Assets = Assets()
    fetch: list[PlannedAsset] = pydantic.Field(
        default_factory=list,
        description="The assets fetched before `__init__` and where each is visible "
        "(`plan/assets.py`); resolved from `assets`, so a new URL or revision rolls out.",
    )
    user_env: dict[str, str] = pydantic.Field(default_factory=dict)
    environment: str | None = None
    # `RemoteConfig.options` (ChainletOptions): how the process runs, so a change rolls out.
    env_variables: dict[str, str] = pydantic.Field(default_factory=dict)
    log_level: Literal["INFO", "DEBUG"] = "INFO"
    health_checks: HealthChecks = HealthChecks()
    metadata: pydantic.JsonValue = None


class ChainletSpec(_Frozen):
    """One chainlet, ready for any target."""

    name: str
    is_entrypoint: bool
    image: ImageSpec
    deployment: DeploymentSpec
    image_hash: str = pydantic.Field(description="Hash of `image`: the image tag.")
    deployment_hash: str = pydantic.Field(description="Hash of `deployment`.")
    content_hash: str = pydantic.Field(
        description="Hash of image_hash and deployment_hash (the image covers the dependencies' "
        "interfaces)."
    )

    @property
    def import_path(self) -> str:
        return self.deployment.import_path

    @property
    def compute(self) -> ComputeSpec:
        return self.deployment.compute

    @property
    def replicas(self) -> int:
        return self.deployment.replicas

    @property
    def assets(self) -> Assets:
        return self.deployment.assets

    @property
    def dependencies(self) -> list[DependencySpec]:
        return self.deployment.dependencies

    @property
    def user_config(self) -> dict[str, Any] | None:
        return self.deployment.user_config

    @property
    def secret_keys(self) -> list[str]:
        return list(self.deployment.assets.secret_keys)

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]


class ChainPlan(_Frozen):
    """Every chainlet of a chain, dependencies before dependents."""

    chain_name: str
    entrypoint: str
    user_env: dict[str, str]
    environment: str | None = None
    workspace_dir: str = pydantic.Field(
        description="Absolute path of the workspace on the planning machine; never hashed."
    )
    chainlets: list[ChainletSpec]

    def chainlet(self, name: str) -> ChainletSpec:
        for spec in self.chainlets:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def entrypoint_spec(self) -> ChainletSpec:
        return self.chainlet(self.entrypoint)

    @property
    def secret_keys(self) -> list[str]:
        """Every secret any chainlet declares, sorted."""
        return sorted({key for spec in self.chainlets for key in spec.secret_keys})
