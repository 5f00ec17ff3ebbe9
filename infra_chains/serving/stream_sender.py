"""The server's side of a streaming ``run_remote``: sending what it yields (format: `streams`).

While a stream runs, the request holds its ``predict_concurrency`` slot (it counts as in flight
for `/metrics` and the graceful drain waits for it, within ``graceful_shutdown_sec``); a caller
that disconnects stops it, and so does a producer silent for longer than
``ChainletOptions.streaming_read_timeout`` between two items (the caller gets a `TimeoutError`).
`/metrics` counts a stream when it ends: as 200, or as 500 when it failed after its first item
(uvicorn also logs "ASGI callable returned without completing response" for a cut raw body).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, MutableMapping
from typing import Any

from infra_chains.serving import remote_errors
from infra_chains.serving.streams import (
    DATA,
    END,
    ERROR,
    HEAD,
    STREAM_CONTENT_TYPE,
    RemoteStream,
    frame,
)

logger = logging.getLogger(__name__)

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]

_STREAM_CT = STREAM_CONTENT_TYPE.encode()
_RAW_CT = {str: b"text/plain; charset=utf-8", bytes: b"application/octet-stream"}
#: The framed content type names the items' type, for callers without the endpoint's signature.
_FRAMED_CT = {str: _STREAM_CT + b"; item=str", bytes: _STREAM_CT + b"; item=bytes"}
_END_FRAME = HEAD.pack(END, 0)


def wants_frames(accept: bytes) -> bool:
    """Whether an ``Accept`` header asks for the framed stream."""
    return _STREAM_CT in accept


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
        content_type = (_FRAMED_CT if framed else _RAW_CT)[outgoing.item_type]
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
    pack = HEAD.pack
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
    return HEAD.pack(DATA, len(data)) + data


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
