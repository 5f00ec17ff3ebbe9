"""Make a chainlet's assets visible before its ``__init__`` runs (contract ``assets``).

Each asset is fetched into the shared cache (`infra_chains.fetch.fetch_all`: verified entries
return at once, so a restart downloads nothing) and then *linked* at the path the chainlet reads:
a symlink into the cache, replaced atomically, so the cache keeps the only copy and two chains
using the same weights share it. When the target already placed them (``assets_in_place``:
Kubernetes' init container and docker's fetch container mount each cache entry at its path), the
runtime only checks that every path is there.

``data_dir`` holding assets is a directory of its own (the target's, writable); the chainlet's
shipped data (``image_data_dir``) is linked into it entry by entry, descending only where an asset
lands inside a shipped directory, so nothing is ever written into the shipped data.
"""

from __future__ import annotations

import logging
import os
import pathlib
import shutil

from infra_chains.fetch import AssetFetchError, fetch_all
from infra_chains.serving.contract import AssetMount, RuntimeContract

logger = logging.getLogger(__name__)

#: Set for the chainlet when the contract has a model cache dir: where ModelRepo assets appear.
MODEL_CACHE_ENV = "INFRA_CHAINS_MODEL_CACHE_DIR"


def place_assets(contract: RuntimeContract) -> None:
    """Fetch and link every asset of ``contract``; raises `AssetFetchError` naming the one that
    failed (the runtime reports it as the readiness failure)."""
    if contract.model_cache_dir is not None:
        os.environ[MODEL_CACHE_ENV] = str(contract.model_cache_dir)
    if not contract.assets:
        return
    if contract.assets_in_place:
        for mount in contract.assets:
            if not mount.path.exists():
                raise AssetFetchError(mount.item.name, f"expected at {mount.path}, where the target "
                                      "mounts it after fetching; the fetch step did not run or "
                                      "its volume is not mounted. Push again.")
        return
    if contract.asset_cache_dir is None:
        raise AssetFetchError(contract.assets[0].item.name, "the runtime contract has assets but no "
                              "asset_cache_dir; the target must set one.")
    fetched = fetch_all([m.item for m in contract.assets], contract.asset_cache_dir,
                        secrets_dir=contract.secrets_dir, log=logger)
    if contract.data_dir is not None and contract.image_data_dir is not None:
        inside = [m.path.relative_to(contract.data_dir) for m in contract.assets
                  if m.path.is_relative_to(contract.data_dir)]
        _overlay(contract.image_data_dir, contract.data_dir, inside)
    for mount in contract.assets:
        path = fetched[mount.item.name]
        # An http item's path is its file; shown as a directory, the item's cache directory.
        target = path.parent if mount.expose == "directory" and path.is_file() else path
        _link(mount, target)


def _link(mount: AssetMount, target: pathlib.Path) -> None:
    """Point ``mount.path`` at ``target``; an existing link is replaced atomically, an empty
    directory replaced, anything else is left alone and reported."""
    path = mount.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() and os.readlink(path) == str(target):
            return
        if path.is_dir() and not path.is_symlink():
            if any(path.iterdir()):
                raise AssetFetchError(mount.item.name, f"{path} is a non-empty directory; remove it "
                                      "or choose another place for the asset.")
            path.rmdir()
        elif path.exists() and not path.is_symlink():
            raise AssetFetchError(mount.item.name, f"{path} exists and is not a link to the cache; "
                                  "remove it or choose another place for the asset.")
        temporary = path.with_name(f".{path.name}.link-{os.getpid()}")
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(target, target_is_directory=target.is_dir())
        os.replace(temporary, path)
    except OSError as exc:
        raise AssetFetchError(mount.item.name, f"cannot make it visible at {path}: {exc.strerror} "
                              f"({exc.filename}); the path must be writable by the chainlet's user."
                              ) from None
    logger.info("asset %s: at %s", mount.item.name, path)


def _overlay(shipped: pathlib.Path, view: pathlib.Path, assets: list[pathlib.Path]) -> None:
    """Rebuild ``view`` as links to ``shipped``'s entries, leaving room for ``assets``."""
    if view.is_dir() and not view.is_symlink():
        shutil.rmtree(view)  # links and directories this function made: never the shipped data
    view.mkdir(parents=True, exist_ok=True)
    prefixes = {parent for asset in assets for parent in asset.parents if parent != pathlib.Path(".")}
    taken = set(assets)

    def mirror(relative: pathlib.Path) -> None:
        source = shipped / relative
        if not source.is_dir():
            return
        for entry in sorted(source.iterdir()):
            rel = relative / entry.name
            if rel in taken:
                continue  # the asset wins, as in truss
            if rel in prefixes and entry.is_dir():
                (view / rel).mkdir(exist_ok=True)
                mirror(rel)
            else:
                (view / rel).symlink_to(entry, target_is_directory=entry.is_dir())

    mirror(pathlib.Path("."))
