"""The infra_chains runtime an image ships: its files, its identity and its pinned requirements.

An image carries the whole ``infra_chains`` package as source (`runtime_files`: every file of the
package but caches), on ``PYTHONPATH``; a chainlet process imports only framework + serving from
it. Source rather than a wheel: no build backend at deploy time, the digest covers exactly the
bytes shipped, and an editable install ships its local edits (which then change every image
hash, so no stale image is reused).

`RUNTIME_REQUIREMENTS` are exact pins written here rather than read from whatever is installed on
the deploying machine, so the same plan gives the same images everywhere; keep them inside
pyproject's ranges (a test checks) and update them together with it.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from importlib import metadata

from infra_chains.plan.models import RuntimeVersion

#: Third-party distributions the serving runtime imports, pinned.
RUNTIME_REQUIREMENTS: tuple[str, ...] = (
    "pydantic==2.14.4",
    "uvicorn==0.54.0",
    "uvloop==0.23.0",
    "httptools==0.9.0",
    "aiohttp==3.14.5",
    "httpx==0.28.1",
    "sniffio==1.3.1",
    "msgpack==1.2.4",
)
#: What the server of a websocket chainlet needs besides (uvicorn's websocket protocol); only its
#: image gets it.
WEBSOCKET_REQUIREMENTS: tuple[str, ...] = ("websockets==17.4",)
#: Client libraries the asset fetcher imports, by `FetchItem.kind`; an image gets one only when its
#: chainlet has an asset of that kind (`plan/assets.py`). Inside pyproject's `assets` extra.
ASSET_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "s3": ("boto3==1.44.8",),
    "hf": ("huggingface_hub==2.4.0",),
}
DISTRIBUTION = "infra-chains"
#: The package directory (``.../infra_chains``).
PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1]
_CACHE_DIRS = frozenset({"__pycache__"})
_CACHE_SUFFIXES = (".pyc", ".pyo")


def runtime_files(package_dir: pathlib.Path = PACKAGE_DIR) -> list[pathlib.Path]:
    """Every file of the package, sorted; only bytecode caches are left out."""
    files: list[pathlib.Path] = []
    for directory, subdirs, names in os.walk(package_dir):
        subdirs[:] = sorted(d for d in subdirs if d not in _CACHE_DIRS)
        files.extend(
            pathlib.Path(directory) / name for name in names if not name.endswith(_CACHE_SUFFIXES)
        )
    return sorted(files)


def runtime_digest(package_dir: pathlib.Path = PACKAGE_DIR) -> str:
    """sha256 over the package's files (names relative to its parent, and contents)."""
    digest = hashlib.sha256()
    for path in runtime_files(package_dir):
        digest.update(path.relative_to(package_dir.parent).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def asset_requirements(kinds: list[str]) -> list[str]:
    """The pinned client libraries of the fetcher kinds ``kinds`` (none for http)."""
    return [line for kind in sorted(kinds) for line in ASSET_REQUIREMENTS.get(kind, ())]


def package_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def current_runtime() -> RuntimeVersion:
    """The runtime this process would ship."""
    return RuntimeVersion(version=package_version(), digest=runtime_digest())
