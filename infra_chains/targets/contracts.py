"""ChainletSpec + layout -> RuntimeContract: the one place a target's addresses meet the plan.

Paths come only from the layout: an image target passes the image's layout (what building
returned), the local target `ChainletLayout.on_host(plan, spec)`; so an image's contract never
holds a path of the machine that planned it.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping

from infra_chains.build.layout import ChainletLayout
from infra_chains.plan.models import ChainletSpec, ChainPlan
from infra_chains.public_types import ServiceDescriptor
from infra_chains.serving.contract import RuntimeContract

PREDICT_PATH = "/run_remote"


def predict_url(base_url: str) -> str:
    return base_url.rstrip("/") + PREDICT_PATH


def runtime_contract(
    plan: ChainPlan,
    spec: ChainletSpec,
    layout: ChainletLayout,
    *,
    base_urls: Mapping[str, str],
    port: int,
    host: str = "127.0.0.1",
    secrets_dir: pathlib.Path | None = None,
) -> RuntimeContract:
    """The contract for ``spec`` laid out as ``layout``, its dependencies at ``base_urls[name]``.

    ``secrets_dir`` is where the target puts this chainlet's secret files (not part of an image).
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
        workspace_dir=pathlib.Path(layout.workspace_dir),
        extra_python_paths=[pathlib.Path(p) for p in layout.package_dirs],
        chainlet_to_service=services,
        user_env=spec.deployment.user_env,
        env_variables=spec.deployment.env_variables,
        log_level=spec.deployment.log_level,
        user_config=spec.user_config,
        environment=spec.deployment.environment,
        data_dir=pathlib.Path(layout.data_dir) if layout.data_dir is not None else None,
        secrets_dir=secrets_dir if spec.secret_keys else None,
        host=host,
        port=port,
        predict_concurrency=spec.compute.predict_concurrency,
    )
