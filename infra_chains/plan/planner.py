"""ChainGraph -> ChainPlan: each chainlet's image part, deployment part and their hashes."""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
from collections.abc import Mapping

from infra_chains.errors import ChainsUsageError, DefinitionProblem
from infra_chains.framework.chainlet import definition_of
from infra_chains.framework.definition import ChainletDefinition
from infra_chains.framework.graph import ChainGraph
from infra_chains.plan import names
from infra_chains.plan.assets import fetch_kinds, plan_assets, with_auth_secrets
from infra_chains.plan import workspace as ws
from infra_chains.plan.base_images import (
    IMAGE_TEMPLATE_VERSION,
    UnsupportedBaseImage,
    resolve_base_image,
)
from infra_chains.plan.interface import interface_digest
from infra_chains.plan.models import (
    ChainletSpec,
    ChainPlan,
    ComputeSpec,
    DependencySpec,
    DeploymentSpec,
    ImageSpec,
    RuntimeVersion,
    SourceDigests,
    stable_hash,
)
from infra_chains.plan.requirements import merge_requirements, read_requirements_file
from infra_chains.plan.runtime import (
    RUNTIME_REQUIREMENTS,
    WEBSOCKET_REQUIREMENTS,
    asset_requirements,
    current_runtime,
)
from infra_chains.remote_config import DockerImage

CHAIN_NAME_RE = names.CHAIN_NAME_RE


