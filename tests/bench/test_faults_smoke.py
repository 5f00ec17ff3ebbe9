"""The fault bench's instrument: the timeline load generator and its outage/failure summary.

Not the fault table itself (bench/faults.py deploys whole chains): only what it measures with, so
a wrong outage or a miscounted failure would show here first.
"""
from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from harness.timeline import Load, Sample, Timeline, summarize  # noqa: E402


def test_summary_finds_the_longest_window_without_success_and_counts_failures_by_kind() -> None:
    tl = Timeline(t0=100.0, t_end=110.0, samples=[
        Sample(100.0, 100.5, "200"), Sample(100.5, 101.0, "200"),
        Sample(101.0, 101.1, "refused"), Sample(101.1, 101.2, "500"), Sample(101.2, 101.3, "500"),
        Sample(101.0, 104.0, "200"),  # the answer after a 3 s gap
        Sample(104.0, 109.0, "timeout"),
    ])
    s = summarize(tl, fault_at_s=1.0, fault_window_s=9.0)
    assert (s.sent, s.ok, s.failed) == (7, 3, 4)
    assert s.failed_by_kind == {"500": 2, "refused": 1, "timeout": 1}
    assert s.outage_s == pytest.approx(6.0)  # 104 -> 110: no success until the load ended
    assert s.outage_from_s == pytest.approx(4.0)
    assert not s.recovered
    assert s.p99_fault_ms == pytest.approx(3000.0)  # only successes started in the fault window


def test_an_outage_that_ended_in_a_success_is_recovered() -> None:
    tl = Timeline(t0=0.0, t_end=10.0, samples=[Sample(0.0, 1.0, "200"), Sample(1.0, 4.0, "503"),
                                               Sample(4.0, 6.0, "200"), Sample(6.0, 9.9, "200")])
    s = summarize(tl, fault_at_s=1.0, fault_window_s=9.0)
    assert s.outage_s == pytest.approx(5.0) and s.outage_from_s == pytest.approx(1.0)
    assert s.recovered


class _Server:
    """A tiny keep-alive HTTP server that can be taken down and brought back on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(ln.split(b":")[1]) for ln in head.split(b"\r\n")
                              if ln.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.transport.abort()  # like a killed process: every open connection is reset
        await self._server.wait_closed()


@pytest.mark.servers
@pytest.mark.slow
def test_load_records_failures_and_the_outage_while_the_server_is_down() -> None:
    async def scenario() -> Timeline:
        server = _Server()
        await server.up()
        gen = Load(f"http://127.0.0.1:{server.port}/x", b"{}", {"Content-Type": "application/json"},
                   lambda body: None, timeout_s=2.0)
        tl = Timeline(time.monotonic())

        async def fault() -> None:
            await asyncio.sleep(0.4)
            await server.down()
            await asyncio.sleep(0.5)
            await server.up()

        task = asyncio.create_task(fault())
        await gen.run(4, 1.5, tl)
        await task
        await server.down()
        return tl

    tl = asyncio.run(scenario())
    s = summarize(tl, fault_at_s=0.4, fault_window_s=1.1)
    assert s.ok > 0 and s.failed > 0
    assert set(s.failed_by_kind) <= {"refused", "reset"}
    assert s.outage_s >= 0.5  # no answer can come while nothing listens
    assert s.recovered
