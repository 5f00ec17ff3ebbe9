"""Websocket chains through the local target, with the `websockets` client: truss-chains' own
websocket test chain (ported, import changed only), text and bytes, a dependency called inside the
handler, closing from either side, and the handshake's guards."""

from __future__ import annotations

import asyncio
import pathlib
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

import infra_chains as chains
from infra_chains.cli.app import main
from infra_chains.framework.loading import load_entrypoint
from infra_chains.serving.websocket import websocket_url
from infra_chains.targets.local import LocalTarget

from .test_local_target import write

pytestmark = pytest.mark.servers

PORTED = (pathlib.Path(__file__).resolve().parents[1] / "parity" / "chains" / "tests"
          / "websocket_chain" / "websocket_chain.py")

CHAIN = '''
import infra_chains as chains


class Shout(chains.ChainletBase):
    async def run_remote(self, text: str) -> str:
        return text.upper() + "!"


@chains.mark_entrypoint
class Talk(chains.ChainletBase):
    def __init__(self, shout: Shout = chains.depends(Shout)) -> None:
        self._shout = shout

    async def run_remote(self, websocket: chains.WebSocketProtocol) -> None:
        async for message in websocket.iter_text():
            if message == "bytes":
                await websocket.send_bytes(await websocket.receive_bytes() * 2)
            elif message.startswith("bye "):
                await websocket.close(4000 + int(message[4:]), "as asked")
                return
            elif message == "fail":
                raise RuntimeError("talk failed")
            else:
                await websocket.send_text(await self._shout.run_remote(message))
'''


def talk(url: str, messages: list[str | bytes], **kwargs: Any) -> list[str | bytes]:
    """Send each message and read one answer to each (bytes after "bytes" get none of their own)."""
    async def main() -> list[str | bytes]:
        answers: list[str | bytes] = []
        async with connect(url, open_timeout=10, **kwargs) as ws:
            for message in messages:
                await ws.send(message)
                if message != "bytes":
                    answers.append(await ws.recv())
        return answers

    return asyncio.run(main())


def closed_with(url: str, message: str) -> tuple[int, str]:
    """The close code and reason the server answers ``message`` with."""
    async def main() -> tuple[int, str]:
        async with connect(url, open_timeout=10) as ws:
            await ws.send(message)
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
        assert info.value.rcvd is not None
        return info.value.rcvd.code, info.value.rcvd.reason

    return asyncio.run(main())


def log_text(target: LocalTarget, chain: str, chainlet: str, wanted: str) -> str:
    path = target.log_files(chain)[chainlet]
    deadline = time.monotonic() + 10
    while wanted not in (text := path.read_text(errors="replace")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return text


def test_truss_chains_websocket_chain_runs_as_ported(
    state_root: pathlib.Path, local_target: LocalTarget,
) -> None:
    pytest.importorskip("fastapi", reason="the ported file imports fastapi (the `test` extra)")
    service = chains.push(load_entrypoint(PORTED), chain_name="websocket-chain")
    assert service is not None
    url = websocket_url(service.run_remote_url)
    # truss-chains' own test (tests/test_e2e.py::test_websocket_chain), against the local target.
    assert talk(url, ["Test", "dep"]) == ["You said: Test.", "Hello from dependency, Head."]
    # The handler's `except fastapi.WebSocketDisconnect` sees the client leave.
    assert "Disconnected." in log_text(local_target, "websocket-chain", "Head", "Disconnected.")
    # Calling it like an HTTP chain says how to reach it.
    with pytest.raises(chains.RemoteError, match="serves a websocket"):
        service.run_remote({})


def test_text_bytes_dependency_and_closing(state_root: pathlib.Path, local_target: LocalTarget,
                                           tmp_path: pathlib.Path) -> None:
    service = chains.push(load_entrypoint(write(tmp_path, "talk_chain", CHAIN)), chain_name="talk")
    assert service is not None
    url = websocket_url(service.run_remote_url)
    assert talk(url, ["hi", "bytes", b"\x00ab", "again"]) == ["HI!", b"\x00ab\x00ab", "AGAIN!"]
    # Closing from the server: the code and reason reach the client.
    assert closed_with(url, "bye 7") == (4007, "as asked")
    # The handler raising: 1011 with the error, and its traceback in the chainlet's log.
    assert closed_with(url, "fail") == (1011, "RuntimeError: talk failed")
    assert "talk failed" in log_text(local_target, "talk", "Talk", "talk failed")
    # Closing from the client ends the session (the `async for` stops) and the next one works.
    assert talk(url, ["after"]) == ["AFTER!"]


def test_the_handshake_is_guarded_like_run_remote(
    state_root: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["push", str(write(tmp_path, "guarded_talk", CHAIN)), "--name", "guarded"]) == 0
    # The CLI prints the websocket address and a client to try it with, not a curl POST.
    out = capsys.readouterr().out
    url = out.split("Entrypoint: ")[1].split()[0]
    assert url.startswith("ws://127.0.0.1:") and url.endswith("/websocket")
    assert f"python -m websockets {url}" in out and "curl" not in out
    port = url.split(":")[2].split("/")[0]

    def status(**kwargs: Any) -> int:
        with pytest.raises(InvalidStatus) as info:
            talk(url, [], **kwargs)
        return info.value.response.status_code

    assert status(additional_headers={"Host": f"rebound.example:{port}"}) == 400  # DNS rebinding
    assert status(origin=Origin("http://evil.example")) == 403  # another site's page
    assert talk(url, ["ok"]) == ["OK!"]
