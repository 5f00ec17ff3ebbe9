"""The drain closes a connection only once it was idle long enough; busy ones close themselves.

Fakes of uvicorn's HTTP protocol objects (what `drain` reads: the keep-alive timer, ``shutdown``);
the end-to-end case (a SIGTERMed entrypoint under pooled keep-alive clients) is in
tests/targets/test_supervisor.py.
"""

from __future__ import annotations

import asyncio

from infra_chains.serving import drain

KEEP_ALIVE_SEC = 15.0


class FakeConnection:
    """A uvicorn connection as the drain sees it: idle while its keep-alive timer is armed."""

    def __init__(self, connections: set[FakeConnection], idle: bool) -> None:
        self._connections = connections
        self.timeout_keep_alive = KEEP_ALIVE_SEC
        self.timeout_keep_alive_task: asyncio.TimerHandle | None = None
        self.shut_down = False
        if idle:
            self.became_idle()
        connections.add(self)

    def became_idle(self) -> None:
        """A response was sent: uvicorn arms the keep-alive timer."""
        self.timeout_keep_alive_task = asyncio.get_running_loop().call_later(
            KEEP_ALIVE_SEC, self.closed
        )

    def data_received(self) -> None:
        """The next request began: uvicorn disarms the timer."""
        assert self.timeout_keep_alive_task is not None
        self.timeout_keep_alive_task.cancel()
        self.timeout_keep_alive_task = None

    def shutdown(self) -> None:
        self.shut_down = True
        self.closed()

    def closed(self) -> None:
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
        self._connections.discard(self)


def test_idle_connections_close_after_the_bound_busy_ones_after_their_answer() -> None:
    async def scenario() -> tuple[bool, FakeConnection, FakeConnection, FakeConnection]:
        connections: set[FakeConnection] = set()
        idle = FakeConnection(connections, idle=True)
        busy = FakeConnection(connections, idle=False)
        fresh = FakeConnection(connections, idle=False)  # accepted, nothing sent yet
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, busy.closed)  # answered with `Connection: close`, closed by uvicorn
        loop.call_later(0.05, fresh.closed)
        done = await drain.drain_connections(connections, timeout_sec=10.0, idle_sec=0.1)
        return done, idle, busy, fresh

    done, idle, busy, fresh = asyncio.run(scenario())
    assert done
    assert idle.shut_down  # closed by the drain, once idle for idle_sec
    assert not busy.shut_down and not fresh.shut_down  # never closed under a request


def test_a_connection_whose_next_request_began_is_not_closed() -> None:
    async def scenario() -> tuple[bool, FakeConnection]:
        connections: set[FakeConnection] = set()
        reused = FakeConnection(connections, idle=True)
        reused.data_received()
        done = await drain.drain_connections(connections, timeout_sec=0.3, idle_sec=0.0)
        return done, reused

    done, reused = asyncio.run(scenario())
    assert not done  # the grace period ran out with the request still in progress
    assert not reused.shut_down


def test_a_second_signal_ends_the_drain_at_once() -> None:
    async def scenario() -> bool:
        connections: set[FakeConnection] = set()
        FakeConnection(connections, idle=False)
        return await drain.drain_connections(connections, timeout_sec=600.0, should_stop=lambda: True)

    assert asyncio.run(scenario()) is False


def test_idle_time_is_read_from_the_keep_alive_timer() -> None:
    async def scenario() -> tuple[float | None, float | None]:
        connections: set[FakeConnection] = set()
        idle, busy = FakeConnection(connections, idle=True), FakeConnection(connections, idle=False)
        now = asyncio.get_running_loop().time()
        return drain.idle_for(idle, now + 2.0), drain.idle_for(busy, now + 2.0)

    idle_sec, busy_sec = asyncio.run(scenario())
    assert idle_sec is not None and 2.0 <= idle_sec < 2.5
    assert busy_sec is None
