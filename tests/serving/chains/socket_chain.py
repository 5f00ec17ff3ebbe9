"""A websocket entrypoint whose messages are commands, for tests/serving/test_websocket.py.

Text ``upper:<x>`` calls the dependency; ``close:<code>:<reason>`` closes from the server;
``raise`` raises; ``headers`` sends the handshake's headers as JSON; ``rid`` asks the dependency
for the request id it saw; ``json`` takes the next message as JSON and sends it back as JSON; any
other text comes back as ``echo:<text>``; bytes come back reversed. A client's close is printed
with its code and reason (the test reads the log).
"""

import infra_chains as chains
from infra_chains.serving import request_id


class Upper(chains.ChainletBase):
    async def run_remote(self, text: str) -> str:
        if text == "rid":
            return request_id.current() or ""
        return text.upper()


@chains.mark_entrypoint
class Socket(chains.ChainletBase):
    def __init__(self, upper: Upper = chains.depends(Upper)) -> None:
        self._upper = upper

    async def run_remote(self, websocket: chains.WebSocketProtocol) -> None:
        try:
            while True:
                message = await websocket.receive()
                if isinstance(message, bytes):
                    await websocket.send_bytes(message[::-1])
                elif message.startswith("upper:"):
                    await websocket.send_text(await self._upper.run_remote(message[len("upper:"):]))
                elif message == "rid":
                    await websocket.send_text(await self._upper.run_remote("rid"))
                elif message.startswith("close:"):
                    _, code, reason = message.split(":", 2)
                    await websocket.close(int(code), reason)
                    return
                elif message == "raise":
                    raise ValueError("the handler gave up")
                elif message == "headers":
                    await websocket.send_json(dict(websocket.headers))
                elif message == "json":
                    await websocket.send_json({"got": await websocket.receive_json()})
                else:
                    await websocket.send_text(f"echo:{message}")
        except chains.WebSocketDisconnect as exc:
            print(f"client closed: code={exc.code} reason={exc.reason!r}", flush=True)


class Plain(chains.ChainletBase):
    async def run_remote(self, text: str) -> str:
        return text


class Pinged(chains.ChainletBase):
    """Pings every 0.2 s; a client that does not answer within 0.3 s is closed (1011)."""

    remote_config = chains.RemoteConfig(options=chains.ChainletOptions(transport={
        "kind": "websocket", "ping_interval_seconds": 0.2, "ping_timeout_seconds": 0.3}))

    async def run_remote(self, websocket: chains.WebSocketProtocol) -> None:
        async for message in websocket.iter_text():
            await websocket.send_text(message)
