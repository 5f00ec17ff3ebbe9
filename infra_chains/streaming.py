"""Typed streams: pydantic items, with an optional header and footer, over a ``bytes`` stream.

A streaming ``run_remote`` yields ``str`` or ``bytes`` (truss-chains' rule). To stream structured
data, the producer yields the bytes a `stream_writer` makes and the consumer parses the byte
stream it receives with a `stream_reader`::

    TYPES = streaming.stream_types(Chunk, header_type=Header, footer_type=Footer)

    async def run_remote(self) -> AsyncIterator[bytes]:          # producer
        writer = streaming.stream_writer(TYPES)
        yield writer.yield_header(Header(...))
        for chunk in chunks:
            yield writer.yield_item(chunk)
        yield writer.yield_footer(Footer(...))

    reader = streaming.stream_reader(TYPES, self._producer.run_remote())   # consumer
    header = await reader.read_header()
    async for chunk in reader.read_items(): ...
    footer = await reader.read_footer()

Framing (our own; each ``yield_*`` returns one whole record, and the reader does not care how the
transport splits or joins them)::

    +------+----------------------+------------------------------+
    | kind | length (uint32, BE)  | payload: the model as JSON   |
    +------+----------------------+------------------------------+
      1 B          4 B                    ``length`` bytes
    kind: b"H" header, b"I" item, b"F" footer

A stream is ``[H] I* [F]``; the end of the byte stream ends it. Misuse on either side (a header
after an item, reading items while an unread header is next, a footer of a stream that has
none, ...) raises `StreamingError`, a `ValueError`, naming what to call instead.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar, overload

import pydantic

from infra_chains.errors import ChainsRuntimeError

__all__ = [
    "StreamReader",
    "StreamTypes",
    "StreamWriter",
    "StreamingError",
    "stream_reader",
    "stream_types",
    "stream_writer",
]

ItemT = TypeVar("ItemT", bound=pydantic.BaseModel)
HeaderT = TypeVar("HeaderT")  # a pydantic model type, or None when the stream has no header
FooterT = TypeVar("FooterT")
_M = TypeVar("_M", bound=pydantic.BaseModel)
_H = TypeVar("_H", bound=pydantic.BaseModel)
_F = TypeVar("_F", bound=pydantic.BaseModel)

_HEAD = struct.Struct(">cI")
HEADER, ITEM, FOOTER = b"H", b"I", b"F"
_NAMES = {HEADER: "header", ITEM: "item", FOOTER: "footer"}
#: Largest record a reader accepts: a corrupt length must not make it buffer gigabytes.
MAX_RECORD_BYTES = 256 * 1024 * 1024


class StreamingError(ChainsRuntimeError, ValueError):
    """A typed stream was written or read out of order, or its bytes are not a typed stream."""


@dataclasses.dataclass(frozen=True)
class StreamTypes(Generic[ItemT, HeaderT, FooterT]):
    """The item type of a stream and its optional header and footer types (see `stream_types`)."""

    item_type: type[ItemT]
    header_type: type[HeaderT] | None
    footer_type: type[FooterT] | None


@overload
def stream_types(item_type: type[_M], *, header_type: type[_H],
                 footer_type: type[_F]) -> StreamTypes[_M, _H, _F]: ...
@overload
def stream_types(item_type: type[_M], *, header_type: type[_H],
                 footer_type: None = None) -> StreamTypes[_M, _H, None]: ...
@overload
def stream_types(item_type: type[_M], *, header_type: None = None,
                 footer_type: type[_F]) -> StreamTypes[_M, None, _F]: ...
@overload
def stream_types(item_type: type[_M], *, header_type: None = None,
                 footer_type: None = None) -> StreamTypes[_M, None, None]: ...
def stream_types(item_type: Any, *, header_type: Any = None, footer_type: Any = None) -> Any:
    """Bundle a stream's item type with its optional header and footer types (pydantic models)."""
    for role, model in (("item_type", item_type), ("header_type", header_type),
                        ("footer_type", footer_type)):
        if model is None and role != "item_type":
            continue
        if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
            raise StreamingError(
                f"stream_types({role}=...) must be a pydantic model class, got {model!r}; for plain "
                "text or bytes, yield `str` or `bytes` from run_remote without a writer."
            )
    return StreamTypes(item_type, header_type, footer_type)


def _record(kind: bytes, model: pydantic.BaseModel) -> bytes:
    payload = model.__pydantic_serializer__.to_json(model)
    return _HEAD.pack(kind, len(payload)) + payload


class StreamWriter(Generic[ItemT, HeaderT, FooterT]):
    """Turns a header, items and a footer into the bytes a streaming ``run_remote`` yields."""

    def __init__(self, types: StreamTypes[ItemT, HeaderT, FooterT]) -> None:
        self.types = types
        self._last: bytes | None = None  # kind of the last record written

    def _check(self, kind: bytes, value: object, declared: type[Any] | None) -> None:
        name = _NAMES[kind]
        if declared is None:
            raise StreamingError(f"yield_{name}(): this stream has no {name}; declare one with "
                                 f"stream_types(..., {name}_type=YourModel).")
        if not isinstance(value, declared):
            raise StreamingError(f"yield_{name}() expects a {declared.__name__}, got "
                                 f"{type(value).__name__}.")
        if self._last == FOOTER:
            raise StreamingError(f"yield_{name}() after yield_footer(): the footer ends the stream.")
        if kind == HEADER and self._last is not None:
            raise StreamingError("yield_header() after other data: the header must come first.")

    def yield_header(self, header: HeaderT) -> bytes:
        """The first record of the stream (only if the types declare a header)."""
        self._check(HEADER, header, self.types.header_type)
        self._last = HEADER
        return _record(HEADER, header)  # type: ignore[arg-type]

    def yield_item(self, item: ItemT) -> bytes:
        """One item; any number of them, after the header and before the footer."""
        self._check(ITEM, item, self.types.item_type)
        self._last = ITEM
        return _record(ITEM, item)

    def yield_footer(self, footer: FooterT) -> bytes:
        """The last record of the stream (only if the types declare a footer)."""
        self._check(FOOTER, footer, self.types.footer_type)
        self._last = FOOTER
        return _record(FOOTER, footer)  # type: ignore[arg-type]


