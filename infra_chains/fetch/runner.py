"""Fetch a chainlet's assets into the cache before its ``__init__`` runs."""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Sequence

from infra_chains.fetch.items import FetchItem

__all__ = ["fetch_all"]


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
    items. Items already complete and verified return at once (a restart downloads nothing).
    Credentials come only from ``secrets_dir/<item.secret_name>``, never from the environment.
    Raises `AssetFetchError` for the first item that cannot be fetched.
    """
    raise NotImplementedError
