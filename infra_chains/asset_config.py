"""What a chainlet needs on disk and in secrets before `__init__` runs (``RemoteConfig.assets``).

User-facing, like `remote_config` (which re-exports these): field names follow truss-chains, and a
bad value raises a `ConfigValueError` naming the chain file, line and member.
"""

from __future__ import annotations

import re
from typing import ClassVar

import pydantic

from infra_chains._config_model import ConfigModel
from infra_chains.errors import ProblemCode

__all__ = ["Assets", "ExternalDataItem", "ModelRepo"]


class ModelRepo(ConfigModel):
    """A model repository (Hugging Face style) cached into ``context.data_dir`` before start."""

    __problem_code__: ClassVar[ProblemCode] = "model-repo-value"

    repo_id: str = pydantic.Field(min_length=1)
    revision: str | None = None
    allow_patterns: list[str] | None = None
    ignore_patterns: list[str] | None = None
    volume_folder: str | None = None


class ExternalDataItem(ConfigModel):
    """A file downloaded from ``url`` into ``context.data_dir / local_data_path`` before start."""

    __problem_code__: ClassVar[ProblemCode] = "external-data-value"

    url: str
    local_data_path: str
    name: str | None = None

    @pydantic.field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"url must be an http(s) URL, got {value!r}")
        return value

    @pydantic.field_validator("local_data_path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"local_data_path must be relative inside data_dir, got {value!r}")
        return value


_SECRET_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class Assets(ConfigModel):
    """Assets a chainlet can use at run time.

    Args:
        cached: Model repos cached into ``context.data_dir`` before ``__init__`` runs.
        secret_keys: Names of secrets this chainlet may read from ``context.secrets``.
        external_data: Files downloaded into ``context.data_dir`` before ``__init__`` runs.
    """

    __problem_code__: ClassVar[ProblemCode] = "assets-value"

    cached: list[ModelRepo] = pydantic.Field(default_factory=list)
    secret_keys: list[str] = pydantic.Field(default_factory=list)
    external_data: list[ExternalDataItem] = pydantic.Field(default_factory=list)

    @pydantic.field_validator("secret_keys")
    @classmethod
    def _secret_names(cls, value: list[str]) -> list[str]:
        for key in value:
            if not _SECRET_KEY_RE.match(key):
                raise ValueError(
                    f"secret key {key!r} may contain only letters, digits, '_', '-' and '.'"
                )
        return value
