"""What one asset is: a `FetchItem`, the data that crosses from the plan to the fetcher.

The plan turns the user's ``ModelRepo`` / ``ExternalDataItem`` / ``WeightsSource`` into these; the
fetcher (in the serving runtime, or the Kubernetes init container via ``python -m
infra_chains.fetch``) reads them. `FetchItem.cache_key` names the item's directory in the cache:
it hashes what identifies the *content* and nothing else (not the secret, not the label), so two
chains that use the same weights share one download.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from typing import Literal

import pydantic

__all__ = ["FetchItem", "FetchKind"]

FetchKind = Literal["http", "s3", "hf"]

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_HF_REPO_RE = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$")
_SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_SLUG_RE = re.compile(r"[^a-z0-9._-]+")


class FetchItem(pydantic.BaseModel):
    """One asset to fetch into the cache before a chainlet's ``__init__`` runs.

    Credentials come only from the file ``secrets_dir/<secret_name>`` (the chainlet's declared
    secrets), never from the process environment (``AWS_*``, ``HF_TOKEN``) or a user's config
    files: a chainlet sees exactly the secrets it declared, on every target.

    Args:
        name: Human label used in logs and errors, e.g. ``"ModelRepo 'org/m'"``.
        kind: ``http`` (one file), ``s3`` (one object or every object under a prefix) or ``hf``
            (a Hugging Face repository snapshot).
        source: An ``http(s)://`` URL; ``s3://bucket/key`` or ``s3://bucket/prefix/``; or a hub
            repo id ``org/name``.
        revision: hf only: branch, tag or commit (the hub's default branch when unset).
        repo_type: hf only: ``model`` (default), ``dataset`` or ``space``.
        allow_patterns: s3 prefix and hf: fnmatch patterns on paths relative to the prefix /
            repo root; only matching files are fetched.
        ignore_patterns: s3 prefix and hf: fnmatch patterns of files to leave out.
        secret_name: The chainlet secret with the credentials. hf: the token itself (plain
            text). s3: a JSON object ``{"aws_access_key_id": ..., "aws_secret_access_key": ...,
            "aws_session_token": ... (optional), "region_name": ... (optional)}``. Unset: the
            request is anonymous (public buckets / repos).
        endpoint_url: s3: an S3-compatible endpoint (MinIO, R2); unset, boto3's default (which
            reads ``AWS_ENDPOINT_URL``). hf: the hub endpoint; unset, ``HF_ENDPOINT`` or the hub.
        sha256: http only: the file's expected SHA-256 (hex); the download is rejected otherwise.
        size: http only: the file's expected size in bytes.
        filename: http only: the file's name in the cache directory; defaults to the URL's last
            path segment.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    name: str = pydantic.Field(min_length=1)
    kind: FetchKind
    source: str = pydantic.Field(min_length=1)
    revision: str | None = None
    repo_type: Literal["model", "dataset", "space"] = "model"
    allow_patterns: list[str] | None = None
    ignore_patterns: list[str] | None = None
    secret_name: str | None = None
    endpoint_url: str | None = None
    sha256: str | None = None
    size: int | None = pydantic.Field(default=None, ge=0)
    filename: str | None = None

    @pydantic.field_validator("allow_patterns", "ignore_patterns")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        # An empty list would mean "match nothing" to some readers and "no filter" to others;
        # no filter is the only sensible meaning, so both spell it None.
        return sorted(set(value)) if value else None

    @pydantic.field_validator("sha256")
    @classmethod
    def _sha256(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.lower()
        if not _SHA256_RE.match(value):
            raise ValueError(f"sha256 must be 64 hex digits, got {value!r}")
        return value

    @pydantic.field_validator("secret_name")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        if value is not None and not _SECRET_NAME_RE.match(value):
            raise ValueError(f"secret_name may contain only letters, digits, '_', '-' and '.', got {value!r}")
        return value

    @pydantic.field_validator("filename")
    @classmethod
    def _filename(cls, value: str | None) -> str | None:
        if value is not None and (value in ("", ".", "..") or "/" in value or "\\" in value):
            raise ValueError(f"filename must be a plain file name, got {value!r}")
        return value

    @pydantic.model_validator(mode="after")
    def _fields_fit_kind(self) -> FetchItem:
        kind, source = self.kind, self.source
        if kind == "http":
            parts = urllib.parse.urlsplit(source)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"an http item's source must be an http(s):// URL, got {source!r}")
        elif kind == "s3":
            parts = urllib.parse.urlsplit(source)
            if parts.scheme != "s3" or not parts.netloc:
                raise ValueError(f"an s3 item's source must be s3://bucket/key-or-prefix, got {source!r}")
        elif not _HF_REPO_RE.match(source):
            raise ValueError(f"an hf item's source must be a repo id like 'org/name', got {source!r}")
        wrong = [
            field
            for field, allowed in (
                ("revision", ("hf",)),
                ("allow_patterns", ("hf", "s3")),
                ("ignore_patterns", ("hf", "s3")),
                ("sha256", ("http",)),
                ("size", ("http",)),
                ("filename", ("http",)),
            )
            if getattr(self, field) is not None and kind not in allowed
        ]
        if wrong:
            raise ValueError(f"{', '.join(wrong)} not supported for a {kind} item (source {source!r})")
        if self.repo_type != "model" and kind != "hf":
            raise ValueError(f"repo_type is for hf items only, not {kind} (source {source!r})")
        return self

    def cache_key(self) -> str:
        """The item's directory name in the cache: ``<kind>-<readable slug>-<digest>``.

        The digest covers what identifies the content (kind, source, revision, repo type,
        patterns, endpoint); not the label, the secret or the expected checksum, which are checked
        against what is cached instead. The slug only helps a person reading the cache.
        """
        identity = {
            "kind": self.kind,
            "source": self.source,
            "revision": self.revision,
            "repo_type": self.repo_type,
            "allow_patterns": self.allow_patterns,
            "ignore_patterns": self.ignore_patterns,
            "endpoint_url": self.endpoint_url.rstrip("/") if self.endpoint_url else None,
            "filename": self.filename,
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]
        path = urllib.parse.urlsplit(self.source).path if self.kind == "http" else self.source
        tail = path.rstrip("/").rsplit("/", 1)[-1].lower()
        slug = _SLUG_RE.sub("-", tail).strip("-.")[:40] or self.kind
        return f"{self.kind}-{slug}-{digest}"