class StreamReader(Generic[ItemT, HeaderT, FooterT]):
    """Parses the byte stream of a `StreamWriter` back into models, validated by their types."""

    def __init__(self, types: StreamTypes[ItemT, HeaderT, FooterT],
                 stream: AsyncIterator[bytes]) -> None:
        self.types = types
        self._source = stream.__aiter__()
        self._buffer = bytearray()
        self._pending: tuple[bytes, bytes] | None = None  # a record read ahead, not yet consumed
        self._ended = False
        self._items_done = False

    async def _fill(self, size: int) -> bool:
        """Buffer at least ``size`` bytes; False at the end of the stream."""
        while len(self._buffer) < size:
            try:
                chunk = await self._source.__anext__()
            except StopAsyncIteration:
                return False
            if isinstance(chunk, str):
                raise StreamingError("stream_reader() got `str` chunks; it reads the `bytes` "
                                     "stream of a run_remote annotated `-> AsyncIterator[bytes]`.")
            self._buffer += chunk
        return True

    async def _peek(self) -> tuple[bytes, bytes] | None:
        """The next record (kind, payload) without consuming it; None at the end."""
        if self._pending is not None:
            return self._pending
        if self._ended:
            return None
        if not await self._fill(_HEAD.size):
            if self._buffer:
                raise StreamingError(f"the stream ended inside a record header "
                                     f"({len(self._buffer)} of {_HEAD.size} bytes).")
            self._ended = True
            return None
        kind, length = _HEAD.unpack_from(self._buffer)
        if kind not in _NAMES or length > MAX_RECORD_BYTES:
            raise StreamingError(f"not a typed stream: record kind {kind!r}, length {length}; was it "
                                 "written with stream_writer()?")
        if not await self._fill(_HEAD.size + length):
            raise StreamingError(f"the stream ended inside its {_NAMES[kind]} record "
                                 f"({len(self._buffer) - _HEAD.size} of {length} bytes).")
        payload = bytes(self._buffer[_HEAD.size:_HEAD.size + length])
        del self._buffer[:_HEAD.size + length]
        self._pending = (kind, payload)
        return self._pending

    def _take(self) -> None:
        self._pending = None

    async def read_header(self) -> HeaderT:
        """The header; call it first, before `read_items`."""
        header_type = self.types.header_type
        if header_type is None:
            raise StreamingError("read_header(): this stream has no header; declare one with "
                                 "stream_types(..., header_type=YourModel).")
        record = await self._peek()
        if record is None or record[0] != HEADER:
            found = "the end" if record is None else f"an {_NAMES[record[0]]}"
            raise StreamingError(f"Stream does not contain header (found {found} first); read "
                                 "it only from streams whose writer called yield_header().")
        self._take()
        return header_type.model_validate_json(record[1])  # type: ignore[attr-defined,no-any-return]

    async def read_items(self) -> AsyncIterator[ItemT]:
        """The items, until the footer or the end of the stream."""
        record = await self._peek()
        if record is not None and record[0] == HEADER:
            raise StreamingError("read_items() found a header that was not read: call "
                                 "read_header() first.")
        item_type = self.types.item_type
        while record is not None and record[0] == ITEM:
            self._take()
            yield item_type.model_validate_json(record[1])
            record = await self._peek()
        self._items_done = True

    async def read_footer(self) -> FooterT:
        """The footer; call it after `read_items` has run to its end."""
        footer_type = self.types.footer_type
        if footer_type is None:
            raise StreamingError("read_footer(): this stream has no footer; declare one with "
                                 "stream_types(..., footer_type=YourModel).")
        record = await self._peek()
        if record is not None and record[0] != FOOTER:
            hint = " call read_header() and read_items() first" if record[0] == HEADER else (
                " iterate read_items() to its end first")
            raise StreamingError(f"read_footer() found an unread {_NAMES[record[0]]}:{hint}.")
        if record is None:
            raise StreamingError("Stream does not contain footer: it ended without one (the "
                                 "writer did not call yield_footer()).")
        self._take()
        return footer_type.model_validate_json(record[1])  # type: ignore[attr-defined,no-any-return]


def stream_writer(types: StreamTypes[ItemT, HeaderT, FooterT]) -> StreamWriter[ItemT, HeaderT, FooterT]:
    """A writer for one stream of ``types`` (make one per stream: it checks the order)."""
    return StreamWriter(types)


def stream_reader(types: StreamTypes[ItemT, HeaderT, FooterT],
                  stream: AsyncIterator[bytes]) -> StreamReader[ItemT, HeaderT, FooterT]:
    """A reader of ``stream`` (e.g. ``dependency.run_remote(...)``, not awaited) as ``types``."""
    if not hasattr(stream, "__aiter__"):
        raise StreamingError(
            f"stream_reader() needs an async iterator of bytes, got {type(stream).__name__}; pass "
            "`dependency.run_remote(...)` itself (no `await`)."
        )
    return StreamReader(types, stream)
