"""ChainletSpec -> RuntimeContract: the one place a target's addresses meet the plan."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping

from infra_chains.plan.models import ChainletSpec, ChainPlan
from infra_chains.public_types import ServiceDescriptor
from infra_chains.serving.contract import RuntimeContract

PREDICT_PATH = "/run_remote"


def predict_url(base_url: str) -> str:
    return base_url.rstrip("/") + PREDICT_PATH


def runtime_contract(
    plan: ChainPlan,
    spec: ChainletSpec,
    *,
    base_urls: Mapping[str, str],
    port: int,
    host: str = "127.0.0.1",
    workspace_dir: pathlib.Path | None = None,
    secrets_dir: pathlib.Path | None = None,
    data_dir: pathlib.Path | None = None,
) -> RuntimeContract:
    """The contract for ``spec``, its dependencies reached at ``base_urls[name]``.

    Paths default to where the plan found them (the local target); image-based targets pass the
    paths inside the image.
    """
    services = {
        dependency.name: ServiceDescriptor(
            name=dependency.name,
            predict_url=predict_url(base_urls[dependency.name]),
            options=dependency.options,
        )
        for dependency in spec.dependencies
    }
    return RuntimeContract(
        chain_name=plan.chain_name,
        chainlet_name=spec.name,
        import_path=spec.import_path,
        workspace_dir=workspace_dir or pathlib.Path(spec.build.workspace_dir),
        extra_python_paths=[pathlib.Path(p) for p in spec.build.external_package_dirs],
        chainlet_to_service=services,
        user_env=plan.user_env,
        user_config=spec.user_config,
        environment=plan.environment,
        data_dir=data_dir or (pathlib.Path(spec.build.data_dir) if spec.build.data_dir else None),
        secrets_dir=secrets_dir if spec.secret_keys else None,
        host=host,
        port=port,
        predict_concurrency=spec.compute.predict_concurrency,
    )
