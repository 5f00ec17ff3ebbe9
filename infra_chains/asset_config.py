"""What a chainlet needs on disk and in secrets before `__init__` runs (``RemoteConfig.assets``).

User-facing, like `remote_config` (which re-exports these): field names follow truss-chains, and a
bad value raises a `ConfigValueError` naming the chain file, line and member. A source we cannot
fetch (``kind="gcs"``, ``gs://``, ``azure://``, ...) is refused here, when the chain file is
imported, never skipped at run time.

Where each asset is visible when ``__init__`` runs (docs/assets.md):

- ``ExternalDataItem``: the file at ``context.data_dir / local_data_path``;
- ``ModelRepo``: the repository's files under the model cache directory
  (``/app/model_cache/<volume_folder>`` in an image, as in truss), see `ModelRepo.folder`;
- ``WeightsSource``: the files under ``mount_location`` (an ``https://`` file keeps its name).
"""

from __future__ import annotations

import re
import urllib.parse
from typing import ClassVar, Literal

import pydantic

from infra_chains._config_model import ConfigModel
from infra_chains.errors import ProblemCode

__all__ = ["Assets", "ExternalDataItem", "ModelRepo", "WeightsSource"]

_SECRET_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
#: Schemes truss-chains knows that we do not fetch (yet), with what to do instead.
_UNSUPPORTED_SCHEMES = {
    "gs": "Google Cloud Storage",
    "gcs": "Google Cloud Storage",
    "azure": "Azure Blob Storage",
    "r2": "Cloudflare R2 (use s3:// with endpoint_url=https://<account>.r2.cloudflarestorage.com)",
    "cw": "CoreWeave object storage (use s3:// with its endpoint_url)",
}
_FETCHED_SCHEMES = ("hf://", "s3://", "https://", "http://")


def _secret_name(value: str | None, field: str) -> str | None:
    if value is not None and not _SECRET_KEY_RE.match(value):
        raise ValueError(f"{field} {value!r} may contain only letters, digits, '_', '-' and '.'")
    return value


def _patterns(value: list[str] | None) -> list[str] | None:
    if value is not None and any(not p for p in value):
        raise ValueError("a pattern must not be empty")
    return value


def _relative_path(value: str, field: str, inside: str) -> str:
    parts = value.split("/")
    if value.startswith("/") or not value or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{field} must be relative inside {inside} (no '..', no empty part), "
                         f"got {value!r}")
    return value


def _http_url(value: str, field: str) -> str:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{field} must be an http(s):// URL, got {value!r}")
    return value


