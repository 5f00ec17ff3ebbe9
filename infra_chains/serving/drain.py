"""Draining a server's connections on SIGTERM without resetting a keep-alive client.

A server that closes an idle keep-alive connection races with its client: a request written at
that moment meets a reset, and the client cannot tell whether it was processed. uvicorn's
shutdown closes every idle connection at once, which under load is always some client's next
request (issue 13: 17 to 48 resets per re-push). So a drain here closes a connection only

- after telling it: once the process drains, every response carries ``Connection: close``
  (`ChainletApp.closing`) and the server closes the connection after that response, which the
  client reads before it would reuse the connection; or
- after it has been idle for `DRAIN_IDLE_SEC`: a client that leaves a connection unused that long
  is rarely writing to it at the moment it closes (and our stubs retry a pooled connection that
  closed before any response byte, see `stub.RetryPolicy`);

and the whole drain is bounded by the contract's ``graceful_shutdown_sec``. Nothing is added to
the request path: a connection's idle time is read from uvicorn's keep-alive timer, which is armed
exactly while a connection waits for its next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import Any

#: A connection idle this long while the process drains is closed (see the module docstring).
#: Short, so a drain with idle clients (a `down`, a replaced version) ends soon.
DRAIN_IDLE_SEC = 1.0
#: How often the drain looks at its connections.
DRAIN_POLL_SEC = 0.05


def idle_for(connection: Any, now: float) -> float | None:
    """Seconds ``connection`` (a uvicorn HTTP protocol) has waited for its next request, or None.

    None while a request is being read or answered, when part of the next one has arrived (the
    keep-alive timer is disarmed by any data), and for a connection that has sent nothing yet
    (its client is about to; the header deadline of `http_protocol` bounds it).
    """
    timer: asyncio.TimerHandle | None = getattr(connection, "timeout_keep_alive_task", None)
    if timer is None or timer.cancelled():
        return None
    return now - (timer.when() - float(connection.timeout_keep_alive))


async def drain_connections(
    connections: Collection[Any],
    timeout_sec: float,
    should_stop: Callable[[], bool] = lambda: False,
    idle_sec: float = DRAIN_IDLE_SEC,
) -> bool:
    """Wait until ``connections`` (uvicorn's live set) is empty, closing those idle ``idle_sec``.

    Busy connections close themselves after their `Connection: close` response. Returns True
    when every connection is gone, False at ``timeout_sec`` or when ``should_stop()`` (a second
    signal: exit now).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_sec
    while connections:
        now = loop.time()
        if now >= deadline or should_stop():
            return False
        for connection in list(connections):
            idle = idle_for(connection, now)
            if idle is not None and idle >= idle_sec:
                connection.shutdown()  # idle: uvicorn closes it at once
        await asyncio.sleep(min(DRAIN_POLL_SEC, deadline - now))
    return True
