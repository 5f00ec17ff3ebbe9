"""Host-side asset choices of the local target: the per-user cache, and absolute mount locations.

One cache directory per user, shared by every chain (two chains using the same weights download
them once; the fetcher locks each entry): ``$INFRA_CHAINS_CACHE_DIR``, else
``$XDG_CACHE_HOME/infra-chains/assets``, else ``~/.cache/infra-chains/assets``.

A ``WeightsSource.mount_location`` is an absolute path (``/app/weights``) that user code reads as
written, so the local target does not map it elsewhere: it links the cache entry there, and a
path this user cannot create is refused at push, before anything starts, naming the chainlet,
the source and what to do.
"""

from __future__ import annotations

import os
import pathlib

from infra_chains.errors import DeploymentError
from infra_chains.plan.models import ChainPlan

CACHE_DIR_ENV = "INFRA_CHAINS_CACHE_DIR"


def default_asset_cache_dir(environ: os._Environ[str] | dict[str, str] | None = None) -> pathlib.Path:
    """The per-user asset cache (see the module docstring)."""
    environ = os.environ if environ is None else environ
    if configured := environ.get(CACHE_DIR_ENV):
        return pathlib.Path(configured).expanduser()
    xdg = environ.get("XDG_CACHE_HOME")
    base = pathlib.Path(xdg) if xdg else pathlib.Path.home() / ".cache"
    return base / "infra-chains" / "assets"


def check_mount_locations(plan: ChainPlan) -> None:
    """Raise `DeploymentError` listing every absolute asset path this user cannot create."""
    problems = []
    for spec in plan.chainlets:
        for asset in spec.deployment.fetch:
            if asset.root != "absolute":
                continue
            reason = _unwritable(pathlib.Path(asset.path))
            if reason:
                problems.append(f"  chainlet {spec.name!r}: {asset.item.name} mount_location "
                                f"{asset.path}: {reason}")
    if problems:
        raise DeploymentError(
            "Assets cannot be placed on this machine:\n" + "\n".join(problems) + "\nThe local "
            "target links each mount_location to the user's asset cache, so its parent must be "
            "writable: choose a mount_location under a directory you own (e.g. /tmp/<name> or your "
            "home), or create it once (sudo mkdir -p <path> && sudo chown $USER <path>). The docker "
            "and kubernetes targets mount it as written."
        )


def _unwritable(path: pathlib.Path) -> str | None:
    """Why the runtime could not put a link at ``path``; None when it can."""
    if path.is_symlink():
        return None if os.access(path.parent, os.W_OK) else f"{path.parent} is not writable"
    if path.exists():
        if not path.is_dir():
            return "it exists and is not a directory or a link"
        if any(path.iterdir()):
            return "it is a non-empty directory (the local target would replace it with a link)"
        return None if os.access(path.parent, os.W_OK) else f"{path.parent} is not writable"
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    return None if os.access(existing, os.W_OK | os.X_OK) else f"{existing} is not writable by this user"
