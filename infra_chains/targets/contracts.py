"""ChainletSpec + layout -> RuntimeContract: the one place a target's addresses meet the plan.

Paths come only from the layout: an image target passes the image's layout (what building
returned), the local target `ChainletLayout.on_host(plan, spec)`; so an image's contract never
holds a path of the machine that planned it.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Mapping

from infra_chains.build.layout import APP_DIR, ChainletLayout
from infra_chains.plan.models import ChainletSpec, ChainPlan
from infra_chains.public_types import ServiceDescriptor
from infra_chains.serving.contract import AssetMount, RuntimeContract

PREDICT_PATH = "/run_remote"
#: Where ModelRepo assets appear in an image (truss's model cache path); `AssetDirs.view_dir` of
#: a host target replaces it.
MODEL_CACHE_DIR = f"{APP_DIR}/model_cache"


@dataclasses.dataclass(frozen=True)
class AssetDirs:
    """Where a target keeps a chainlet's assets (docs/assets.md).

    ``cache_dir``: the fetcher's cache. ``view_dir``: a writable directory of this chainlet on a
    host target, holding its ``data`` (shipped data + assets) and ``model_cache``; None in an
    image, where they are ``/app/data`` and ``/app/model_cache``. ``in_place``: the target fetches
    and mounts the assets itself before the chainlet starts (init container, fetch container).
    """

    cache_dir: pathlib.Path
    view_dir: pathlib.Path | None = None
    in_place: bool = False


@dataclasses.dataclass(frozen=True)
class ResolvedAssets:
    """A chainlet's assets at absolute paths, and the contract's data and model cache dirs."""

    mounts: list[AssetMount]
    data_dir: str | None
    image_data_dir: str | None
    model_cache_dir: str | None


def asset_sub_path(mount: AssetMount) -> str:
    """Where ``mount``'s content is inside the cache: the item's directory, or its file (an
    http item's file name is set by the plan); image targets mount the cache volume's sub path."""
    key = mount.item.cache_key()
    return f"{key}/{mount.item.filename}" if mount.expose == "file" else key


def resolve_assets(spec: ChainletSpec, layout: ChainletLayout, view_dir: pathlib.Path | None) -> ResolvedAssets:
    """Each planned asset's absolute path (pure: the Kubernetes component mounts these too)."""
    planned = spec.deployment.fetch
    data_dir = layout.data_dir
    image_data_dir = None
    if any(p.root == "data_dir" for p in planned):
        if view_dir is not None:  # a host: the shipped data stays untouched, linked into the view
            data_dir, image_data_dir = str(view_dir / "data"), layout.data_dir
        elif data_dir is None:
            data_dir = f"{APP_DIR}/data"
    model_cache = None
    if any(p.root == "model_cache" for p in planned):
        model_cache = str(view_dir / "model_cache") if view_dir is not None else MODEL_CACHE_DIR
    roots = {"data_dir": data_dir, "model_cache": model_cache, "absolute": "/"}
    mounts = [
        AssetMount(item=p.item, path=pathlib.Path(roots[p.root] or "/", p.path), expose=p.expose)
        for p in planned
    ]
    return ResolvedAssets(mounts, data_dir, image_data_dir, model_cache)


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
    assets: AssetDirs | None = None,
) -> RuntimeContract:
    """The contract for ``spec`` laid out as ``layout``, its dependencies at ``base_urls[name]``.

    ``secrets_dir`` is where the target puts this chainlet's secret files (not part of an image);
    ``assets`` where it keeps the chainlet's assets (required when the plan declares some).
    """
    services = {
        dependency.name: ServiceDescriptor(
            name=dependency.name,
            predict_url=predict_url(base_urls[dependency.name]),
            options=dependency.options,
        )
        for dependency in spec.dependencies
    }
    resolved = resolve_assets(spec, layout, assets.view_dir if assets else None)
    if resolved.mounts and assets is None:
        raise ValueError(f"chainlet {spec.name!r} has assets: runtime_contract needs assets=AssetDirs(...)")
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
        data_dir=pathlib.Path(resolved.data_dir) if resolved.data_dir is not None else None,
        assets=resolved.mounts,
        asset_cache_dir=assets.cache_dir if assets and resolved.mounts else None,
        assets_in_place=bool(assets and assets.in_place and resolved.mounts),
        image_data_dir=pathlib.Path(resolved.image_data_dir) if resolved.image_data_dir else None,
        model_cache_dir=pathlib.Path(resolved.model_cache_dir) if resolved.model_cache_dir else None,
        secrets_dir=secrets_dir if spec.secret_keys else None,
        host=host,
        port=port,
        predict_concurrency=spec.compute.predict_concurrency,
    )
