"""Fetch a chainlet's assets into the cache before its ``__init__`` runs.

Per item: a complete, verified entry returns at once; otherwise take the item's lock (another
process may be fetching the same weights into a shared cache: wait for it, then use its result),
fetch into staging with retries, and commit (see `_cache` for the crash-safe layout).
"""

from __future__ import annotations

import logging
import pathlib
import time
from collections.abc import Sequence

from infra_chains.fetch._cache import Completion, Entry, Staging, now_iso
from infra_chains.fetch._failure import Failure
from infra_chains.fetch._progress import Progress
from infra_chains.fetch._retry import RetryPolicy
from infra_chains.fetch._source import Context, Fetched, Source
from infra_chains.fetch.errors import AssetFetchError
from infra_chains.fetch.items import FetchItem, FetchKind

__all__ = ["fetch_all"]

_log = logging.getLogger(__name__)


def fetch_all(
    items: Sequence[FetchItem],
    cache_root: pathlib.Path,
    *,
    secrets_dir: pathlib.Path | None = None,
    log: logging.Logger | None = None,
    retries: int = 4,
    backoff_sec: float = 0.5,
) -> dict[str, pathlib.Path]:
    """Fetch each item into ``cache_root/<item.cache_key()>/``; item name -> its path.

    The path is the item's directory for s3 and hf items, and the file inside it for http
    items. Items already complete and verified return at once (a restart downloads nothing);
    two processes fetching the same item share one download (a file lock per item).
    Credentials come only from ``secrets_dir/<item.secret_name>`` (the chainlet's declared
    secrets), never from the process environment (``AWS_*``, ``HF_TOKEN``) or config files.
    A transient failure (connection error, 5xx, 429, a body cut short) is retried ``retries``
    times with exponential backoff from ``backoff_sec``; a permanent one (403, 404, a checksum
    mismatch) is not.

    Raises:
        AssetFetchError: for the first item that cannot be fetched, naming it and what the
            source answered.
        ValueError: two items share a name, or ``retries`` / ``backoff_sec`` is negative.
    """
    logger = log or _log
    policy = RetryPolicy(retries=retries, backoff_sec=backoff_sec)
    names = [item.name for item in items]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"asset names must be unique, these repeat: {duplicates}")
    return {item.name: _fetch_one(item, cache_root, secrets_dir, logger, policy) for item in items}


def _fetch_one(
    item: FetchItem, cache_root: pathlib.Path, secrets_dir: pathlib.Path | None, log: logging.Logger, policy: RetryPolicy
) -> pathlib.Path:
    entry = Entry(cache_root, item.cache_key())
    record = entry.completed(item)
    if record is None:
        try:
            with entry.locked(on_wait=lambda: log.info("asset %s: another process is fetching it; waiting", item.name)):
                # The process we waited for may have finished it.
                record = entry.completed(item) or _fetch_locked(item, entry, secrets_dir, log, policy)
        except OSError as exc:
            raise AssetFetchError(item.name, f"cannot write the cache at {cache_root}: {exc}") from None
    else:
        log.info("asset %s: cached at %s", item.name, entry.dir)
    if item.kind == "http":
        return entry.dir / record.files[0].path
    return entry.dir


def _fetch_locked(
    item: FetchItem, entry: Entry, secrets_dir: pathlib.Path | None, log: logging.Logger, policy: RetryPolicy
) -> Completion:
    log.info("asset %s: fetching %s into %s", item.name, item.source, entry.dir)
    staging = entry.begin()
    try:
        fetched, progress = _attempts(item, _source(item.kind), staging, secrets_dir, log, policy)
    except AssetFetchError:
        entry.abandon()
        raise
    progress.finish()
    record = Completion(
        key=entry.key,
        kind=item.kind,
        source=item.source,
        resolved=fetched.resolved,
        files=fetched.files,
        fetched_at=now_iso(),
    )
    entry.commit(record)
    return record


def _attempts(
    item: FetchItem,
    source: Source,
    staging: Staging,
    secrets_dir: pathlib.Path | None,
    log: logging.Logger,
    policy: RetryPolicy,
) -> tuple[Fetched, Progress]:
    """Run ``source`` until it succeeds, fails permanently, or runs out of retries."""
    attempt = 0
    while True:
        progress = Progress(log, item.name)  # each attempt counts its own bytes and rate
        try:
            return source.fetch(item, Context(staging, secrets_dir, log, progress)), progress
        except Failure as failure:
            if not failure.transient:
                raise AssetFetchError(item.name, failure.detail) from None
            if attempt >= policy.retries:
                tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
                raise AssetFetchError(item.name, f"{failure.detail} (gave up after {tries})") from None
            delay = policy.delay(attempt, failure.retry_after)
            log.warning(
                "asset %s: %s; retrying in %.1fs (attempt %d of %d)",
                item.name, failure.detail, delay, attempt + 2, policy.retries + 1,
            )  # fmt: skip
            time.sleep(delay)
            attempt += 1


def _source(kind: FetchKind) -> Source:
    """The source for ``kind``; each lives in its own module, imported here so an image that
    fetches only http never imports boto3 or the hub client."""
    if kind == "http":
        from infra_chains.fetch._http import HttpSource

        return HttpSource()
    if kind == "s3":
        from infra_chains.fetch._s3 import S3Source

        return S3Source()
    from infra_chains.fetch._hf import HfSource

    return HfSource()
