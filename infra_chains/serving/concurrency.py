"""``predict_concurrency`` enforcement: at most N requests run at once, a bounded queue waits.

Requests beyond N wait in FIFO order; once ``max_queued`` are waiting, the next one is refused at
once (`QueueFull` -> HTTP 503 with ``Retry-After``) instead of piling up until clients time out.
The calling stubs retry 503, so a short burst is absorbed without failing a chain.
"""

from __future__ import annotations

import asyncio

#: Seconds a refused client is asked to wait; short, since a request slot frees up quickly.
RETRY_AFTER_SEC = 1


class QueueFull(Exception):
    """All ``predict_concurrency`` slots are busy and the wait queue is full."""


class Limiter:
    """A semaphore with a bounded number of waiters, and counters for `/metrics`.

    Bound to the event loop of the first `acquire` (the server's one loop).
    """

    def __init__(self, concurrency: int, max_queued: int) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if max_queued < 0:
            raise ValueError(f"max_queued must be >= 0, got {max_queued}")
        self.concurrency = concurrency
        self.max_queued = max_queued
        self.in_flight = 0
        self.queued = 0
        self._semaphore: asyncio.Semaphore | None = None

    async def acquire(self) -> None:
        """Take a slot, waiting in the queue if needed; raises `QueueFull` if the queue is full."""
        semaphore = self._semaphore
        if semaphore is None:
            semaphore = self._semaphore = asyncio.Semaphore(self.concurrency)
        if semaphore.locked():
            if self.queued >= self.max_queued:
                raise QueueFull(
                    f"{self.in_flight} requests running (predict_concurrency={self.concurrency}) "
                    f"and {self.queued} waiting (max_queued_requests={self.max_queued})"
                )
            self.queued += 1
            try:
                await semaphore.acquire()
            finally:
                self.queued -= 1
        else:
            await semaphore.acquire()
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1
        if self._semaphore is not None:
            self._semaphore.release()
