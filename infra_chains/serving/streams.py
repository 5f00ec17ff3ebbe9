"""Streaming ``run_remote`` over HTTP: the wire format, and the stream a stub returns.

A streaming endpoint (``-> AsyncIterator[str]`` or ``AsyncIterator[bytes]``) answers with a chunked
200 response, each yielded item sent as it is produced (the server's side: `stream_sender`). The
status and headers leave with the first item, so an exception raised before it is an ordinary
error response (500 with ``{"error": RemoteErrorDetail}``). After that the status cannot change,
so how a later error reaches the caller depends on what the caller asked for:

* **Framed** (``Accept: application/vnd.infra-chains.stream``; what our stubs and `ChainService`
  send; the answer's content type says the items' type: ``...stream; item=str`` or
  ``item=bytes``): the body is a sequence of frames, each ``kind (1 byte) | length (uint32,
  big-endian) | payload``::

      b"d"  one item: its bytes (a ``str`` item as UTF-8); item boundaries survive the wire
      b"e"  an error: ``{"error": RemoteErrorDetail}`` as JSON; the last frame of the stream
      b"z"  the clean end of the stream (empty payload); the last frame of the stream

  A body that ends without ``z`` or ``e`` was cut off (the producer's process died, the
  connection broke): the stub raises a connection error, never a silently short stream. The stub
  raises an ``e`` frame as the remote exception, exactly as it raises an error response.
* **Raw** (any other caller: curl, httpx, a browser): the items' bytes back to back
  (``text/plain; charset=utf-8`` for ``str`` items, ``application/octet-stream`` for ``bytes``),
  ended by the final empty chunk. An error after the first item ends the response *without* the
  final chunk, the one signal HTTP/1.1 has for a failed body: curl reports "transfer closed with
  outstanding read data", httpx a ``RemoteProtocolError``; the error is logged with the request id.

A chainlet that returns the stream it got from a dependency (a `RemoteStream`, not iterated yet)
relays it without decoding: the dependency's complete frames are passed on as they arrive, and
the next chunk is read only once the previous one was written, so memory stays flat however long
the stream (back-pressure runs from the final caller through every hop to the producer).

On the calling side, ``RPCOptions.timeout_sec`` bounds the wait for the answer's head and each
pause between chunks; retries end once the head of a 2xx answer has arrived, and the stub's
``concurrency_limit`` counts a stream until then.
"""

from __future__ import annotations

import collections
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pydantic_core

from infra_chains.errors import DependencyUnreachableError, RemoteTimeoutError
from infra_chains.public_types import RemoteErrorDetail
from infra_chains.serving import remote_errors, transport

#: Content type of a framed stream (see the module docstring); stubs ask for it in ``Accept``.
STREAM_CONTENT_TYPE = "application/vnd.infra-chains.stream"
HEAD = struct.Struct(">cI")
DATA, ERROR, END = b"d", b"e", b"z"
#: Largest frame a stub accepts: a corrupt length must not make it buffer gigabytes.
MAX_FRAME_BYTES = 1024 * 1024 * 1024


def frame(kind: bytes, payload: bytes) -> bytes:
    """One frame of the framed stream (module docstring): ``kind``, length, ``payload``."""
    return HEAD.pack(kind, len(payload)) + payload


