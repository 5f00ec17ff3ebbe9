"""`HttptoolsTransport` against a scripted asyncio server (and the threaded fake server).

Every test runs on asyncio's default loop and on uvloop (their transports differ in how they
write and report closes). The scripted server counts connections, so keep-alive reuse and pool
bounds are checked from the server's side.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Self

import pytest
import uvloop

from infra_chains.public_types import RPCOptions
from infra_chains.serving import httptools_transport, transport
from infra_chains.serving.stub import Backoff, _Caller
from infra_chains.serving.testing import free_port

from .fake_server import FakeServer, running

HEADERS = {"Content-Type": "application/json"}


class ScriptedServer:
    """HTTP/1.1 on asyncio streams; the path picks the behaviour.

    ``/echo`` answers the body; ``/chunked/<n>`` answers the body in ``n`` chunks; ``/close``
    answers with ``Connection: close`` and closes; ``/slow`` waits 1 s; ``/stale`` answers, then
    closes the connection when the next request arrives, without answering it (a keep-alive timer
    firing just as a request comes); ``/idle-close`` answers, then closes the idle connection.
    """

    def __init__(self) -> None:
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.requests = 0
        self.server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        close_on_next = False
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if close_on_next:
                    return
                self.requests += 1
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                fields = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
                body = await reader.readexactly(int(fields.get("content-length", "0")))
                kind, _, arg = path.strip("/").partition("/")
                if kind == "chunked":
                    count = int(arg)
                    step = -(-len(body) // count)
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n")
                    for start in range(0, len(body), step):
                        piece = body[start:start + step]
                        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        await writer.drain()
                        await asyncio.sleep(0)
                    writer.write(b"0\r\n\r\n")
                    await writer.drain()
                    continue
                if kind == "slow":
                    await asyncio.sleep(1.0)
                extra = b"Connection: close\r\n" if kind == "close" else b"Retry-After: 7\r\n"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                             b"Content-Length: %d\r\n%s\r\n" % (len(body), extra) + body)
                await writer.drain()
                if kind == "close" or kind == "idle-close":
                    return
                close_on_next = kind == "stale"
        finally:
            self.open -= 1
            writer.close()


LOOPS = ["asyncio", "uvloop"]


def run(loop: str, test: Callable[[], Awaitable[Any]]) -> Any:
    if loop == "uvloop":
        return uvloop.run(test())
    return asyncio.run(test())


@pytest.fixture(params=LOOPS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _pool_sizes(client: transport.HttptoolsTransport) -> tuple[int, int]:
    pools = client.pools()
    return sum(len(p.idle) for p in pools), sum(len(p.busy) for p in pools)


def test_keep_alive_reuses_one_connection(loop_kind: str) -> None:
    async def test() -> None:
        client = transport.HttptoolsTransport()
        async with ScriptedServer() as server:
            for i in range(20):
                body = b'{"i": %d}' % i
                response = await client.post(f"{server.url}/echo", body, HEADERS, 5)
                assert (response.status, response.body) == (200, body)
                assert response.content_type == "application/octet-stream"
                assert response.retry_after == "7"
                assert isinstance(response.body, bytes)
            assert server.connections == 1 and server.requests == 20
            assert _pool_sizes(client) == (1, 0)
            await client.aclose()
            assert client.pools() == []

    run(loop_kind, test)


def test_stale_connection_is_detected_and_retried_by_the_stub(loop_kind: str) -> None:
    async def test() -> None:
        client = transport.HttptoolsTransport()
        async with ScriptedServer() as server:
            assert (await client.post(f"{server.url}/stale", b"1", HEADERS, 5)).body == b"1"
            # The server closes the reused connection when the request arrives: no response byte.
            with pytest.raises(transport.StaleConnection):
                await client.post(f"{server.url}/echo", b"2", HEADERS, 5)
            assert _pool_sizes(client) == (0, 0)  # the broken connection is gone
            # The stub retries a stale connection once even with retries=1, and succeeds.
            assert (await client.post(f"{server.url}/stale", b"3", HEADERS, 5)).body == b"3"
            call = _Caller("Scripted", f"{server.url}/echo", RPCOptions(retries=1), binary=False,
                           async_transport=client, backoff=Backoff(0.01, 0.05))
            response = await call.call_async(b'"4"')
            assert (response.status, response.body) == (200, b'"4"')
            assert server.connections == 3
            await client.aclose()

    run(loop_kind, test)


def test_idle_connection_closed_by_the_server_is_dropped_without_error(loop_kind: str) -> None:
    async def test() -> None:
        client = transport.HttptoolsTransport()
        async with ScriptedServer() as server:
            await client.post(f"{server.url}/idle-close", b"1", HEADERS, 5)
            for _ in range(100):  # the close reaches the client: the pool forgets the connection
                if _pool_sizes(client) == (0, 0):
                    break
                await asyncio.sleep(0.01)
            assert _pool_sizes(client) == (0, 0)
            assert (await client.post(f"{server.url}/echo", b"2", HEADERS, 5)).body == b"2"
            assert server.connections == 2
            await client.aclose()

    run(loop_kind, test)


def test_a_fresh_connection_closed_before_answering_is_not_stale(loop_kind: str) -> None:
    async def test() -> None:
        async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.close()

        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = transport.HttptoolsTransport()
        with pytest.raises(transport.ConnectFailed) as info:
            await client.post(f"http://127.0.0.1:{port}/x", b"1", HEADERS, 5)
        assert not isinstance(info.value, transport.StaleConnection)
        await client.aclose()
        server.close()
        await server.wait_closed()

    run(loop_kind, test)


@pytest.mark.parametrize("size", [100, 200_000])
def test_chunked_response(loop_kind: str, size: int) -> None:
    async def test() -> None:
        client = transport.HttptoolsTransport()
        body = os.urandom(size)
        async with ScriptedServer() as server:
            for _ in range(2):  # and the connection stays usable after a chunked answer
                response = await client.post(f"{server.url}/chunked/7", body, HEADERS, 5)
                assert response.status == 200 and response.body == body
                assert isinstance(response.body, bytearray if size >= transport.LARGE_BODY_BYTES else bytes)
            assert server.connections == 1
            await client.aclose()

    run(loop_kind, test)


def test_connection_close_is_honoured(loop_kind: str) -> None:
    async def test() -> None:
        client = transport.HttptoolsTransport()
        async with ScriptedServer() as server:
            for i in range(3):
                assert (await client.post(f"{server.url}/close", b"%d" % i, HEADERS, 5)).body == b"%d" % i
                assert _pool_sizes(client) == (0, 0)
            assert server.connections == 3
            await client.aclose()

    run(loop_kind, test)


def test_timeout_discards_the_connection(loop_kind: str) -> None:
    async def test() -> None:
        client = transport.HttptoolsTransport()
        async with ScriptedServer() as server:
            started = time.monotonic()
            with pytest.raises(transport.AttemptTimeout, match="0.2 s"):
                await client.post(f"{server.url}/slow", b"1", HEADERS, 0.2)
            assert 0.15 < time.monotonic() - started < 0.8
            assert _pool_sizes(client) == (0, 0)
            assert (await client.post(f"{server.url}/echo", b"2", HEADERS, 5)).body == b"2"
            assert server.connections == 2
            await client.aclose()

    run(loop_kind, test)


def test_refused_connection_is_connect_failed(loop_kind: str) -> None:
    async def test() -> None:
        client = transport.HttptoolsTransport()
        with pytest.raises(transport.ConnectFailed) as info:
            await client.post(f"http://127.0.0.1:{free_port()}/x", b"1", HEADERS, 5)
        assert not isinstance(info.value, transport.StaleConnection)
        assert _pool_sizes(client) == (0, 0)
        await client.aclose()

    run(loop_kind, test)


def test_large_body_round_trip_is_a_bytearray(loop_kind: str) -> None:
    async def test() -> None:
        import numpy as np

        client = transport.HttptoolsTransport()
        body = os.urandom(1 << 20)
        async with ScriptedServer() as server:
            for _ in range(3):
                response = await client.post(f"{server.url}/echo", body, HEADERS, 10)
                assert isinstance(response.body, bytearray) and response.body == body
                array = np.frombuffer(response.body, dtype=np.uint8)
                assert array.flags.writeable
            assert server.connections == 1
            await client.aclose()

    run(loop_kind, test)


def test_concurrent_calls_are_correct_and_the_pool_is_bounded(loop_kind: str) -> None:
    async def test() -> None:
        client = transport.HttptoolsTransport()
        async with ScriptedServer() as server:
            for _ in range(3):
                bodies = [b'{"n": %d}' % i for i in range(64)]
                responses = await asyncio.gather(
                    *(client.post(f"{server.url}/echo", b, HEADERS, 10) for b in bodies)
                )
                assert [r.body for r in responses] == bodies
                idle, busy = _pool_sizes(client)
                assert busy == 0 and 1 <= idle <= 64
            assert server.max_open <= 64 and server.connections <= 64
            assert server.requests == 192
            await client.aclose()

    run(loop_kind, test)


def test_idle_connections_expire(loop_kind: str) -> None:
    async def test() -> None:
        client = transport.HttptoolsTransport(idle_sec=0.1)
        async with ScriptedServer() as server:
            await client.post(f"{server.url}/echo", b"1", HEADERS, 5)
            assert _pool_sizes(client) == (1, 0)
            await asyncio.sleep(0.3)
            assert _pool_sizes(client) == (0, 0)  # swept without a new request
            await client.post(f"{server.url}/echo", b"2", HEADERS, 5)
            assert server.connections == 2
            await client.aclose()

    run(loop_kind, test)


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    yield from running()


def test_against_the_threaded_fake_server(fake: FakeServer, loop_kind: str) -> None:
    async def test() -> None:
        client = transport.HttptoolsTransport()
        call = _Caller("Fake", f"{fake.url}/drop", RPCOptions(retries=1), binary=False,
                       async_transport=client, backoff=Backoff(0.01, 0.05))
        for i in range(10):  # the server closes every connection after answering: never an error
            assert (await call.call_async(b"%d" % i)).body == b"%d" % i
        await client.aclose()
        # (a fresh pool: the last /drop connection may be stale, which only the stub retries)
        response = await client.post(f"{fake.url}/status/503", b"{}", {"X-Request-ID": "r-1"}, 5)
        assert response.status == 503 and b"fake failure" in response.body
        assert fake.headers[-1]["x-request-id"] == "r-1"
        await client.aclose()

    run(loop_kind, test)


def test_header_injection_is_refused() -> None:
    async def test() -> None:
        client = transport.HttptoolsTransport()
        with pytest.raises(ValueError, match="invalid character"):
            await client.post("http://127.0.0.1:1/x", b"", {"X-Bad": "a\r\nInjected: 1"}, 1)
        await client.aclose()

    asyncio.run(test())


def test_https_goes_to_aiohttp() -> None:
    assert httptools_transport._http_target("https://example.com/x") is None
    assert httptools_transport._http_target("http://example.com/a?b=1") == (
        "example.com", 80, b"POST /a?b=1 HTTP/1.1\r\nHost: example.com\r\n")


def test_default_async_is_chosen_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_default_async", None)
    monkeypatch.setenv(transport.ASYNC_TRANSPORT_ENV, "aiohttp")
    assert isinstance(transport.default_async(), transport.AiohttpTransport)
    monkeypatch.setattr(transport, "_default_async", None)
    monkeypatch.delenv(transport.ASYNC_TRANSPORT_ENV)
    assert isinstance(transport.default_async(), transport.HttptoolsTransport)
    monkeypatch.setattr(transport, "_default_async", None)
    monkeypatch.setenv(transport.ASYNC_TRANSPORT_ENV, "curl")
    with pytest.raises(ValueError, match="expected one of"):
        transport.default_async()
