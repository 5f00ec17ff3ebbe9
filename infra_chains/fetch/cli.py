"""The command line of ``python -m infra_chains.fetch`` (see ``__main__``)."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fetcher with ``argv``; returns the process exit code (0 ok, 1 failed, 2 usage)."""
    raise NotImplementedError
