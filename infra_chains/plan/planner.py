"""ChainGraph -> ChainPlan."""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
import sys
from collections.abc import Mapping
from typing import Any

from infra_chains.errors import ChainsUsageError
from infra_chains.framework.chainlet import definition_of
from infra_chains.framework.definition import ChainletDefinition
from infra_chains.framework.graph import ChainGraph
from infra_chains.plan import names
from infra_chains.plan import workspace as ws
from infra_chains.plan.models import (
    BuildSpec,
    ChainletSpec,
    ChainPlan,
    ComputeSpec,
    DependencySpec,
)
from infra_chains.remote_config import CustomImage, DockerImage

CHAIN_NAME_RE = names.CHAIN_NAME_RE
_CUDA_BASE = "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04"


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
) -> ChainPlan:
    """Describe every chainlet of ``graph`` for deployment; pure and deterministic."""
    validate_chain_name(chain_name)
    names.chainlet_labels(chain_name, [c.name for c in graph.chainlets])  # clash-checked early
    entry_file = _source_file(graph.entrypoint)
    workspace = ws.workspace_of(entry_file)
    files = ws.workspace_files(workspace)
    specs: dict[str, ChainletSpec] = {}
    for chainlet in graph.chainlets:
        specs[chainlet.name] = _chainlet_spec(chainlet, graph, workspace, files, specs)
    return ChainPlan(
        chain_name=chain_name,
        entrypoint=graph.entrypoint.name,
        user_env=dict(sorted((user_env or {}).items())),
        environment=environment,
        workspace_dir=str(workspace),
        chainlets=list(specs.values()),
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


def _source_digest(
    chainlet: ChainletDefinition, graph: ChainGraph, workspace: pathlib.Path, files: list[pathlib.Path]
) -> str:
    file = _source_file(chainlet)
    siblings = {
        c.cls.__name__ for c in graph.chainlets if c is not chainlet and _source_file(c) == file
    }
    own_source = ws.module_source_without(file.read_text(), siblings)
    digest = hashlib.sha256()
    digest.update(own_source.encode())
    digest.update(ws.digest_files(files, workspace, skip=file).encode())
    image = chainlet.remote_config.docker_image
    for extra in image.external_package_dirs or []:
        root = pathlib.Path(extra.abs_path)
        digest.update(ws.digest_files(ws.workspace_files(root), root).encode())
    if image.data_dir is not None:
        root = pathlib.Path(image.data_dir.abs_path)
        digest.update(ws.digest_files(ws.workspace_files(root), root).encode())
    return digest.hexdigest()


def _build_spec(chainlet: ChainletDefinition, workspace: pathlib.Path) -> BuildSpec:
    image: DockerImage = chainlet.remote_config.docker_image
    requirements: list[str] = []
    if image.pip_requirements_file is not None:
        path = pathlib.Path(image.pip_requirements_file.abs_path)
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip() if not line.strip().startswith("-") else line.strip()
            if line:
                requirements.append(line)
    requirements.extend(image.pip_requirements)
    base = image.base_image
    has_gpu = chainlet.remote_config.compute.gpu is not None
    if isinstance(base, CustomImage):
        base_image, python = base.image, base.python_executable_path or "python3"
    elif has_gpu:
        base_image, python = _CUDA_BASE, f"python{base.python_version}"
    else:
        base_image, python = f"python:{base.python_version}-slim", "python3"
    return BuildSpec(
        base_image=base_image,
        python_executable=python,
        pip_requirements=requirements,
        apt_requirements=list(image.apt_requirements),
        workspace_dir=str(workspace),
        external_package_dirs=[p.abs_path for p in image.external_package_dirs or []],
        data_dir=image.data_dir.abs_path if image.data_dir is not None else None,
    )


def _chainlet_spec(
    chainlet: ChainletDefinition,
    graph: ChainGraph,
    workspace: pathlib.Path,
    files: list[pathlib.Path],
    done: Mapping[str, ChainletSpec],
) -> ChainletSpec:
    config = chainlet.remote_config
    compute = config.compute
    dependencies = [
        DependencySpec(name=definition_of(d.chainlet_cls).name, options=d.options)
        for d in chainlet.dependencies
        if d.is_chainlet
    ]
    user_config = (
        chainlet.default_user_config.model_dump(mode="json")
        if chainlet.default_user_config is not None
        else None
    )
    fields: dict[str, Any] = dict(
        name=chainlet.name,
        import_path=_import_path(chainlet, workspace),
        is_entrypoint=chainlet is graph.entrypoint,
        build=_build_spec(chainlet, workspace),
        compute=ComputeSpec(
            cpu_count=compute.cpu_count,
            memory=compute.memory,
            memory_bytes=compute.memory_bytes,
            gpu=compute.gpu,
            gpu_count=compute.gpu_count if compute.gpu else 0,
            predict_concurrency=compute.resolved_predict_concurrency,
            replicas=config.replicas,
        ),
        assets=config.assets,
        dependencies=dependencies,
        user_config=user_config,
        source_digest=_source_digest(chainlet, graph, workspace, files),
    )
    hashed = json.dumps(
        {
            "spec": ChainletSpec(**fields, content_hash="").model_dump(mode="json"),
            "dependencies": {d.name: done[d.name].content_hash for d in dependencies},
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        },
        sort_keys=True,
    )
    return ChainletSpec(**fields, content_hash=hashlib.sha256(hashed.encode()).hexdigest())
