"""Websocket chainlets with real servers and the `websockets` client: messages both ways, a
dependency called from inside the session, closing from either side with the code passed on, a
handler's exception (1011), and the checks of the handshake (API key, chain token, Host, Origin)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pathlib
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from infra_chains.serving.testing import ChainletProcess, free_port

from .conftest import Serve

pytestmark = pytest.mark.servers

TOKEN = "chain-token-sentinel-0123456789"
API_KEY = "api-key-sentinel-42"
AUTH = {"Authorization": f"Api-Key {API_KEY}"}


def hosts(port: int) -> list[str]:
    return [f"127.0.0.1:{port}", f"localhost:{port}"]


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, pathlib.Path]:
    folder = tmp_path_factory.mktemp("secrets")
    token, key = folder / "chain-token", folder / "api-key"
    token.write_text(TOKEN)
    key.write_text(API_KEY)
    for path in (token, key):
        path.chmod(0o600)
    return token, key


@pytest.fixture(scope="module")
def chain(serve_module: Serve, secrets: tuple[pathlib.Path, pathlib.Path]) -> tuple[ChainletProcess, ChainletProcess]:
    """Socket (the entrypoint: API key, Host list, short deadlines) -> Upper (the chain token)."""
    token, key = secrets
    upper_port, socket_port = free_port(), free_port()
    upper = serve_module("socket_chain:Upper", name="Upper", port=upper_port, chain_token_file=token,
                         allowed_hosts=hosts(upper_port))
    entry = serve_module("socket_chain:Socket", name="Socket", port=socket_port, entrypoint=True,
                         chain_token_file=token, api_key_file=key, allowed_hosts=hosts(socket_port),
                         dependencies={"Upper": upper.url}, header_timeout_sec=0.3,
                         body_timeout_sec=0.3, max_request_bytes=256 * 1024)
    return entry, upper


def ws_url(process: ChainletProcess, path: str = "/websocket") -> str:
    return process.url.replace("http://", "ws://") + path


def session(process: ChainletProcess, body: Callable[[ClientConnection], Awaitable[Any]],
            headers: dict[str, str] | None = None, path: str = "/websocket") -> Any:
    """Run ``body`` with a connection to ``process`` (the API key sent unless ``headers`` given)."""
    async def main() -> Any:
        async with connect(ws_url(process, path), additional_headers=AUTH if headers is None else headers,
                           open_timeout=10) as ws:
            return await body(ws)

    return asyncio.run(main())


def refusal(process: ChainletProcess, headers: dict[str, str], path: str = "/websocket",
            **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body of a refused handshake."""
    async def main() -> tuple[int, dict[str, Any]]:
        with pytest.raises(InvalidStatus) as info:
            async with connect(ws_url(process, path), additional_headers=headers, open_timeout=10,
                               **kwargs):
                pass
        response = info.value.response
        return response.status_code, json.loads(response.body or b"{}")

    return asyncio.run(main())