def default_chain_name(entrypoint_name: str) -> str:
    """``TextPipeline`` -> ``text-pipeline``."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", entrypoint_name)
    kebab = re.sub(r"[^a-z0-9-]", "-", words.lower())
    return re.sub(r"-+", "-", kebab).strip("-")[:48] or "chain"


def validate_chain_name(name: str) -> str:
    return names.validate_chain_name(name)


def make_plan(
    graph: ChainGraph,
    chain_name: str,
    user_env: Mapping[str, str] | None = None,
    environment: str | None = None,
    *,
    runtime: RuntimeVersion | None = None,
) -> ChainPlan:
    """Describe every chainlet of ``graph`` for deployment; pure and deterministic.

    ``runtime`` is the infra_chains runtime the images will carry (default: this installation).
    """
    validate_chain_name(chain_name)
    if environment is not None:
        names.validate_environment_name(environment)
    names.chainlet_labels(chain_name, [c.name for c in graph.chainlets])  # clash-checked early
    entry_file = _source_file(graph.entrypoint)
    workspace = ws.workspace_of(entry_file)
    files = ws.workspace_files(workspace)
    _check_base_images(graph)
    planner = _Planner(graph, workspace, files, runtime or current_runtime(),
                       dict(sorted((user_env or {}).items())), environment)
    return ChainPlan(
        chain_name=chain_name,
        entrypoint=graph.entrypoint.name,
        user_env=planner.user_env,
        environment=environment,
        workspace_dir=str(workspace),
        chainlets=[planner.spec(chainlet) for chainlet in graph.chainlets],
    )


def _source_file(chainlet: ChainletDefinition) -> pathlib.Path:
    path = pathlib.Path(chainlet.file)
    if not path.is_file():
        raise ChainsUsageError(
            f"Chainlet {chainlet.cls.__qualname__} was not defined in a file ({chainlet.file}); "
            "chains deploy from source files, so define it in a .py file."
        )
    return path.resolve()


def _import_path(chainlet: ChainletDefinition, workspace: pathlib.Path) -> str:
    file = _source_file(chainlet)
    try:
        module = ws.module_name(file, workspace)
    except ValueError:
        raise ChainsUsageError(
            f"Chainlet {chainlet.cls.__qualname__} is defined in {file}, outside the chain's "
            f"workspace {workspace}; keep every chainlet of a chain under one directory, or add "
            "the other directory to DockerImage.external_package_dirs."
        ) from None
    if "<locals>" in chainlet.cls.__qualname__:
        raise ChainsUsageError(
            f"Chainlet {chainlet.cls.__qualname__} ({file}:{chainlet.line}) is defined inside a "
            "function; deployed chainlets must be defined at a module's top level."
        )
    return f"{module}:{chainlet.cls.__qualname__}"


def _check_base_images(graph: ChainGraph) -> None:
    """Every chainlet's base image must be able to run the runtime; all problems at once, in the
    definition-problem format (the choice is written in the chain file)."""
    problems: list[DefinitionProblem] = []
    for chainlet in graph.chainlets:
        config = chainlet.remote_config
        try:
            resolve_base_image(config.docker_image.base_image, gpu=config.compute.gpu is not None)
        except UnsupportedBaseImage as exc:
            problems.append(DefinitionProblem(
                "base-image", chainlet.file, chainlet.line,
                f"{chainlet.cls.__qualname__}.remote_config", f"docker_image.base_image: {exc}",
            ))
    if problems:
        raise ChainsUsageError.from_problems(problems)


def _relative(path: str, workspace: pathlib.Path) -> str:
    """``path`` relative to the workspace (POSIX; ``..`` when outside): the plan is relocatable."""
    return pathlib.Path(os.path.relpath(path, workspace)).as_posix()


class _Planner:
    """Turns each chainlet into a `ChainletSpec`; dependencies are planned before dependents."""

    def __init__(
        self,
        graph: ChainGraph,
        workspace: pathlib.Path,
        files: list[pathlib.Path],
        runtime: RuntimeVersion,
        user_env: dict[str, str],
        environment: str | None,
    ) -> None:
        self.graph, self.workspace, self.files, self.runtime = graph, workspace, files, runtime
        self.user_env, self.environment = user_env, environment
        self._code: dict[str, str] = {}
        self._interfaces: dict[str, str] = {}
        self._files: dict[tuple[pathlib.Path, str | None], bytes] = {}
        self._chainlet_classes: dict[pathlib.Path, set[str]] = {}
        for definition in graph.chainlets:
            self._chainlet_classes.setdefault(_source_file(definition), set()).add(definition.cls.__name__)

    def spec(self, chainlet: ChainletDefinition) -> ChainletSpec:
        image = self._image(chainlet)
        deployment = self._deployment(chainlet)
        image_hash, deployment_hash = stable_hash(image), stable_hash(deployment)
        # The dependencies' interfaces are in the image part: a dependency's new body restarts
        # no dependent, a new signature or I/O model restarts each (their stubs change).
        content_hash = stable_hash({"image": image_hash, "deployment": deployment_hash})
        return ChainletSpec(
            name=chainlet.name,
            is_entrypoint=chainlet is self.graph.entrypoint,
            image=image,
            deployment=deployment,
            image_hash=image_hash,
            deployment_hash=deployment_hash,
            content_hash=content_hash,
        )

    def code_digest(self, chainlet: ChainletDefinition) -> str:
        """The chainlet's class, and every file of the workspace without the other chainlets.

        Other chainlets' classes, in its own module or another, are left out: a dependent needs
        only a dependency's interface (`interface_digest`), and a sibling nothing at all, so
        editing one chainlet's body restarts that chainlet alone. Shared code (imports, models,
        helpers) and every other file count for all.
        """
        if chainlet.name not in self._code:
            own = _source_file(chainlet)
            digest = hashlib.sha256()
            digest.update(self._file_digest(own, keep=chainlet.cls.__name__))
            for path in self.files:
                if path != own:
                    digest.update(path.relative_to(self.workspace).as_posix().encode() + b"\0")
                    digest.update(self._file_digest(path))
            self._code[chainlet.name] = digest.hexdigest()
        return self._code[chainlet.name]

    def _file_digest(self, path: pathlib.Path, keep: str | None = None) -> bytes:
        """sha256 of a file; of a chain module's source without its chainlets but ``keep``."""
        key = (path, keep)
        if key not in self._files:
            classes = {c for c in self._chainlet_classes.get(path, set()) if c != keep}
            if classes:
                content = ws.module_source_without(path.read_text(), classes).encode()
            else:
                content = path.read_bytes()
            self._files[key] = hashlib.sha256(content).digest()
        return self._files[key]

    def interface_digest(self, chainlet: ChainletDefinition) -> str:
        """What the chainlet's callers' stubs are made from (computed once per chainlet)."""
        if chainlet.name not in self._interfaces:
            self._interfaces[chainlet.name] = interface_digest(chainlet)
        return self._interfaces[chainlet.name]

    def _image(self, chainlet: ChainletDefinition) -> ImageSpec:
        config = chainlet.remote_config
        image: DockerImage = config.docker_image
        base = resolve_base_image(image.base_image, gpu=config.compute.gpu is not None)
        user_file = (
            read_requirements_file(pathlib.Path(image.pip_requirements_file.abs_path))
            if image.pip_requirements_file is not None else []
        )
        package_dirs = [pathlib.Path(p.abs_path) for p in image.external_package_dirs or []]
        data_dir = pathlib.Path(image.data_dir.abs_path) if image.data_dir is not None else None
        sources = SourceDigests(
            code=self.code_digest(chainlet),
            dependencies={
                definition_of(d.chainlet_cls).name: self.interface_digest(definition_of(d.chainlet_cls))
                for d in chainlet.dependencies if d.is_chainlet
            },
            packages=[ws.digest_files(ws.workspace_files(root), root) for root in package_dirs],
            data=ws.digest_files(ws.workspace_files(data_dir), data_dir) if data_dir else None,
        )
        return ImageSpec(
            base_image=base.image,
            python_executable=base.python_executable,
            python_version=base.python_version,
            python_setup=base.python_setup,
            pip_requirements=merge_requirements(
                RUNTIME_REQUIREMENTS, WEBSOCKET_REQUIREMENTS if chainlet.endpoint.is_websocket else (),
                asset_requirements(fetch_kinds(plan_assets(config.assets))),
                user_file, image.pip_requirements,
            ),
            apt_requirements=sorted(set(image.apt_requirements)),
            external_package_dirs=[_relative(str(p), self.workspace) for p in package_dirs],
            data_dir=_relative(str(data_dir), self.workspace) if data_dir else None,
            build_commands=list(config.build_commands),
            sources=sources,
            runtime=self.runtime,
            template_version=IMAGE_TEMPLATE_VERSION,
        )

    def _deployment(self, chainlet: ChainletDefinition) -> DeploymentSpec:
        config = chainlet.remote_config
        compute = config.compute
        return DeploymentSpec(
            import_path=_import_path(chainlet, self.workspace),
            compute=ComputeSpec(
                cpu_count=compute.cpu_count,
                memory=compute.memory,
                memory_bytes=compute.memory_bytes,
                gpu=compute.gpu,
                gpu_count=compute.gpu_count if compute.gpu else 0,
                predict_concurrency=compute.resolved_predict_concurrency,
            ),
            replicas=config.replicas,
            dependencies=[
                DependencySpec(name=definition_of(d.chainlet_cls).name, options=d.options)
                for d in chainlet.dependencies if d.is_chainlet
            ],
            user_config=(
                chainlet.default_user_config.model_dump(mode="json")
                if chainlet.default_user_config is not None else None
            ),
            assets=with_auth_secrets(config.assets),
            fetch=plan_assets(config.assets),
            user_env=self.user_env,
            environment=self.environment,
            env_variables=dict(config.options.env_variables),
            log_level="DEBUG" if config.options.enable_debug_logs else "INFO",
            health_checks=config.options.health_checks,
            metadata=config.options.metadata,
        )
