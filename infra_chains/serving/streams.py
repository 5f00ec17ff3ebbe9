"""Streaming ``run_remote`` over HTTP: the wire format, the server's sending loop, the stub's stream.

A streaming endpoint (``-> AsyncIterator[str]`` or ``AsyncIterator[bytes]``) answers with a chunked
200 response, each yielded item sent as it is produced. The status and headers leave with the
first item, so an exception raised before it is an ordinary error response (500 with
``{"error": RemoteErrorDetail}``). After that the status cannot change, so how a later error
reaches the caller depends on what the caller asked for:

* **Framed** (``Accept: application/vnd.infra-chains.stream``; what our stubs send): the body is a
  sequence of frames, each ``kind (1 byte) | length (uint32, big-endian) | payload``::

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

A chainlet that returns the stream it got from a dependency (`RemoteStream`, not iterated yet)
relays it without decoding: the dependency's complete frames are passed on as they arrive, and
the next chunk is read only once the previous one was written, so memory stays flat however long
the stream (back-pressure runs from the final caller through every hop to the producer).

While a stream runs, the request holds its ``predict_concurrency`` slot (it counts as in flight
for `/metrics` and the graceful drain waits for it, within ``graceful_shutdown_sec``); a caller
that disconnects stops it, and so does a producer silent for longer than
``ChainletOptions.streaming_read_timeout`` between two items (the caller gets a `TimeoutError`).
`/metrics` counts a stream when it ends: as 200, or as 500 when it failed after its first item
(uvicorn also logs "ASGI callable returned without completing response" for a cut raw body).
On the calling side, ``RPCOptions.timeout_sec`` bounds the wait for the answer's head and each
pause between chunks; retries end once the head of a 2xx answer has arrived, and the stub's
``concurrency_limit`` counts a stream until then.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, MutableMapping
from typing import Any

import pydantic_core

from infra_chains.errors import DependencyUnreachableError, RemoteTimeoutError
from infra_chains.public_types import RemoteErrorDetail
from infra_chains.serving import remote_errors, transport

logger = logging.getLogger(__name__)

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]

#: Content type of a framed stream (see the module docstring); stubs ask for it in ``Accept``.
STREAM_CONTENT_TYPE = "application/vnd.infra-chains.stream"
_STREAM_CT = STREAM_CONTENT_TYPE.encode()
_RAW_CT = {str: b"text/plain; charset=utf-8", bytes: b"application/octet-stream"}
_HEAD = struct.Struct(">cI")
DATA, ERROR, END = b"d", b"e", b"z"
_END_FRAME = _HEAD.pack(END, 0)
#: Largest frame a stub accepts: a corrupt length must not make it buffer gigabytes.
MAX_FRAME_BYTES = 1024 * 1024 * 1024
#: `ChainletApp._run`'s status for "the response is a stream, send it with `send_stream`".
STREAMING = -1


def stream_item_type(annotation: Any) -> type[str] | type[bytes] | None:
    """``str`` or ``bytes`` for ``AsyncIterator[str]`` / ``AsyncIterator[bytes]``, else None."""
    import collections.abc
    import typing

    if typing.get_origin(annotation) in (collections.abc.AsyncIterator, collections.abc.AsyncGenerator,
                                         collections.abc.AsyncIterable):
        args = typing.get_args(annotation)
        if args and args[0] in (str, bytes):
            return args[0]  # type: ignore[no-any-return]
    return None


def frame(kind: bytes, payload: bytes) -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


def wants_frames(accept: bytes) -> bool:
    """Whether an ``Accept`` header asks for the framed stream."""
    return _STREAM_CT in accept


# -- server side ---------------------------------------------------------------------------------
class Outgoing:
    """A stream about to be sent: the iterator ``run_remote`` returned, and its slot to release."""

    __slots__ = ("item_type", "release", "source")

    def __init__(self, source: Any, item_type: type[str] | type[bytes],
                 release: Callable[[], None]) -> None:
        self.source = source
        self.item_type = item_type
        self.release = release


async def open_stream(run_remote: Callable[..., Any], kwargs: dict[str, Any],
                      item_type: type[str] | type[bytes], release: Callable[[], None]) -> Outgoing:
    """Call a streaming ``run_remote``: an async generator, or an ``async def`` returning a stream
    (a relay). Raises what the call raises (then nothing was sent yet)."""
    result = run_remote(**kwargs)
    if inspect.isawaitable(result):
        result = await result
    if not hasattr(result, "__anext__"):
        raise TypeError(f"run_remote is annotated to return AsyncIterator[{item_type.__name__}] but "
                        f"returned {type(result).__name__}; yield the items, or return an async "
                        "iterator (e.g. the stream of a dependency's run_remote)")
    return Outgoing(result, item_type, release)


class _Sender:
    """One response being streamed; notices a caller that went away, and a producer that
    paused longer than ``read_timeout`` between two items (not counting time spent waiting for
    a slow caller: that is back-pressure, not a stalled producer)."""

    def __init__(self, send: Send, receive: Receive, read_timeout: float | None) -> None:
        self.send = send
        self.receive = receive
        self.read_timeout = read_timeout
        self.gone = False
        self.timed_out = False
        self.active = True
        self.waiting = False  # for the producer's next item (not for the caller)
        self.progress = 0  # items sent
        self.task = asyncio.current_task()
        self.watcher: asyncio.Task[None] | None = None
        self.watchdog: asyncio.Task[None] | None = None

    def watch(self) -> None:
        self.watcher = asyncio.ensure_future(self._watch())
        if self.read_timeout:
            self.watchdog = asyncio.ensure_future(self._watch_producer(self.read_timeout))

    async def _watch_producer(self, timeout: float) -> None:
        """Cancel the stream when no item came for ``timeout`` s (checked every quarter of it:
        one timer per stream, none per item)."""
        loop = asyncio.get_running_loop()
        last, since = -1, loop.time()
        while True:
            await asyncio.sleep(timeout / 4)
            now = loop.time()
            if self.progress != last or not self.waiting:
                last, since = self.progress, now
            elif now - since >= timeout:
                break
        if self.active and self.task is not None:
            self.timed_out = True
            self.task.cancel()

    async def _watch(self) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
        if self.active:  # a stream still running: stop it where it waits
            self.gone = True
            if self.task is not None:
                self.task.cancel()

    def stop_watching(self) -> None:
        self.active = False
        if self.watcher is not None:
            self.watcher.cancel()
        if self.watchdog is not None:
            self.watchdog.cancel()

    async def body(self, data: bytes, more: bool = True) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": more})


async def send_stream(send: Send, receive: Receive, outgoing: Outgoing, *, framed: bool,
                      headers: list[tuple[bytes, bytes]], chainlet: str,
                      read_timeout: float | None = None) -> tuple[int, str | None]:
    """Send ``outgoing`` as the response; ``(status for the metrics, error summary)``.

    The first item is produced before the response starts, so an error before it is answered as
    an ordinary error response; the status is then 0 when the caller went away. After it, a
    pause of ``read_timeout`` s before the next item ends the stream with a `TimeoutError`.
    """
    try:
        return await _send_stream(send, receive, outgoing, framed, headers, chainlet, read_timeout)
    finally:
        outgoing.release()


async def _send_stream(send: Send, receive: Receive, outgoing: Outgoing, framed: bool,
                       headers: list[tuple[bytes, bytes]], chainlet: str,
                       read_timeout: float | None) -> tuple[int, str | None]:
    source = outgoing.source
    # A dependency's stream returned as it is: passed on per arriving chunk, not per item.
    relay = isinstance(source, RemoteStream) and not source.started
    items: AsyncIterator[Any] = source if not relay else source.frames() if framed else source.data()
    sender = _Sender(send, receive, read_timeout)
    try:
        try:
            first = await items.__anext__()
        except StopAsyncIteration:
            first = _NOTHING
        except Exception as exc:  # noqa: BLE001 - the user's error, answered as a response
            return await _error_response(sender, exc, headers, chainlet)
        content_type = _STREAM_CT if framed else _RAW_CT[outgoing.item_type]
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", content_type), (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"), *headers]})
        sender.watch()
        encode = _encoder(framed and not relay, outgoing.item_type, relay)
        counter = [0]
        try:
            if first is not _NOTHING:
                await send({"type": "http.response.body", "body": encode(first), "more_body": True})
                counter[0] = 1
                if relay:  # chunks of many items already
                    sender.waiting = True
                    async for item in items:
                        sender.waiting = False
                        await send({"type": "http.response.body", "body": item, "more_body": True})
                        counter[0] += 1
                        sender.progress = counter[0]
                        sender.waiting = True
                else:
                    await _pump(items, encode, send, sender, counter)
        except asyncio.CancelledError:
            count = counter[0]
            if not (sender.gone or sender.timed_out):
                raise
            if sender.task is not None:
                sender.task.uncancel()
            if sender.gone:
                logger.debug("caller of chainlet %s went away after %d stream items", chainlet,
                             count)
                return 0, None
            return await _fail(sender, framed, chainlet, count, TimeoutError(
                f"chainlet `{chainlet}` produced no stream item for {read_timeout:g} s after item "
                f"{count}; its producer was stopped (ChainletOptions.streaming_read_timeout)"))
        except Exception as exc:  # noqa: BLE001 - the user's error, after the status was sent
            return await _fail(sender, framed, chainlet, counter[0], exc)
        sender.stop_watching()
        await sender.body(b"" if relay or not framed else _END_FRAME, more=False)
        if relay and framed and source.failed is not None:
            return 500, f"relayed stream failed upstream: {source.failed}"
        return 200, None
    finally:
        sender.stop_watching()
        if relay:
            await _close(items)
        await _close(source)


async def _fail(sender: _Sender, framed: bool, chainlet: str, count: int,
                exc: BaseException) -> tuple[int, str]:
    """End a started stream with ``exc``: an error frame, or a cut body for a raw caller."""
    sender.stop_watching()
    detail = remote_errors.detail_from_exception(exc, chainlet)
    summary = (f"stream failed after {count} items: {detail.exception_cls_name}: "
               f"{detail.exception_message}")
    if framed:
        await sender.body(frame(ERROR, remote_errors.error_body(detail)), more=False)
    # Raw: return without the final chunk; the server closes the connection, which the caller
    # sees as an incomplete body (module docstring).
    return 500, summary


async def _error_response(sender: _Sender, exc: Exception, headers: list[tuple[bytes, bytes]],
                          chainlet: str) -> tuple[int, str | None]:
    detail = remote_errors.detail_from_exception(exc, chainlet)
    body = remote_errors.error_body(detail)
    await sender.send({"type": "http.response.start", "status": detail.status_code, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *headers]})
    await sender.body(body, more=False)
    return detail.status_code, f"{detail.exception_cls_name}: {detail.exception_message}"


_NOTHING: Any = object()
#: Items a fast producer makes without waiting are sent together, up to this many bytes.
_BATCH_BYTES = 64 * 1024
#: A producer step that blocks the loop longer than this turns batching off, until
#: `_FAST_STEPS_TO_BATCH` quick steps in a row show the producer was only preempted once.
_SLOW_STEP_SEC = 0.001
_FAST_STEPS_TO_BATCH = 64


async def _pump(items: AsyncIterator[Any], encode: Callable[[Any], bytes], send: Send,
                sender: _Sender, counter: list[int]) -> None:
    """Send the items after the first, each as soon as the producer would wait for anything.

    One send per item costs more than producing a small item (bench/streaming.py), so the items
    a producer makes without waiting are joined into one send (up to `_BATCH_BYTES`); the batch
    goes out the moment the producer awaits something, so no item waits on a producer that is
    itself waiting. The producer's steps are driven by hand to see that moment: a step that
    finishes without suspending returns its item at once. A producer that blocks the event loop
    (slow steps that never suspend, e.g. model code called synchronously) would hold a batch for
    a whole step; after a step longer than `_SLOW_STEP_SEC`, items are sent one by one until
    the steps are quick again.
    """
    batch: list[bytes] = []
    size = 0
    eager = False
    fast_steps = 0
    clock = time.perf_counter
    next_item = items.__anext__

    async def flush() -> None:
        nonlocal size
        body = batch[0] if len(batch) == 1 else b"".join(batch)
        batch.clear()
        size = 0
        await send({"type": "http.response.body", "body": body, "more_body": True})
        sender.progress = counter[0]

    while True:
        step = next_item().__await__()
        started = clock()
        try:
            pending = step.send(None)
        except StopIteration as done:  # the item came without waiting
            item = done.value
            if clock() - started > _SLOW_STEP_SEC:
                eager, fast_steps = True, 0
            elif eager:
                fast_steps += 1
                eager = fast_steps < _FAST_STEPS_TO_BATCH
        except StopAsyncIteration:
            break
        except BaseException:
            if batch:  # what was made before the error goes out before the error
                await flush()
            raise
        else:  # the producer waits: send what it made meanwhile, then wait with it
            if batch:
                try:
                    await flush()
                except BaseException:
                    step.close()  # its generator runs its `finally`, at the await it is in
                    raise
            sender.waiting = True
            try:
                item = await _Resume(step, pending)
            except StopAsyncIteration:
                break
            except BaseException:
                sender.waiting = False
                raise
            sender.waiting = False
        data = encode(item)
        counter[0] += 1
        batch.append(data)
        size += len(data)
        if eager or size >= _BATCH_BYTES:
            await flush()
    if batch:
        await flush()


class _Resume:
    """Awaits the rest of a producer step that `_pump` started by hand and that suspended on
    ``pending``: hands ``pending`` to the running task, then goes on as ``await`` would."""

    __slots__ = ("pending", "step")

    def __init__(self, step: Any, pending: Any) -> None:
        self.step = step
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        step, pending = self.step, self.pending
        while True:
            try:
                sent = yield pending
            except BaseException as exc:  # noqa: BLE001 - a cancellation, passed on to the step
                try:
                    pending = step.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    pending = step.send(sent)
                except StopIteration as done:
                    return done.value


def _encoder(framed: bool, item_type: type[Any], relay: bool) -> Callable[[Any], bytes]:
    """The per-item encoding of one stream, with the common case (the declared type) first."""
    if relay:
        return _same
    pack = _HEAD.pack
    if item_type is bytes:
        if framed:
            return lambda item: (pack(DATA, len(item)) + item if type(item) is bytes
                                 else _frame_item(item, bytes))
        return lambda item: item if type(item) is bytes else _raw_item(item, bytes)
    if framed:
        return lambda item: _frame_item(item, str)
    return lambda item: item.encode() if type(item) is str else _raw_item(item, str)


def _same(data: bytes) -> bytes:
    return data


def _frame_item(item: Any, item_type: type[Any]) -> bytes:
    data = _raw_item(item, item_type)
    return _HEAD.pack(DATA, len(data)) + data


def _raw_item(item: Any, item_type: type[Any]) -> bytes:
    if item_type is str:
        if isinstance(item, str):
            return item.encode()
    elif isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item) if isinstance(item, memoryview) else item  # type: ignore[return-value]
    raise TypeError(f"a stream of {item_type.__name__} items got a {type(item).__name__} item "
                    f"({_short(item)}); yield {item_type.__name__} only (encode structured data "
                    "with chains.streaming.stream_writer and yield bytes)")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


async def _close(source: Any) -> None:
    """Close a stream we stop reading: an async generator runs its ``finally``, a relayed stream
    closes its connection (so its producer stops too)."""
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # noqa: BLE001 - closing must not mask how the stream ended
            logger.debug("closing a stream raised", exc_info=True)


# -- stub side -----------------------------------------------------------------------------------
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
        while size - position >= _HEAD.size:
            kind, length = _HEAD.unpack_from(buffer, position)
            self._check_head(kind, length)
            end = position + _HEAD.size + length
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
            kind, length = _HEAD.unpack_from(buffer, position)
            start = position + _HEAD.size
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
                if len(pending) < _HEAD.size:
                    start = min(_HEAD.size - len(pending), len(chunk))
                    pending += chunk[:start]
                    if len(pending) < _HEAD.size:
                        continue
                kind, length = _HEAD.unpack_from(pending)
                self._check_head(kind, length)
                taken = min(_HEAD.size + length - len(pending), len(chunk) - start)
                pending += memoryview(chunk)[start:start + taken]
                start += taken
                if len(pending) < _HEAD.size + length:
                    continue
                whole = bytes(pending)
                pending.clear()
                if kind != DATA:
                    final = kind
                    if kind == ERROR:
                        self.failed = _summary(whole[_HEAD.size:])
                yield whole
            if final is None:
                rest = memoryview(chunk)[start:] if start else chunk
                end, final, final_start = self._scan(rest)
                if end:
                    out = chunk if rest is chunk and end == len(chunk) else bytes(rest[:end])
                    if final == ERROR:
                        self.failed = _summary(out[final_start + _HEAD.size:])
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
                    length = _HEAD.unpack_from(buffer, position)[1]
                    start = position + _HEAD.size
                    position = start + length
                    parts.append(view[start:position])
                out = b"".join(parts)
                parts.clear()
                view.release()
                if out:
                    yield out
            if final is not None:
                payload = bytes(buffer[final_start + _HEAD.size:end])
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
