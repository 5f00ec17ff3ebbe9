"""How a source reports a failed attempt to the runner: transient (retry) or not (stop now).

Sources raise `Failure` with the detail in the source's own words; the runner adds the item's
name and the attempt count and raises `AssetFetchError`. Keeping the classification at the source
(which knows that S3's ``SlowDown`` is transient and ``NoSuchKey`` is not) keeps the runner generic.
"""

from __future__ import annotations


class Failure(Exception):
    """One attempt failed.

    Args:
        detail: What went wrong and, for a permanent failure, how to fix it.
        transient: Whether a later attempt may succeed (connection errors, 5xx, 429, a body cut
            short); permanent failures (403, 404, a checksum mismatch) are not retried.
        retry_after: Seconds the server asked us to wait (``Retry-After``), if it said.
    """

    def __init__(self, detail: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.transient = transient
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header's delay in seconds (only the delta-seconds form; dates are rare)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
