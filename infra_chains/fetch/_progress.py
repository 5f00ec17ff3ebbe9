"""Progress of a download in the log: bytes, percentage and rate, at most every few seconds.

A 20 GB model takes minutes; a log line per chunk would be thousands of lines, none per file would
look like a hang. One line per `INTERVAL_SEC` (and one at the end) is what a person watching
``kubectl logs`` of an init container wants.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

INTERVAL_SEC = 5.0


def format_bytes(count: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class Progress:
    """Thread-safe byte counter for one item that logs at most every ``interval`` seconds.

    ``clock`` is a constructor argument so a test can drive time.
    """

    def __init__(
        self,
        log: logging.Logger,
        label: str,
        total: int | None = None,
        *,
        interval: float = INTERVAL_SEC,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._label = label
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self.total = total
        self.done = 0
        self._start = clock()
        self._last_report = self._start

    def set_total(self, total: int | None) -> None:
        with self._lock:
            self.total = total

    def advance(self, count: int) -> None:
        """Add ``count`` downloaded bytes; logs if the interval has passed."""
        with self._lock:
            self.done += count
            now = self._clock()
            if now - self._last_report < self._interval:
                return
            self._last_report = now
            line = self._line(now)
        self._log.info("asset %s: %s", self._label, line)

    def set_done(self, done: int) -> None:
        """Set the byte count (for sources that report totals, not increments)."""
        with self._lock:
            delta = done - self.done
        self.advance(delta)

    def finish(self) -> None:
        """Log the final line: bytes and average rate."""
        with self._lock:
            line = self._line(self._clock())
        self._log.info("asset %s: fetched %s", self._label, line)

    def _line(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-6)
        rate = f"{format_bytes(self.done / elapsed)}/s"
        if self.total:
            percent = 100 * self.done / self.total
            return f"{format_bytes(self.done)} of {format_bytes(self.total)} ({percent:.0f}%), {rate}"
        return f"{format_bytes(self.done)}, {rate}"