class ModelRepo(ConfigModel):
    """A model repository fetched before ``__init__`` runs (truss-chains' ``ModelRepo``).

    Args:
        repo_id: ``org/name`` on the Hugging Face hub (``kind="hf"``), or ``s3://bucket/prefix``
            (``kind="s3"``).
        revision: Branch, tag or commit (hf); the hub's default branch when empty. Pin a commit
            for reproducible deployments.
        allow_patterns: Only files matching one of these (fnmatch, relative to the repo root).
        ignore_patterns: Files to leave out.
        volume_folder: The folder under the model cache directory (``/app/model_cache`` in an
            image) holding the files; defaults to ``repo_id`` with ``/`` replaced by ``--``.
        use_volume: Accepted for truss-chains compatibility: every repo is cached in a volume.
        kind: ``hf`` or ``s3``; ``gcs`` and ``azure`` are not supported yet and are refused.
        runtime_secret_name: The secret holding the credentials (hf: the token; s3: a JSON
            object, see docs/assets.md). Its default, ``hf_access_token``, is used only when the
            chainlet declares it in ``Assets.secret_keys``; a name given here is added to them.
        endpoint_url: s3 only (infra_chains extension): an S3-compatible endpoint (MinIO, R2).
    """

    __problem_code__: ClassVar[ProblemCode] = "model-repo-value"

    repo_id: str = pydantic.Field(min_length=1)
    revision: str | None = None
    allow_patterns: list[str] | None = None
    ignore_patterns: list[str] | None = None
    volume_folder: str | None = None
    use_volume: bool = False
    kind: Literal["hf", "s3", "gcs", "azure"] = "hf"
    runtime_secret_name: str = "hf_access_token"
    endpoint_url: str | None = None

    @pydantic.field_validator("allow_patterns", "ignore_patterns")
    @classmethod
    def _check_patterns(cls, value: list[str] | None) -> list[str] | None:
        return _patterns(value)

    @pydantic.field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value in ("gcs", "azure"):
            raise ValueError(
                f"kind {value!r} ({_UNSUPPORTED_SCHEMES[value]}) is not fetched by infra_chains "
                "yet; copy the repository to S3 (or an S3-compatible store) and use kind='s3'"
            )
        return value

    @pydantic.field_validator("revision")
    @classmethod
    def _revision(cls, value: str | None) -> str | None:
        if value is not None and len(value) == 1:
            raise ValueError(f"revision must be empty or at least 2 characters, got {value!r}")
        return value or None

    @pydantic.field_validator("volume_folder")
    @classmethod
    def _folder(cls, value: str | None) -> str | None:
        return None if value is None else _relative_path(value, "volume_folder", "the model cache directory")

    @pydantic.field_validator("runtime_secret_name")
    @classmethod
    def _secret(cls, value: str) -> str:
        return _secret_name(value, "runtime_secret_name") or value

    @pydantic.model_validator(mode="after")
    def _fits_kind(self) -> ModelRepo:
        if self.kind == "s3":
            bucket = self.repo_id.removeprefix("s3://").split("/", 1)[0]
            if not bucket:
                raise ValueError(f"repo_id {self.repo_id!r} of a kind='s3' repo must be "
                                 "s3://bucket/prefix")
            if self.revision is not None:
                raise ValueError(f"revision {self.revision!r} is for kind='hf' repos only")
        else:
            if "://" in self.repo_id:
                raise ValueError(f"repo_id {self.repo_id!r} of a kind='hf' repo must be 'org/name' "
                                 "(for an S3 prefix set kind='s3')")
            if self.endpoint_url is not None:
                raise ValueError("endpoint_url is for kind='s3' repos only")
        return self

    @property
    def folder(self) -> str:
        """The folder under the model cache directory holding the repository's files."""
        if self.volume_folder is not None:
            return self.volume_folder
        name = self.repo_id.removeprefix("s3://").strip("/")
        return re.sub(r"[^A-Za-z0-9._-]+", "--", name)


class ExternalDataItem(ConfigModel):
    """A file downloaded from ``url`` to ``context.data_dir / local_data_path`` before start.

    Args:
        url: An ``https://`` (or ``http://``) URL of one file.
        local_data_path: Where the file appears, relative to ``context.data_dir``.
        name: A label for logs and errors (defaults to ``local_data_path``).
        backend: truss-chains' download backend; only ``http_public`` exists.
    """

    __problem_code__: ClassVar[ProblemCode] = "external-data-value"

    url: str
    local_data_path: str
    name: str | None = None
    backend: Literal["http_public"] = "http_public"

    @pydantic.field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value, "url")

    @pydantic.field_validator("local_data_path")
    @classmethod
    def _relative(cls, value: str) -> str:
        return _relative_path(value, "local_data_path", "data_dir")