class RemoteStream:
    """What a stub's ``run_remote`` returns for a streaming dependency: an async iterator of its
    items (``str`` or ``bytes``), sent for on the first ``__anext__``.

    A remote error (before or during the stream) is raised from ``__anext__`` as the stub raises
    errors of plain calls, after the items that came before it; `aclose` (or leaving an ``async
    for`` early and dropping the stream) closes the connection, which stops the producer.
    """

    def __init__(self, open_body: Callable[[], Awaitable[transport.BodyStream]], *, chainlet: str,
                 url: str, item_type: type[str] | type[bytes], read_timeout: float) -> None:
        self._open_body = open_body
        self._chainlet = chainlet
        self._url = url
        self._item_type = item_type
        self._read_timeout = read_timeout
        self._body: transport.BodyStream | None = None
        self._buffer = bytearray()
        self._items: collections.deque[bytes] = collections.deque()
        self._done = False  # no more chunks to read
        self._error: Exception | None = None  # raised once the items before it are taken
        self.started = False
        #: What ended a relayed stream with an error, for the relaying server's metrics.
        self.failed: str | None = None

    def __repr__(self) -> str:
        return f"<stream of {self._item_type.__name__} from chainlet `{self._chainlet}`>"

    def __aiter__(self) -> RemoteStream:
        return self

    async def __anext__(self) -> Any:
        self.started = True
        items = self._items
        while not items:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if self._done:
                raise StopAsyncIteration
            chunk = await self._next_chunk()
            if chunk is None:
                self._end(self._cut_off())
            else:
                self._parse(chunk)
        data = items.popleft()
        return data.decode() if self._item_type is str else data

    async def aclose(self) -> None:
        self._done = True
        self._items.clear()
        if self._body is not None:
            self._body.close()

    def __del__(self) -> None:
        # Dropped before its end (a caller left its `async for` early): close the connection, or
        # the producer would wait on back-pressure for a reader that is gone.
        body = self._body
        if body is not None and not self._done:
            try:
                body.close()
            except Exception:  # noqa: BLE001 - e.g. its event loop is closed already
                pass

    def _end(self, error: Exception | None = None) -> None:
        self._done = True
        self._error = error
        if self._body is not None:
            self._body.close()  # read to its end already, normally: then a no-op

    async def _next_chunk(self) -> bytes | None:
        body = self._body
        if body is None:
            body = self._body = await self._open_body()
            if body.content_type.partition(";")[0].strip() != STREAM_CONTENT_TYPE:
                self._end()
                raise DependencyUnreachableError(
                    f"Chainlet `{self._chainlet}` at {self._url} answered with content type "
                    f"{body.content_type!r}, not a stream: is it a chainlet whose run_remote "
                    "streams, running the same infra_chains version?",
                    chainlet=self._chainlet, url=self._url)
        try:
            return await body.next_chunk(self._read_timeout)
        except transport.AttemptTimeout:
            self._end()
            raise RemoteTimeoutError(
                f"Stream from chainlet `{self._chainlet}` at {self._url}: no data for "
                f"{self._read_timeout:g} s (timeout_sec). Raise `timeout_sec` in "
                "`chains.depends(...)` if it is just slow.", chainlet=self._chainlet, url=self._url,
            ) from None
        except transport.TransportError as exc:
            self._end()
            raise self._broken(str(exc)) from None

    def _scan(self, buffer: bytes | bytearray | memoryview) -> tuple[int, bytes | None, int]:
        """``(end of the complete frames in the buffer, kind of the final frame if one came, where
        that frame starts)`` of ``buffer``; raises on a corrupt frame head."""
        size = len(buffer)
        position = 0
        while size - position >= HEAD.size:
            kind, length = HEAD.unpack_from(buffer, position)
            self._check_head(kind, length)
            end = position + HEAD.size + length
            if end > size:
                break
            if kind != DATA:
                return end, kind, position
            position = end
        return position, None, position

    def _parse(self, chunk: bytes) -> None:
        """Move the complete frames of the buffer to ``_items`` (or end the stream)."""
        buffer = self._buffer
        buffer += chunk
        end, _, _ = self._scan(buffer)
        position = 0
        while position < end:
            kind, length = HEAD.unpack_from(buffer, position)
            start = position + HEAD.size
            position = start + length
            if kind == DATA:
                self._items.append(bytes(buffer[start:position]))
            elif kind == ERROR:
                self._end(self._remote_error(bytes(buffer[start:position])))
            else:
                self._end()
        del buffer[:end]

    async def frames(self) -> AsyncIterator[bytes]:
        """The raw frames of the stream, in chunks that end at frame boundaries (for a relay).

        Data frames and the final (end or error) frame pass unchanged; a broken connection
        raises, after the complete frames that came before it. A chunk of whole frames passes
        on as it is; otherwise only the frame cut by the chunk's end is copied (twice)."""
        self.started = True
        pending = self._buffer  # the start of a frame that continues in the next chunk
        while True:
            chunk = await self._next_chunk()
            if chunk is None:
                self._end()
                raise self._cut_off()
            start = 0
            final: bytes | None = None
            if pending:  # complete the frame carried over, from the start of this chunk
                if len(pending) < HEAD.size:
                    start = min(HEAD.size - len(pending), len(chunk))
                    pending += chunk[:start]
                    if len(pending) < HEAD.size:
                        continue
                kind, length = HEAD.unpack_from(pending)
                self._check_head(kind, length)
                taken = min(HEAD.size + length - len(pending), len(chunk) - start)
                pending += memoryview(chunk)[start:start + taken]
                start += taken
                if len(pending) < HEAD.size + length:
                    continue
                whole = bytes(pending)
                pending.clear()
                if kind != DATA:
                    final = kind
                    if kind == ERROR:
                        self.failed = _summary(whole[HEAD.size:])
                yield whole
            if final is None:
                rest = memoryview(chunk)[start:] if start else chunk
                end, final, final_start = self._scan(rest)
                if end:
                    out = chunk if rest is chunk and end == len(chunk) else bytes(rest[:end])
                    if final == ERROR:
                        self.failed = _summary(out[final_start + HEAD.size:])
                    yield out
                if final is None and end < len(rest):
                    pending += rest[end:]
            if final is not None:
                self._end()
                return

    def _check_head(self, kind: bytes, length: int) -> None:
        if length > MAX_FRAME_BYTES or kind not in (DATA, ERROR, END):
            self._end()
            raise DependencyUnreachableError(
                f"Stream from chainlet `{self._chainlet}` at {self._url} is not a valid frame "
                f"sequence (frame kind {kind!r}, length {length}).",
                chainlet=self._chainlet, url=self._url)

    async def data(self) -> AsyncIterator[bytes]:
        """The items' bytes, joined per arriving chunk (a relay to a raw caller: no item is sent
        on its own); a remote error is raised after the data before it, as in ``__anext__``."""
        self.started = True
        buffer = self._buffer
        while True:
            chunk = await self._next_chunk()
            if chunk is None:
                self._end()
                raise self._cut_off()
            buffer += chunk
            end, final, final_start = self._scan(buffer)
            data_end = final_start if final is not None else end
            if data_end:
                view = memoryview(buffer)
                parts = []
                position = 0
                while position < data_end:
                    length = HEAD.unpack_from(buffer, position)[1]
                    start = position + HEAD.size
                    position = start + length
                    parts.append(view[start:position])
                out = b"".join(parts)
                parts.clear()
                view.release()
                if out:
                    yield out
            if final is not None:
                payload = bytes(buffer[final_start + HEAD.size:end])
                del buffer[:end]
                self._end(self._remote_error(payload) if final == ERROR else None)
                if self._error is not None:
                    error, self._error = self._error, None
                    raise error
                return
            del buffer[:end]

    def _remote_error(self, payload: bytes) -> Exception:
        status = 500
        try:
            status = RemoteErrorDetail.model_validate(pydantic_core.from_json(payload)["error"]).status_code
        except Exception:  # noqa: BLE001 - a malformed detail is reported as the body's text
            pass
        return remote_errors.exception_from_response(status, payload, chainlet=self._chainlet,
                                                     url=self._url)

    def _cut_off(self) -> Exception:
        return self._broken("the stream ended without its end mark (the producer's process died or "
                            "the connection broke)")

    def _broken(self, reason: str) -> Exception:
        return DependencyUnreachableError(
            f"Stream from chainlet `{self._chainlet}` at {self._url} broke: {reason}.",
            chainlet=self._chainlet, url=self._url)


def _summary(payload: bytes | bytearray) -> str:
    try:
        error = pydantic_core.from_json(payload)["error"]
        return f"{error['remote_name']}: {error['exception_cls_name']}: {error['exception_message']}"
    except Exception:  # noqa: BLE001
        return "error frame"
