"""`chains.streaming`: typed items with a header and footer over a bytes stream.

The first tests follow truss-chains' own ``tests/test_streaming.py`` (same scenarios and the
messages its users match on); the rest pin the framing and the misuse errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pydantic
import pytest

from infra_chains import streaming


class Header(pydantic.BaseModel):
    time: float
    msg: str


class MyDataChunk(pydantic.BaseModel):
    words: list[str]


class Footer(pydantic.BaseModel):
    time: float
    duration_sec: float
    msg: str


HEADER = Header(time=123.456, msg="Start of stream")
ITEMS = [MyDataChunk(words=["hello", "world"]), MyDataChunk(words=["foo", "bar"]),
         MyDataChunk(words=["baz"])]
FOOTER = Footer(time=789.012, duration_sec=665.556, msg="End of stream")
FULL = streaming.stream_types(MyDataChunk, header_type=Header, footer_type=Footer)


async def as_stream(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)


def read_all(types: streaming.StreamTypes[Any, Any, Any], chunks: Iterable[bytes]) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        reader = streaming.stream_reader(types, as_stream(chunks))
        out: dict[str, Any] = {}
        if types.header_type is not None:
            out["header"] = await reader.read_header()
        out["items"] = [item async for item in reader.read_items()]
        if types.footer_type is not None:
            out["footer"] = await reader.read_footer()
        return out

    return asyncio.run(run())


def full_stream() -> list[bytes]:
    writer = streaming.stream_writer(FULL)
    return [writer.yield_header(HEADER), *[writer.yield_item(i) for i in ITEMS],
            writer.yield_footer(FOOTER)]


def test_header_items_and_footer_round_trip() -> None:
    assert read_all(FULL, full_stream()) == {"header": HEADER, "items": ITEMS, "footer": FOOTER}


def test_items_only() -> None:
    types = streaming.stream_types(MyDataChunk)
    writer = streaming.stream_writer(types)
    assert read_all(types, [writer.yield_item(i) for i in ITEMS]) == {"items": ITEMS}


def test_records_survive_any_split_of_the_bytes() -> None:
    wire = b"".join(full_stream())
    for size in (1, 2, 5, 7, 64):
        chunks = [wire[i:i + size] for i in range(0, len(wire), size)]
        assert read_all(FULL, chunks) == {"header": HEADER, "items": ITEMS, "footer": FOOTER}


def test_the_framing_is_kind_length_json() -> None:
    record = streaming.stream_writer(streaming.stream_types(MyDataChunk)).yield_item(ITEMS[2])
    payload = b'{"words":["baz"]}'
    assert record == b"I" + len(payload).to_bytes(4, "big") + payload


def test_reading_a_header_when_none_was_sent() -> None:
    types = streaming.stream_types(MyDataChunk, header_type=Header)
    writer = streaming.stream_writer(types)

    async def run() -> None:
        reader = streaming.stream_reader(types, as_stream([writer.yield_item(ITEMS[0])]))
        await reader.read_header()

    with pytest.raises(ValueError, match="Stream does not contain header"):
        asyncio.run(run())


def test_items_of_the_wrong_model_fail_validation() -> None:
    writer = streaming.stream_writer(streaming.stream_types(MyDataChunk))
    with pytest.raises(pydantic.ValidationError):
        read_all(streaming.stream_types(Header), [writer.yield_item(ITEMS[0])])


def test_writer_refuses_a_header_after_items() -> None:
    writer = streaming.stream_writer(FULL)
    writer.yield_item(ITEMS[0])
    with pytest.raises(ValueError, match="header must come first"):
        writer.yield_header(HEADER)


def test_writer_refuses_anything_after_the_footer() -> None:
    writer = streaming.stream_writer(FULL)
    writer.yield_footer(FOOTER)
    with pytest.raises(streaming.StreamingError, match="after yield_footer"):
        writer.yield_item(ITEMS[0])


def test_writer_refuses_undeclared_parts_and_wrong_types() -> None:
    writer = streaming.stream_writer(streaming.stream_types(MyDataChunk))
    with pytest.raises(streaming.StreamingError, match="no header; declare one"):
        writer.yield_header(HEADER)
    with pytest.raises(streaming.StreamingError, match="expects a MyDataChunk, got Header"):
        writer.yield_item(HEADER)  # type: ignore[arg-type]


def test_reading_items_before_the_header_is_a_clear_error() -> None:
    async def run() -> None:
        reader = streaming.stream_reader(FULL, as_stream(full_stream()))
        async for _ in reader.read_items():
            pass

    with pytest.raises(streaming.StreamingError, match=r"call read_header\(\) first"):
        asyncio.run(run())


def test_reading_the_footer_before_the_items_is_a_clear_error() -> None:
    async def run() -> None:
        reader = streaming.stream_reader(FULL, as_stream(full_stream()))
        await reader.read_header()
        await reader.read_footer()

    with pytest.raises(streaming.StreamingError, match=r"unread item: iterate read_items\(\)"):
        asyncio.run(run())


def test_a_missing_footer_and_a_truncated_record_are_errors() -> None:
    writer = streaming.stream_writer(FULL)
    no_footer = [writer.yield_header(HEADER), writer.yield_item(ITEMS[0])]
    with pytest.raises(ValueError, match="Stream does not contain footer"):
        read_all(FULL, no_footer)
    with pytest.raises(streaming.StreamingError, match="ended inside its item record"):
        read_all(FULL, [no_footer[0], no_footer[1][:-1]])


def test_bytes_that_are_not_a_typed_stream_are_refused() -> None:
    with pytest.raises(streaming.StreamingError, match="not a typed stream"):
        read_all(streaming.stream_types(MyDataChunk), [b"hello world"])


def test_stream_types_take_pydantic_models_only() -> None:
    with pytest.raises(streaming.StreamingError, match="item_type=...\\) must be a pydantic model"):
        streaming.stream_types(str)  # type: ignore[type-var]
    with pytest.raises(streaming.StreamingError, match="footer_type"):
        streaming.stream_types(MyDataChunk, footer_type=dict)  # type: ignore[call-overload]


def test_a_reader_needs_the_stream_itself_not_a_coroutine() -> None:
    with pytest.raises(streaming.StreamingError, match="no `await`"):
        streaming.stream_reader(FULL, [b""])  # type: ignore[arg-type]
