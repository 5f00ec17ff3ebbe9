"""The chain plan: what every target deploys, as pure data.

Deterministic by construction (sorted keys, no timestamps, no absolute machine state beyond the
workspace path): the same chain and settings give byte-identical JSON, so an unchanged chainlet
has an unchanged `content_hash` and is never rebuilt or restarted.
"""

from __future__ import annotations

from typing import Any

import pydantic

from infra_chains.public_types import RPCOptions
from infra_chains.remote_config import Assets


class _Frozen(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")


class BuildSpec(_Frozen):
    """What a chainlet's image holds; the build step turns it into a build context."""

    base_image: str = pydantic.Field(description="Image reference, e.g. python:3.11-slim.")
    python_executable: str = "python3"
    pip_requirements: list[str] = pydantic.Field(default_factory=list)
    apt_requirements: list[str] = pydantic.Field(default_factory=list)
    workspace_dir: str = pydantic.Field(description="Absolute path of the chain's workspace.")
    external_package_dirs: list[str] = pydantic.Field(default_factory=list)
    data_dir: str | None = None


class ComputeSpec(_Frozen):
    """`Compute` with every choice resolved (``predict_concurrency`` as a number)."""

    cpu_count: int
    memory: str
    memory_bytes: int
    gpu: str | None
    gpu_count: int
    predict_concurrency: int
    replicas: int


class DependencySpec(_Frozen):
    """An edge of the chain: the dependency's chainlet name and how to call it."""

    name: str
    options: RPCOptions


class ChainletSpec(_Frozen):
    """One chainlet, ready for any target."""

    name: str
    import_path: str = pydantic.Field(description="`module:QualName` within the workspace.")
    is_entrypoint: bool
    build: BuildSpec
    compute: ComputeSpec
    assets: Assets
    dependencies: list[DependencySpec]
    user_config: dict[str, Any] | None
    source_digest: str = pydantic.Field(description="Hash of the chainlet's own code and files.")
    content_hash: str = pydantic.Field(
        description="Hash of source, requirements, config and the dependencies' content hashes."
    )

    @property
    def secret_keys(self) -> list[str]:
        return list(self.assets.secret_keys)

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]


class ChainPlan(_Frozen):
    """Every chainlet of a chain, dependencies before dependents."""

    chain_name: str
    entrypoint: str
    user_env: dict[str, str]
    environment: str | None = None
    workspace_dir: str
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
