"""The command line of ``python -m infra_chains.fetch`` (see ``__main__``).

Plain argparse, no Rich: this runs in init containers, where stdout/stderr are a log file.
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import sys
from collections.abc import Sequence

import pydantic

from infra_chains.fetch.errors import AssetFetchError
from infra_chains.fetch.items import FetchItem
from infra_chains.fetch.runner import fetch_all

_ITEMS = pydantic.TypeAdapter(list[FetchItem])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra_chains.fetch",
        description="Fetch a chainlet's assets into the cache; prints '<name> -> <path>' per item.",
    )
    parser.add_argument("--items", type=pathlib.Path, required=True, help="JSON file: a list of FetchItem")
    parser.add_argument("--cache-root", type=pathlib.Path, required=True, help="the cache directory")
    parser.add_argument("--secrets-dir", type=pathlib.Path, default=None, help="one file per secret")
    parser.add_argument("--retries", type=int, default=4, help="retries of a transient failure (default 4)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fetcher with ``argv``; returns the process exit code (0 ok, 1 failed, 2 usage)."""
    parser = _parser()
    args = parser.parse_args(argv)  # exits 2 itself on bad usage
    try:
        items = _ITEMS.validate_json(args.items.read_bytes())
    except OSError as exc:
        print(f"error: cannot read the items file {args.items}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except pydantic.ValidationError as exc:
        print(f"error: invalid items file {args.items}: {exc}", file=sys.stderr)
        return 2
    if args.retries < 0:
        print(f"error: --retries must be >= 0, got {args.retries}", file=sys.stderr)
        return 2
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log = logging.getLogger("infra_chains.fetch")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        paths = fetch_all(items, args.cache_root, secrets_dir=args.secrets_dir, log=log, retries=args.retries)
    except AssetFetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        log.removeHandler(handler)
    for name, path in paths.items():
        print(f"{name} -> {path}")
    return 0
