"""The server's HTTP/1.1 protocol: uvicorn's httptools protocol with deadlines for slow clients.

uvicorn times out idle keep-alive connections only: a client that opens a connection and sends
nothing, half a request line or half the headers, or stops in the middle of a body, holds the
connection (and what it buffered) for as long as it likes (issue 13 measured 25 s and more). Here
a request's headers must be complete within ``header_timeout_sec`` of its first byte (or of the
connection, for a client that sends nothing), and a body may pause at most ``body_timeout_sec``;
otherwise the connection is closed (408 when no response has started). A pause while *we* do not
read (the app has not consumed the buffered body yet: flow control) is not the client's.

No timer per request on the hot path: a deadline is armed only when a request is still incomplete
after the bytes that arrived, which a small request sent in one write never is.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                     b"connection: close\r\ncontent-length: 45\r\n\r\n"
                     b'{"detail":"request incomplete: timed out"}\r\n\r\n')


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` with the header and body deadlines above (class attributes, set by
    `protocol_class`)."""

    header_timeout_sec: float = 5.0
    body_timeout_sec: float = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_headers = True  # waiting for (the rest of) a request's headers
        self._in_body = False
        self._phase_started = 0.0  # when the headers began, or the body last made progress
        self._deadline_timer: asyncio.TimerHandle | None = None

    # -- the phases, from httptools' callbacks ---------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._phase_started = self.loop.time()
        self._arm(self.header_timeout_sec)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers, self._in_body = True, False
        self._phase_started = self.loop.time()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._in_headers, self._in_body = False, True

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_body = False

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_body:
            self._phase_started = self.loop.time()  # progress: the pause starts over
            if self._deadline_timer is None:
                self._arm(self.body_timeout_sec)
        elif self._in_headers:  # part of the next request's head arrived
            if self._deadline_timer is None:
                self._arm(self.header_timeout_sec)
        elif self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._in_headers = True  # the next request's headers, if any, are timed from their first byte

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        super().connection_lost(exc)

    # -- the deadline ----------------------------------------------------------------------------
    def _arm(self, timeout: float) -> None:
        self._deadline_timer = self.loop.call_at(self._phase_started + timeout, self._on_deadline)

    def _on_deadline(self) -> None:
        self._deadline_timer = None
        transport = self.transport
        if transport.is_closing():
            return
        now = self.loop.time()
        if self._in_body:
            if self.flow.read_paused:  # we are not reading: not the client's pause
                self._phase_started = now
                self._arm(self.body_timeout_sec)
                return
            if now < self._phase_started + self.body_timeout_sec:  # progress since it was armed
                self._arm(self.body_timeout_sec)
                return
            self.logger.info("closing a connection whose request body stalled for %g s",
                             self.body_timeout_sec)
            transport.close()  # the app sees a disconnect; nothing to answer
            return
        if self._in_headers and (self.cycle is None or self.cycle.response_complete):
            if now < self._phase_started + self.header_timeout_sec:
                self._arm(self.header_timeout_sec)
                return
            transport.write(_TIMEOUT_RESPONSE)
            transport.close()


def protocol_class(header_timeout_sec: float, body_timeout_sec: float) -> type[DeadlineHttpToolsProtocol]:
    """The protocol class for uvicorn's ``Config(http=...)`` with these deadlines."""
    return type("DeadlineHttpToolsProtocol", (DeadlineHttpToolsProtocol,), {
        "header_timeout_sec": header_timeout_sec, "body_timeout_sec": body_timeout_sec,
        "__module__": __name__,
    })