class WeightsSource(ConfigModel):
    """Weights fetched before ``__init__`` runs and visible at ``mount_location`` (truss-chains'
    ``WeightsSource``).

    Args:
        source: A URI with its scheme: ``hf://org/repo`` or ``hf://org/repo@revision`` (Hugging
            Face), ``s3://bucket/prefix`` (every object under the prefix), ``https://host/file``
            (one file, kept under its name). ``gs://``, ``azure://``, ``r2://`` and ``cw://`` are
            not fetched by infra_chains yet and are refused.
        mount_location: Absolute directory where the files appear, e.g. ``/app/weights``.
        auth_secret_name: The chainlet secret with the credentials (hf: the token; s3: a JSON
            object, see docs/assets.md); added to the chainlet's ``secret_keys``.
        allow_patterns: hf and s3: only files matching one of these (fnmatch).
        ignore_patterns: hf and s3: files to leave out.
        endpoint_url: s3 only (infra_chains extension): an S3-compatible endpoint (MinIO, R2).
    """

    __problem_code__: ClassVar[ProblemCode] = "weights-source-value"

    source: str = pydantic.Field(min_length=1)
    mount_location: str = pydantic.Field(min_length=1)
    auth_secret_name: str | None = None
    allow_patterns: list[str] | None = None
    ignore_patterns: list[str] | None = None
    endpoint_url: str | None = None

    @pydantic.field_validator("allow_patterns", "ignore_patterns")
    @classmethod
    def _check_patterns(cls, value: list[str] | None) -> list[str] | None:
        return _patterns(value)

    @pydantic.field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep:
            raise ValueError(f"source {value!r} has no scheme; use one of "
                             f"{', '.join(_FETCHED_SCHEMES)}")
        if scheme in _UNSUPPORTED_SCHEMES:
            raise ValueError(f"source {value!r}: {scheme}:// ({_UNSUPPORTED_SCHEMES[scheme]}) is not "
                             "fetched by infra_chains yet; mirror the files to s3:// or hf://")
        if f"{scheme}://" not in _FETCHED_SCHEMES:
            raise ValueError(f"source {value!r}: unknown scheme {scheme}://; use one of "
                             f"{', '.join(_FETCHED_SCHEMES)}")
        if not rest or rest.startswith("/"):
            expected = {"hf": "hf://org/repo[@revision]", "s3": "s3://bucket/prefix"}
            raise ValueError(f"source {value!r} is incomplete; expected "
                             f"{expected.get(scheme, scheme + '://host/path')}")
        if scheme == "s3" and "@" in rest:
            raise ValueError(f"source {value!r}: '@revision' is for hf:// sources only")
        if scheme in ("http", "https"):
            _http_url(value, "source")
            if urllib.parse.urlsplit(value).path.rsplit("/", 1)[-1] == "":
                raise ValueError(f"source {value!r} must name a file (https://host/path/file)")
        return value

    @pydantic.field_validator("mount_location")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or ".." in value.split("/") or value.rstrip("/") == "":
            raise ValueError(f"mount_location must be an absolute directory like /app/weights, "
                             f"got {value!r}")
        return value.rstrip("/")

    @pydantic.field_validator("auth_secret_name")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        return _secret_name(value, "auth_secret_name")

    @pydantic.model_validator(mode="after")
    def _fits_scheme(self) -> WeightsSource:
        scheme = self.source.partition("://")[0]
        if scheme in ("http", "https") and (self.allow_patterns or self.ignore_patterns):
            raise ValueError(f"allow_patterns/ignore_patterns need an hf:// or s3:// source, not "
                             f"{self.source!r} (one file)")
        if self.endpoint_url is not None and scheme != "s3":
            raise ValueError(f"endpoint_url is for s3:// sources only, not {self.source!r}")
        return self


class Assets(ConfigModel):
    """Assets a chainlet can use at run time; all of them are on disk before ``__init__`` runs.

    Args:
        cached: Model repos (`ModelRepo`) fetched into the model cache directory.
        secret_keys: Names of secrets this chainlet may read from ``context.secrets``.
        external_data: Files (`ExternalDataItem`) downloaded into ``context.data_dir``.
        weights: Weights (`WeightsSource`) visible at their ``mount_location``.
    """

    __problem_code__: ClassVar[ProblemCode] = "assets-value"

    cached: list[ModelRepo] = pydantic.Field(default_factory=list)
    secret_keys: list[str] = pydantic.Field(default_factory=list)
    external_data: list[ExternalDataItem] = pydantic.Field(default_factory=list)
    weights: list[WeightsSource] = pydantic.Field(default_factory=list)

    @pydantic.field_validator("secret_keys")
    @classmethod
    def _secret_names(cls, value: list[str]) -> list[str]:
        for key in value:
            if not _SECRET_KEY_RE.match(key):
                raise ValueError(
                    f"secret key {key!r} may contain only letters, digits, '_', '-' and '.'"
                )
        return value

    @pydantic.model_validator(mode="after")
    def _no_overlap(self) -> Assets:
        seen: dict[str, str] = {}
        places = [(f"external_data local_data_path {e.local_data_path!r}", "data/" + e.local_data_path)
                  for e in self.external_data]
        places += [(f"cached volume_folder {m.folder!r}", "model_cache/" + m.folder) for m in self.cached]
        places += [(f"weights mount_location {w.mount_location!r}", w.mount_location) for w in self.weights]
        for what, where in places:
            if where in seen:
                raise ValueError(f"{what} is used twice ({seen[where]}); give each asset its own place")
            seen[where] = what
        return self
