"""When to try again: exponential backoff with jitter, capped, honouring ``Retry-After``."""

from __future__ import annotations

import dataclasses
import random

#: No single wait longer than this, whatever the attempt count or a server's Retry-After says:
#: readiness is waiting on us, and a minute is already long to show nothing.
MAX_DELAY_SEC = 60.0


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Retry a transient failure up to ``retries`` times, waiting ``backoff_sec * 2**n``.

    Jitter (50-100% of the delay) keeps chainlets that failed together from retrying together.
    """

    retries: int
    backoff_sec: float

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.backoff_sec < 0:
            raise ValueError(f"backoff_sec must be >= 0, got {self.backoff_sec}")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        backoff = self.backoff_sec * (2.0**attempt) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            backoff = max(backoff, retry_after)
        return min(backoff, MAX_DELAY_SEC)
