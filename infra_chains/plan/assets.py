"""``RemoteConfig.assets`` -> what to fetch and where each asset is visible (`PlannedAsset`).

Pure: the user's `ModelRepo` / `ExternalDataItem` / `WeightsSource` become fetcher items
(`infra_chains.fetch.items.FetchItem`, which name the cache entry) and a place relative to one of
three roots the target resolves (`targets/contracts.py`): the chainlet's data dir, its model cache
dir, or an absolute path. Both are part of the deployment part, so a new URL or revision rolls the
chainlet out; the image part only gains the client libraries (`plan/runtime.py` `asset_requirements`).

Credentials: an explicitly named secret (``WeightsSource.auth_secret_name``, a
``ModelRepo.runtime_secret_name`` passed by the user) is added to the chainlet's ``secret_keys``,
so every target requires and delivers it; ``ModelRepo``'s default ``hf_access_token`` is used only
when the chainlet declares it (truss-chains uses it only when it exists), so a public repo needs
no secret.
"""

from __future__ import annotations

import posixpath
import urllib.parse
from typing import Literal

import pydantic

from infra_chains.asset_config import Assets, ExternalDataItem, ModelRepo, WeightsSource
from infra_chains.fetch.items import FetchItem, FetchKind

#: The roots a visible path is relative to; the target maps each to a directory.
AssetRoot = Literal["data_dir", "model_cache", "absolute"]


class PlannedAsset(pydantic.BaseModel):
    """One asset: what to fetch, and where the chainlet sees it."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    item: FetchItem
    root: AssetRoot = pydantic.Field(description="What `path` is relative to.")
    path: str = pydantic.Field(description="POSIX path under `root`; absolute for `absolute`.")
    expose: Literal["file", "directory"] = pydantic.Field(
        description="`file`: `path` is the fetched file (http items); `directory`: `path` is the "
        "item's directory (every file of a repo or prefix; an http file under its name)."
    )


def plan_assets(assets: Assets) -> list[PlannedAsset]:
    """Every asset of ``assets``, in declaration order (cached, external_data, weights)."""
    declared = set(assets.secret_keys)
    planned = [_model_repo(repo, declared) for repo in assets.cached]
    planned += [_external_data(item) for item in assets.external_data]
    planned += [_weights(source) for source in assets.weights]
    return planned


def with_auth_secrets(assets: Assets) -> Assets:
    """``assets`` with each explicitly named credential secret added to ``secret_keys``."""
    keys = list(assets.secret_keys)
    named = [r.runtime_secret_name for r in assets.cached if "runtime_secret_name" in r.model_fields_set]
    named += [w.auth_secret_name for w in assets.weights if w.auth_secret_name is not None]
    keys += [key for key in dict.fromkeys(named) if key not in keys]
    return assets if keys == assets.secret_keys else assets.model_copy(update={"secret_keys": keys})


def fetch_kinds(planned: list[PlannedAsset]) -> list[str]:
    """The fetcher kinds ``planned`` uses, sorted (the image needs their client libraries)."""
    return sorted({asset.item.kind for asset in planned})


def _model_repo(repo: ModelRepo, declared: set[str]) -> PlannedAsset:
    explicit = "runtime_secret_name" in repo.model_fields_set
    secret = repo.runtime_secret_name if explicit or repo.runtime_secret_name in declared else None
    label = f"ModelRepo {repo.repo_id!r}"
    if repo.kind == "s3":
        item = _item(label, "s3", _s3_prefix(repo.repo_id), secret=secret,
                     allow=repo.allow_patterns, ignore=repo.ignore_patterns, endpoint=repo.endpoint_url)
    else:
        item = _item(label, "hf", repo.repo_id, revision=repo.revision, secret=secret,
                     allow=repo.allow_patterns, ignore=repo.ignore_patterns)
    return PlannedAsset(item=item, root="model_cache", path=repo.folder, expose="directory")


def _external_data(data: ExternalDataItem) -> PlannedAsset:
    label = f"ExternalDataItem {data.name or data.local_data_path!r}"
    # Named after the URL (the cache entry is shared with other chains fetching that URL), so the
    # file's place in the cache is known here: Kubernetes mounts it by that path.
    filename = _url_file_name(data.url) or posixpath.basename(data.local_data_path)
    item = FetchItem(name=label, kind="http", source=data.url, filename=filename)
    return PlannedAsset(item=item, root="data_dir", path=data.local_data_path, expose="file")


def _weights(source: WeightsSource) -> PlannedAsset:
    scheme, _, rest = source.source.partition("://")
    label = f"WeightsSource {source.source!r}"
    secret = source.auth_secret_name
    if scheme == "hf":
        repo, _, revision = rest.partition("@")
        item = _item(label, "hf", repo.strip("/"), revision=revision or None, secret=secret,
                     allow=source.allow_patterns, ignore=source.ignore_patterns)
    elif scheme == "s3":
        item = _item(label, "s3", _s3_prefix(source.source), secret=secret,
                     allow=source.allow_patterns, ignore=source.ignore_patterns,
                     endpoint=source.endpoint_url)
    else:
        item = FetchItem(name=label, kind="http", source=source.source, secret_name=secret,
                         filename=_url_file_name(source.source))
    return PlannedAsset(item=item, root="absolute", path=source.mount_location, expose="directory")


def _item(
    label: str, kind: FetchKind, source: str, *, revision: str | None = None,
    secret: str | None = None, allow: list[str] | None = None, ignore: list[str] | None = None,
    endpoint: str | None = None,
) -> FetchItem:
    return FetchItem(name=label, kind=kind, source=source, revision=revision, secret_name=secret,
                     allow_patterns=allow, ignore_patterns=ignore, endpoint_url=endpoint)


def _s3_prefix(uri: str) -> str:
    """``s3://bucket/prefix/``: a repo or weights source is every object under the prefix."""
    path = uri.removeprefix("s3://").strip("/")
    return f"s3://{path}/"


def _url_file_name(url: str) -> str:
    """The URL path's last segment, decoded; empty when it names no plain file."""
    name = urllib.parse.unquote(posixpath.basename(urllib.parse.urlsplit(url).path))
    return "" if name in (".", "..") or "/" in name or "\\" in name else name
