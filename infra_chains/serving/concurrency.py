"""Limits of one serving process: ``predict_concurrency`` and the request-body memory budget.

`Limiter`: at most N requests run at once, a bounded queue waits. Requests beyond N wait in FIFO
order; once ``max_queued`` are waiting, the next one is refused at once (`QueueFull` -> HTTP 503
with ``Retry-After``) instead of piling up until clients time out. The calling stubs retry such
refusals (the request was not processed), so a short burst is absorbed without failing a chain.
`MemoryBudget`: request bodies held at once, across all requests.
"""

from __future__ import annotations

import asyncio
import collections

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


class BudgetExhausted(Exception):
    """The request bodies held by this process already use the whole memory budget."""


class MemoryBudget:
    """Bytes of request bodies the process holds at once, shared by all requests.

    Each request reserves its body's size before reading it (``Content-Length``, or chunk by
    chunk for chunked bodies) and gives it back when answered, so eight stalled 100 MB uploads
    hold at most the budget, not 800 MB. A request that does not fit waits (FIFO, so a large body
    is not starved by small ones) up to ``wait_sec``, then `BudgetExhausted` (HTTP 503).
    Bound to the event loop of its first waiter (the server's one loop).
    """

    def __init__(self, capacity: int, wait_sec: float) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.wait_sec = wait_sec
        self.used = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def try_take(self, size: int) -> bool:
        """Reserve ``size`` bytes if they fit now and nobody waits before us."""
        if self.used + size <= self.capacity and not self._waiters:
            self.used += size
            return True
        return False

    async def take(self, size: int) -> None:
        """Reserve ``size`` bytes, waiting up to ``wait_sec``; raises `BudgetExhausted`."""
        if self.try_take(size):
            return
        if size > self.capacity:
            raise BudgetExhausted(f"{size} bytes never fit in the budget of {self.capacity} bytes")
        waiter = asyncio.get_running_loop().create_future()
        entry = (size, waiter)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(self.wait_sec):
                await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return  # granted just as the wait ran out: the bytes are ours
            self._forget(entry)
            raise BudgetExhausted(
                f"request bodies held now use {self.used} of {self.capacity} bytes "
                f"(request_memory_bytes) and {size} more did not fit within "
                f"{self.wait_sec:g} s") from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.give_back(size)
            else:
                self._forget(entry)
            raise

    def give_back(self, size: int) -> None:
        self.used -= size
        waiters = self._waiters
        while waiters:
            wanted, waiter = waiters[0]
            if waiter.done():  # timed out or cancelled
                waiters.popleft()
                continue
            if self.used + wanted > self.capacity:
                break
            waiters.popleft()
            self.used += wanted
            waiter.set_result(None)

    def _forget(self, entry: tuple[int, asyncio.Future[None]]) -> None:
        try:
            self._waiters.remove(entry)
        except ValueError:
            pass
        if self._waiters:
            self.give_back(0)  # the head may have been us: let the next one in if it fits
