"""The session object a websocket ``run_remote`` gets (`serving/websocket.py`), in process against
a fake ASGI server: what it sends and receives, how it closes, and how a session ends."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic
import pytest

import infra_chains as chains
from infra_chains.serving import websocket
from infra_chains.serving.websocket import (
    Handshake,
    ServerWebSocket,
    origin_problem,
    run_session,
    websocket_url,
)


class FakeServer:
    """The ASGI server's side: queued incoming events, recorded outgoing ones, and a connection
    that can be cut (``send`` then raises OSError, as uvicorn's ClientDisconnected does)."""

    def __init__(self, *incoming: dict[str, Any]) -> None:
        self.incoming = list(incoming)
        self.sent: list[dict[str, Any]] = []
        self.cut = False

    async def receive(self) -> dict[str, Any]:
        if self.incoming:
            return self.incoming.pop(0)
        return {"type": "websocket.disconnect", "code": 1006}

    async def send(self, message: Any) -> None:
        if self.cut:
            raise OSError("connection lost")
        self.sent.append(dict(message))
        if message["type"] == "websocket.close":  # uvicorn reports its own close back
            self.incoming = [{"type": "websocket.disconnect", "code": message["code"]}]

    def socket(self, headers: dict[str, str] | None = None) -> ServerWebSocket:
        return ServerWebSocket(self.receive, self.send, headers or {})


def text(value: str) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": value}


def data(value: bytes) -> dict[str, Any]:
    return {"type": "websocket.receive", "bytes": value}


def run(coroutine: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coroutine

    return asyncio.run(main())


# -- receiving ---------------------------------------------------------------------------------
def test_receive_takes_either_kind_and_raises_the_clients_close_code() -> None:
    server = FakeServer(text("a"), data(b"b"), text(""),
                        {"type": "websocket.disconnect", "code": 4001, "reason": "bye"})
    ws = server.socket()

    async def main() -> list[Any]:
        got: list[Any] = [await ws.receive(), await ws.receive(), await ws.receive()]
        with pytest.raises(chains.WebSocketDisconnect) as info:
            await ws.receive()
        got.append((info.value.code, info.value.reason))
        with pytest.raises(chains.WebSocketDisconnect):  # and again: the session is over
            await ws.receive_text()
        return got

    assert run(main()) == ["a", b"b", "", (4001, "bye")]
    assert not ws.is_connected()


def test_receive_text_and_bytes_name_the_other_kind() -> None:
    ws = FakeServer(data(b"xyz"), text("hello")).socket()
    with pytest.raises(TypeError, match=r"binary message \(3 bytes\); use receive_bytes"):
        run(ws.receive_text())
    with pytest.raises(TypeError, match=r"text message \(5 characters\); use receive_text"):
        run(ws.receive_bytes())


def test_iter_text_works_with_and_without_await() -> None:
    async def main() -> list[str]:
        got = []
        async for item in FakeServer(text("a"), text("b")).socket().iter_text():
            got.append(item)
        async for item in await FakeServer(text("c")).socket().iter_text():  # truss-chains' spelling
            got.append(item)
        return got

    assert run(main()) == ["a", "b", "c"]


def test_json_both_ways() -> None:
    class Point(pydantic.BaseModel):
        x: int

    server = FakeServer(text('{"a": [1, 2]}'), data(b'{"b": null}'))
    ws = server.socket()

    async def main() -> list[Any]:
        await ws.send_json({"point": Point(x=3)})
        return [await ws.receive_json(), await ws.receive_json()]

    assert run(main()) == [{"a": [1, 2]}, {"b": None}]
    assert server.sent == [{"type": "websocket.send", "text": '{"point":{"x":3}}'}]


# -- sending and closing -----------------------------------------------------------------------
def test_send_checks_the_kind() -> None:
    ws = FakeServer().socket()
    with pytest.raises(TypeError, match="send_text\\(\\) takes str, got bytes; use send_bytes"):
        run(ws.send_text(b"x"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="send_bytes\\(\\) takes bytes, got str; use send_text"):
        run(ws.send_bytes("x"))  # type: ignore[arg-type]


def test_close_once_with_code_and_reason_then_sending_raises() -> None:
    server = FakeServer()
    ws = server.socket()

    async def main() -> None:
        await ws.close(4005, "done")
        await ws.close()  # a second close is a no-op, as in truss-chains
        with pytest.raises(chains.WebSocketDisconnect) as info:
            await ws.send_text("late")
        assert info.value.code == 4005

    run(main())
    assert server.sent == [{"type": "websocket.close", "code": 4005, "reason": "done"}]


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2999, 5000])
def test_close_refuses_codes_that_cannot_be_sent(code: int) -> None:
    with pytest.raises(ValueError, match=f"close code {code} cannot be sent"):
        run(FakeServer().socket().close(code))


def test_close_refuses_a_reason_longer_than_a_frame() -> None:
    with pytest.raises(ValueError, match="124 bytes"):
        run(FakeServer().socket().close(1000, "x" * 124))


def test_sending_on_a_lost_connection_raises_disconnect_1006() -> None:
    server = FakeServer()
    server.cut = True
    ws = server.socket()
    with pytest.raises(chains.WebSocketDisconnect) as info:
        run(ws.send_bytes(b"x"))
    assert info.value.code == 1006 and not ws.is_connected()


def test_the_disconnect_is_fastapis_too_once_fastapi_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    fastapi = pytest.importorskip("fastapi")
    exc = websocket.disconnect(4000, "r")
    assert isinstance(exc, fastapi.WebSocketDisconnect) and isinstance(exc, chains.WebSocketDisconnect)
    assert (exc.code, exc.reason) == (4000, "r")
    monkeypatch.delitem(sys.modules, "starlette.websockets")
    plain = websocket.disconnect(4000)
    assert type(plain) is chains.WebSocketDisconnect and not isinstance(plain, fastapi.WebSocketDisconnect)


# -- the handshake and the session -------------------------------------------------------------
def test_handshake_headers_are_case_insensitive_without_the_credential() -> None:
    raw = [(b"host", b"h:1"), (b"x-infra-chains-token", b"secret"), (b"x-thing", b"1"), (b"x-thing", b"2")]
    server = FakeServer({"type": "websocket.connect"})
    seen: dict[str, Any] = {}

    async def handler(ws: ServerWebSocket) -> None:
        seen.update(ws.headers)
        seen["X-THING via get"] = ws.headers.get("X-Thing")

    handshake = Handshake(raw, b"x-infra-chains-token")
    assert (handshake.host, handshake.credential) == (b"h:1", b"secret")
    run(run_session({"headers": raw}, server.receive, server.send, handler, chainlet="C",
                    handshake=handshake, hidden_header=b"x-infra-chains-token"))
    assert seen == {"host": "h:1", "x-thing": "1", "X-THING via get": "1"}


def session_of(handler: Callable[[ServerWebSocket], Awaitable[None]], *incoming: dict[str, Any]) -> list[dict[str, Any]]:
    server = FakeServer({"type": "websocket.connect"}, *incoming)
    raw = [(b"x-request-id", b"rid-1")]
    run(run_session({"headers": raw}, server.receive, server.send, handler, chainlet="C",
                    handshake=Handshake(raw, None), hidden_header=None))
    return server.sent


def test_a_session_is_accepted_then_closed_1000_when_run_remote_returns() -> None:
    async def handler(ws: ServerWebSocket) -> None:
        await ws.send_text(await ws.receive_text())

    assert session_of(handler, text("hi")) == [
        {"type": "websocket.accept", "headers": [(b"x-request-id", b"rid-1")]},
        {"type": "websocket.send", "text": "hi"},
        {"type": "websocket.close", "code": 1000, "reason": ""},
    ]


def test_an_exception_closes_1011_with_a_short_reason(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(ws: ServerWebSocket) -> None:
        raise KeyError("é" * 200)

    sent = session_of(handler)
    close = sent[-1]
    assert close["code"] == 1011 and close["reason"].startswith("KeyError: 'éé")
    assert len(close["reason"].encode()) <= websocket.MAX_REASON_BYTES
    assert "raised in a websocket session (request_id=rid-1)" in caplog.text


def test_a_client_that_left_gets_no_close() -> None:
    async def handler(ws: ServerWebSocket) -> None:
        await ws.receive()  # the client is gone: WebSocketDisconnect(1006) ends the session

    assert [m["type"] for m in session_of(handler)] == ["websocket.accept"]


@pytest.mark.parametrize(("origin", "host", "allowed", "refused"), [
    (b"", b"127.0.0.1:8000", None, False),  # a program sends none
    (b"http://127.0.0.1:8000", b"127.0.0.1:8000", None, False),  # the chain's own page
    (b"http://LOCALHOST:8000", b"localhost:8000", None, False),
    (b"https://app.example", b"127.0.0.1:8000", frozenset({b"app.example"}), False),
    (b"http://evil.example", b"127.0.0.1:8000", None, True),
    (b"http://evil.example", b"127.0.0.1:8000", frozenset({b"127.0.0.1:8000"}), True),
    (b"null", b"127.0.0.1:8000", None, True),  # a sandboxed page or a file
])
def test_origin(origin: bytes, host: bytes, allowed: frozenset[bytes] | None, refused: bool) -> None:
    assert (origin_problem(origin, host, allowed) is not None) is refused


def test_websocket_url_of_an_entrypoint() -> None:
    assert websocket_url("http://127.0.0.1:8000/run_remote") == "ws://127.0.0.1:8000/websocket"
    assert websocket_url("https://chain.example/prod/run_remote") == "wss://chain.example/prod/websocket"
