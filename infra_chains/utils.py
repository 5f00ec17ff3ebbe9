"""The helpers truss-chains' examples and tests import from ``truss_chains.utils``.

``from infra_chains import utils`` gives the same names: `make_abs_path_here` (also top-level),
`setup_dev_logging` and `log_level` for development runs, `random_fail` / `InjectedError` to
inject failures (the audio-transcription example uses them to exercise retries), `expect_one` and
`issubclass_safe`. Baseten's runtime helpers (``load_dynamic_chainlet_config``,
``populate_chainlet_service_predict_urls``) read Baseten's dynamic config; a target here writes
the runtime contract instead, so they are not offered.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from infra_chains.paths import make_abs_path_here

__all__ = [
    "InjectedError",
    "expect_one",
    "issubclass_safe",
    "log_level",
    "make_abs_path_here",
    "random_fail",
    "setup_dev_logging",
]

T = TypeVar("T")

logger = logging.getLogger(__name__)

_DEV_FORMAT = "%(levelname)s %(asctime)s %(filename)s:%(lineno)d] %(message)s"
_DEV_DATE_FORMAT = "%m%d %H:%M:%S"


def setup_dev_logging(level: int | str = logging.INFO) -> None:
    """Log to stderr at ``level`` with file:line, for a script or notebook during development.

    It configures the *root* logger, so call it from your own entry point (a ``__main__`` block,
    a test's conftest), never from a chain module that a deployed chainlet imports.
    """
    root = logging.getLogger()
    root.setLevel(level)
    formatter = logging.Formatter(fmt=_DEV_FORMAT, datefmt=_DEV_DATE_FORMAT)
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(formatter)


@contextlib.contextmanager
def log_level(level: int) -> Iterator[None]:
    """The root logger at ``level`` inside the block, restored after it."""
    root = logging.getLogger()
    previous = root.level
    root.setLevel(level)
    try:
        yield
    finally:
        root.setLevel(previous)


def expect_one(items: Iterable[T]) -> T:
    """The only element of ``items``; ``ValueError`` if there are none or several."""
    iterator = iter(items)
    try:
        element = next(iterator)
    except StopIteration:
        raise ValueError("expected exactly one element, got none") from None
    for _ in iterator:
        raise ValueError("expected exactly one element, got more than one")
    return element


class InjectedError(Exception):
    """A failure injected on purpose by `random_fail`, to exercise retries and error paths."""


def random_fail(probability: float, msg: str) -> None:
    """Raise `InjectedError` with ``probability`` (0 to 1), to test how a chain copes."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"random_fail: probability must be between 0 and 1, got {probability}")
    if random.random() < probability:  # noqa: S311 - test failures, not cryptography
        logger.warning("Injected failure: %s", msg)
        raise InjectedError(msg)


def issubclass_safe(x: Any, cls: type) -> bool:
    """``issubclass`` that answers False for a non-class ``x`` instead of raising."""
    return isinstance(x, type) and issubclass(x, cls)