def wait_for_log(process: ChainletProcess, text: str) -> str:
    deadline = time.monotonic() + 10
    while text not in (logs := process.logs()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return logs


# -- messages ----------------------------------------------------------------------------------
def test_text_and_bytes_both_ways(chain: tuple[ChainletProcess, ChainletProcess]) -> None:
    entry, _ = chain

    async def body(ws: ClientConnection) -> list[Any]:
        replies = []
        messages: list[str | bytes] = ["hello", b"\x00\x01\xff", "", "h\u00e9llo \U0001f600", b"x" * 200_000]
        for message in messages:
            await ws.send(message)
            replies.append(await ws.recv())
        await ws.send("json")
        await ws.send(json.dumps({"n": [1, 2]}))
        replies.append(json.loads(await ws.recv()))
        return replies

    replies = session(entry, body)
    assert replies[:4] == ["echo:hello", b"\xff\x01\x00", "echo:", "echo:h\u00e9llo \U0001f600"]
    assert replies[4] == b"x" * 200_000
    assert replies[5] == {"got": {"n": [1, 2]}}


def test_the_handler_calls_its_dependency_with_the_request_id(
    chain: tuple[ChainletProcess, ChainletProcess],
) -> None:
    entry, _ = chain

    async def body(ws: ClientConnection) -> list[Any]:
        replies = []
        for message in ["upper:abc", "upper:second call", "rid"]:
            await ws.send(message)
            replies.append(await ws.recv())
        return replies

    replies = session(entry, body, headers={**AUTH, "X-Request-ID": "ws-rid-7"})
    assert replies == ["ABC", "SECOND CALL", "ws-rid-7"]


def test_the_handler_sees_the_handshake_headers_without_the_credential(
    chain: tuple[ChainletProcess, ChainletProcess],
) -> None:
    entry, _ = chain

    async def body(ws: ClientConnection) -> Any:
        await ws.send("headers")
        return json.loads(await ws.recv())

    headers = session(entry, body, headers={**AUTH, "X-Custom": "yes"})
    assert headers["x-custom"] == "yes" and "host" in headers
    assert "authorization" not in headers and API_KEY not in json.dumps(headers)


# -- closing -----------------------------------------------------------------------------------
def test_the_server_closes_with_its_code_and_reason(chain: tuple[ChainletProcess, ChainletProcess]) -> None:
    entry, _ = chain

    async def body(ws: ClientConnection) -> tuple[int, str]:
        await ws.send("close:4001:see you")
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        return info.value.rcvd.code, info.value.rcvd.reason

    assert session(entry, body) == (4001, "see you")


def test_the_client_closes_and_the_handler_gets_its_code(chain: tuple[ChainletProcess, ChainletProcess]) -> None:
    entry, _ = chain

    async def body(ws: ClientConnection) -> None:
        await ws.send("first")
        assert await ws.recv() == "echo:first"
        await ws.close(4002, "client done")

    session(entry, body)
    assert "client closed: code=4002 reason='client done'" in wait_for_log(entry, "code=4002")


def test_a_handler_exception_closes_with_1011_and_is_logged(chain: tuple[ChainletProcess, ChainletProcess]) -> None:
    entry, _ = chain

    async def body(ws: ClientConnection) -> tuple[int, str]:
        await ws.send("raise")
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        return info.value.rcvd.code, info.value.rcvd.reason

    assert session(entry, body, headers={**AUTH, "X-Request-ID": "ws-raise-1"}) == (
        1011, "ValueError: the handler gave up")
    logs = wait_for_log(entry, "raised in a websocket session")
    assert "run_remote of chainlet Socket raised in a websocket session (request_id=ws-raise-1)" in logs
    assert 'raise ValueError("the handler gave up")' in logs  # the traceback


def test_a_message_over_the_size_limit_closes_with_1009(chain: tuple[ChainletProcess, ChainletProcess]) -> None:
    entry, _ = chain

    async def body(ws: ClientConnection) -> int:
        await ws.send(b"x" * (256 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        return info.value.rcvd.code

    assert session(entry, body) == 1009


def test_a_quiet_session_outlives_the_request_deadlines(chain: tuple[ChainletProcess, ChainletProcess]) -> None:
    entry, _ = chain  # header and body deadlines of 0.3 s: they must not apply to an upgraded connection

    async def body(ws: ClientConnection) -> Any:
        await asyncio.sleep(1.0)
        await ws.send("still here")
        return await ws.recv()

    assert session(entry, body) == "echo:still here"


# -- the handshake's checks --------------------------------------------------------------------
def test_the_entrypoint_requires_its_api_key(chain: tuple[ChainletProcess, ChainletProcess]) -> None:
    entry, _ = chain
    status, body = refusal(entry, {})
    assert status == 401 and "no API key" in body["error"]["exception_message"]
    status, body = refusal(entry, {"Authorization": "Api-Key guess"})
    assert status == 403 and "wrong API key" in body["error"]["exception_message"]
    assert "completing handshake" not in entry.logs()  # a refusal is no server error


def test_a_foreign_host_or_origin_is_refused(chain: tuple[ChainletProcess, ChainletProcess]) -> None:
    entry, _ = chain
    port = entry.contract.port
    status, body = refusal(entry, {**AUTH, "Host": f"evil.example:{port}"})
    assert status == 400 and "allowed_hosts" in body["error"]["exception_message"]
    status, body = refusal(entry, AUTH, origin=Origin("http://evil.example"))
    assert status == 403 and body["error"]["exception_cls_name"] == "OriginNotAllowed"

    async def echo(ws: ClientConnection) -> Any:
        await ws.send("same origin")
        return await ws.recv()

    # A page served from the chain's own address may connect.
    async def main() -> Any:
        async with connect(ws_url(entry), additional_headers=AUTH,
                           origin=Origin(f"http://127.0.0.1:{port}")) as ws:
            return await echo(ws)

    assert asyncio.run(main()) == "echo:same origin"


def test_a_chainlet_behind_the_entrypoint_requires_the_chain_token(
    serve: Serve, secrets: tuple[pathlib.Path, pathlib.Path],
) -> None:
    token, _ = secrets
    inner = serve("socket_chain:Socket", name="Inner", chain_token_file=token,
                  dependencies={"Upper": "http://127.0.0.1:9"})
    status, body = refusal(inner, {})
    assert status == 401 and "only from its chain" in body["error"]["exception_message"]

    async def echo(ws: ClientConnection) -> Any:
        await ws.send("x")
        return await ws.recv()

    assert session(inner, echo, headers={"X-Infra-Chains-Token": TOKEN}) == "echo:x"


def test_paths_and_plain_http(chain: tuple[ChainletProcess, ChainletProcess], serve: Serve) -> None:
    entry, _ = chain
    status, body = refusal(entry, AUTH, path="/other")
    assert status == 404 and "connect to /websocket" in body["error"]["exception_message"]
    # Plain HTTP to a websocket chainlet says how to reach it.
    for response in (httpx.post(f"{entry.url}/run_remote", json={}, headers=AUTH),
                     httpx.get(f"{entry.url}/websocket", headers=AUTH)):
        assert response.status_code == 426 and response.headers["upgrade"] == "websocket"
        assert "serves a websocket" in response.json()["error"]["exception_message"]
    # A chainlet whose run_remote takes no websocket does not upgrade.
    plain = serve("socket_chain:Plain", name="Plain")
    status, _ = refusal(plain, {})
    assert status == 404


def test_a_draining_server_closes_its_sessions_with_1012(serve: Serve) -> None:
    # A session never turns idle, so the drain would wait out the whole grace period for it;
    # instead its client is told at once (1012: service restart) and reconnects to the next one.
    server = serve("socket_chain:Socket", name="Socket", graceful_shutdown_sec=30,
                   dependencies={"Upper": "http://127.0.0.1:9"})

    async def body(ws: ClientConnection) -> int:
        await ws.send("ping")
        assert await ws.recv() == "echo:ping"
        server.terminate()
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 15)
        assert info.value.rcvd is not None
        return info.value.rcvd.code

    assert session(server, body, headers={}) == 1012
    assert server.process is not None and server.process.wait(15) == 0


def test_websocket_options_set_the_keepalive_pings(serve: Serve) -> None:
    """A client that never answers a ping is closed with 1011 after ``ping_timeout_seconds``."""
    server = serve("socket_chain:Pinged", name="Pinged")
    with socket.create_connection(("127.0.0.1", server.contract.port), timeout=10) as conn:
        key = base64.b64encode(os.urandom(16)).decode()
        conn.sendall(f"GET /websocket HTTP/1.1\r\nHost: 127.0.0.1:{server.contract.port}\r\n"
                     f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received:
            received += conn.recv(4096)
        assert received.startswith(b"HTTP/1.1 101")
        frames = received.split(b"\r\n\r\n", 1)[1]
        while chunk := conn.recv(4096):  # until the server closes the connection
            frames += chunk
    opcodes = []
    while frames:  # unmasked server frames with short payloads: opcode, length, payload
        length = frames[1] & 0x7F
        opcodes.append((frames[0] & 0x0F, frames[2:2 + length]))
        frames = frames[2 + length:]
    assert opcodes[0][0] == 0x9  # a ping
    close = [payload for opcode, payload in opcodes if opcode == 0x8]
    assert close and int.from_bytes(close[0][:2], "big") == 1011
    assert b"keepalive ping timeout" in close[0]
