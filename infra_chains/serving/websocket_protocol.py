"""The server's websocket protocol: uvicorn's sans-I/O one (over the ``websockets`` package),
with a refused handshake counted as finished.

A handshake the app refuses with an HTTP answer (the ASGI ``websocket.http.response``
extension, `websocket.refuse`) leaves uvicorn's protocol believing the handshake never
completed, so it logs "ASGI callable returned without completing handshake" at ERROR for every
refused client: a scanner or a client without its key would fill the log with false alarms.
Imported by name (`runtime` passes ``ws="infra_chains.serving.websocket_protocol:..."``), so
only a websocket chainlet loads it.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class RefusableWebSocketProtocol(WebSocketsSansIOProtocol):
    """`WebSocketsSansIOProtocol` whose handshake is complete once a refusal is sent."""

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body", False):
            self.handshake_complete = True
