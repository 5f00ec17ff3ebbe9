"""Streams and websockets between containers on a real engine: a websocket entrypoint reads a
streaming dependency over the chain's network and sends each item to its client as it comes.
(Marked docker; skips with the reason when there is no engine.)"""

from __future__ import annotations

import asyncio
import pathlib
import secrets as secrets_module
import textwrap

import pytest
from websockets.asyncio.client import connect

import infra_chains as chains
from infra_chains.framework.loading import load_entrypoint
from infra_chains.serving.websocket import websocket_url
from infra_chains.targets.docker.target import DockerTarget

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

CHAIN = '''
import asyncio
from collections.abc import AsyncIterator

import infra_chains as chains


class Words(chains.ChainletBase):
    async def run_remote(self, text: str) -> AsyncIterator[str]:
        for word in text.split():
            yield word.upper()
            await asyncio.sleep(0.01)
        if text.endswith("!"):
            raise ValueError("no shouting")


@chains.mark_entrypoint
class Talk(chains.ChainletBase):
    def __init__(self, words: Words = chains.depends(Words)) -> None:
        self._words = words

    async def run_remote(self, websocket: chains.WebSocketProtocol) -> None:
        async for text in websocket.iter_text():
            try:
                async for word in self._words.run_remote(text):
                    await websocket.send_text(word)
            except Exception as exc:
                await websocket.send_text(f"error: {type(exc).__name__}")
            await websocket.send_text("--")
'''


def test_a_websocket_entrypoint_relays_a_streaming_dependency(
    docker_engine: object, tmp_path: pathlib.Path
) -> None:
    chain = f"streams-docker-{secrets_module.token_hex(3)}"
    path = tmp_path / "talk.py"
    path.write_text(textwrap.dedent(CHAIN))
    target = DockerTarget(tmp_path / "state", build_network="host")
    try:
        service = chains.push(load_entrypoint(path), chain_name=chain, remote=target, ready_timeout_sec=180)
        assert service is not None

        async def talk() -> list[list[str]]:
            answers: list[list[str]] = []
            async with connect(websocket_url(service.run_remote_url), open_timeout=30) as ws:
                for text in ("one two three", "a b!"):
                    await ws.send(text)
                    words: list[str] = []
                    while (word := str(await asyncio.wait_for(ws.recv(), 30))) != "--":
                        words.append(word)
                    answers.append(words)
            return answers

        # The mid-stream error reaches the websocket handler after the items before it.
        assert asyncio.run(talk()) == [["ONE", "TWO", "THREE"], ["A", "B!", "error: ValueError"]]
    finally:
        assert target.down(chain)
