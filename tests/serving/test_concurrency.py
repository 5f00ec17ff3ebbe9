"""`MemoryBudget` on one event loop, no network: reservations, FIFO waiters, the wait limit."""

from __future__ import annotations

import asyncio

import pytest

from infra_chains.serving.concurrency import BudgetExhausted, MemoryBudget


def test_takes_what_fits_and_gives_back() -> None:
    budget = MemoryBudget(100, wait_sec=0)
    assert budget.try_take(60) and budget.try_take(40)
    assert not budget.try_take(1)
    budget.give_back(40)
    assert budget.used == 60 and budget.try_take(40)


def test_a_waiter_gets_the_bytes_given_back() -> None:
    async def main() -> int:
        budget = MemoryBudget(100, wait_sec=10)
        assert budget.try_take(80)
        waiter = asyncio.ensure_future(budget.take(50))
        await asyncio.sleep(0)
        assert not waiter.done()
        budget.give_back(80)
        await waiter
        return budget.used

    assert asyncio.run(main()) == 50


def test_waiters_are_served_in_order_so_a_large_body_is_not_starved() -> None:
    async def main() -> list[str]:
        budget = MemoryBudget(100, wait_sec=10)
        order: list[str] = []
        assert budget.try_take(100)

        async def take(name: str, size: int) -> None:
            await budget.take(size)
            order.append(name)

        large = asyncio.ensure_future(take("large", 90))
        await asyncio.sleep(0)
        small = asyncio.ensure_future(take("small", 10))
        await asyncio.sleep(0)
        assert not budget.try_take(1)  # someone waits: no overtaking
        budget.give_back(100)
        await asyncio.gather(large, small)
        return order

    assert asyncio.run(main()) == ["large", "small"]


def test_a_wait_beyond_wait_sec_is_budget_exhausted_and_leaves_no_trace() -> None:
    async def main() -> int:
        budget = MemoryBudget(100, wait_sec=0.01)
        assert budget.try_take(100)
        with pytest.raises(BudgetExhausted, match="request_memory_bytes"):
            await budget.take(10)
        budget.give_back(100)
        return budget.used

    assert asyncio.run(main()) == 0


def test_a_cancelled_waiter_lets_the_next_one_in() -> None:
    async def main() -> int:
        budget = MemoryBudget(100, wait_sec=10)
        assert budget.try_take(60)
        first = asyncio.ensure_future(budget.take(90))
        await asyncio.sleep(0)
        second = asyncio.ensure_future(budget.take(30))
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
        await asyncio.wait_for(second, 5)
        return budget.used

    assert asyncio.run(main()) == 90


def test_more_than_the_capacity_never_waits() -> None:
    with pytest.raises(BudgetExhausted):
        asyncio.run(MemoryBudget(100, wait_sec=10).take(101))
