"""What every source (http, s3, hf) offers the runner: fetch one item into staging."""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from typing import Protocol

from infra_chains.fetch._cache import FileRecord, Staging
from infra_chains.fetch._progress import Progress
from infra_chains.fetch.items import FetchItem


@dataclasses.dataclass(frozen=True)
class Fetched:
    """What one attempt fetched: the files in staging and the version it resolved to."""

    files: list[FileRecord]
    resolved: str | None = None


@dataclasses.dataclass(frozen=True)
class Context:
    """What a source may use besides the item: staging, the secrets, the log and progress."""

    staging: Staging
    secrets_dir: pathlib.Path | None
    log: logging.Logger
    progress: Progress


class Source(Protocol):
    """One kind of source. Raises `Failure` (transient or not) for a failed attempt; the runner
    retries. An attempt may reuse what ``context.staging`` says an earlier one finished."""

    def fetch(self, item: FetchItem, context: Context) -> Fetched: ...
