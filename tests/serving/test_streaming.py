"""Streaming run_remote over HTTP: chunked answers, the stub's stream, relays, errors, limits.

Chainlets in ``chains/streaming_chain.py``. Time to first item is shown by a handshake: `Words`
waits, after its first item, for a gate file that the test creates only once that item arrived.
"""

from __future__ import annotations

import asyncio
import pathlib
import re
import signal
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from infra_chains.errors import ChainsRuntimeError, DependencyUnreachableError
from infra_chains.framework.chainlet import definition_of
from infra_chains.public_types import RPCOptions, ServiceDescriptor
from infra_chains.serving import stream_sender, streams, transport
from infra_chains.serving.endpoint import EndpointCodec
from infra_chains.serving.httptools_transport import HttptoolsTransport
from infra_chains.serving.stub import make_chainlet_stub
from infra_chains.serving.testing import ChainletProcess

from .chains import streaming_chain
from .conftest import Serve

servers = pytest.mark.servers
T = TypeVar("T")
STREAM_ACCEPT = {"accept": streams.STREAM_CONTENT_TYPE}


# -- the framed wire format, against a fake body ---------------------------------------------------
class FakeBody(transport.BodyStream):
    """A streamed body that hands out given chunks (a fake of the transport's side)."""

    def __init__(self, chunks: list[bytes], content_type: str = streams.STREAM_CONTENT_TYPE) -> None:
        self.status = 200
        self.content_type = content_type
        self.chunks = list(chunks)
        self.closed = False

    async def next_chunk(self, timeout: float) -> bytes | None:
        return self.chunks.pop(0) if self.chunks else None

    def close(self) -> None:
        self.closed = True


def remote(chunks: list[bytes], item_type: type[str] | type[bytes] = str,
           **kwargs: str) -> tuple[streams.RemoteStream, FakeBody]:
    body = FakeBody(chunks, **kwargs)

    async def open_body() -> transport.BodyStream:
        return body

    return streams.RemoteStream(open_body, chainlet="Dep", url="http://dep/run_remote",
                                item_type=item_type, read_timeout=5), body


def frames(*items: bytes, end: bytes = streams.frame(streams.END, b"")) -> bytes:
    return b"".join(streams.frame(streams.DATA, item) for item in items) + end


async def collect(stream: AsyncIterator[object]) -> list[object]:
    return [item async for item in stream]


def test_items_keep_their_boundaries_however_the_bytes_are_split() -> None:
    wire = frames("é-1".encode(), b"two", b"")
    for cut in range(1, len(wire)):
        stream, body = remote([wire[:cut], wire[cut:]])
        assert asyncio.run(collect(stream)) == ["é-1", "two", ""]
        assert body.closed


def test_an_error_frame_is_raised_after_the_items_before_it() -> None:
    error = b'{"error":{"remote_name":"Dep","exception_cls_name":"KeyError","exception_module_name":"builtins","exception_message":"\'k\'","status_code":500}}'
    stream, _ = remote([frames(b"a", end=streams.frame(streams.ERROR, error))])

    async def run() -> list[object]:
        got: list[object] = []
        with pytest.raises(KeyError, match="k"):
            async for item in stream:
                got.append(item)
        return got

    assert asyncio.run(run()) == ["a"]


def test_a_stream_cut_off_without_its_end_mark_is_an_error_not_a_short_stream() -> None:
    stream, _ = remote([frames(b"a", end=b"")])
    with pytest.raises(DependencyUnreachableError, match="ended without its end mark"):
        asyncio.run(collect(stream))


def test_an_answer_that_is_not_a_stream_is_refused() -> None:
    stream, body = remote([b"{}"], content_type="application/json")
    with pytest.raises(DependencyUnreachableError, match="not a stream"):
        asyncio.run(collect(stream))
    assert body.closed


def test_a_relay_passes_complete_frames_only() -> None:
    wire = frames(b"abc", b"", b"defg" * 10, b"h")
    for first in range(1, len(wire) - 1):
        for second in (first + 1, (first + len(wire)) // 2, len(wire) - 1):
            if second <= first:
                continue
            stream, _ = remote([wire[:first], wire[first:second], wire[second:]], item_type=bytes)

            async def run(stream: streams.RemoteStream = stream) -> list[bytes]:
                return [chunk async for chunk in stream.frames()]

            chunks = asyncio.run(run())
            assert b"".join(chunks) == wire
            for chunk in chunks:  # whole frames only: a relay can append its own error frame
                position = 0
                while position < len(chunk):
                    position += 5 + int.from_bytes(chunk[position + 1:position + 5], "big")
                assert position == len(chunk)


def test_a_relay_passes_on_everything_that_arrived_in_one_large_chunk() -> None:
    wire = frames(*[bytes(300 * 1024)] * 5)  # 1.5 MiB and the end mark in one chunk
    stream, _ = remote([wire], item_type=bytes)

    async def run() -> list[bytes]:
        return [chunk async for chunk in stream.frames()]

    assert b"".join(asyncio.run(run())) == wire


def test_a_relay_to_a_raw_caller_joins_the_items_of_each_chunk() -> None:
    error = b'{"error":{"remote_name":"Dep","exception_cls_name":"ValueError","exception_module_name":"builtins","exception_message":"late","status_code":500}}'
    wire = frames(b"ab", b"c", b"de", end=streams.frame(streams.ERROR, error))
    stream, _ = remote([wire[:12], wire[12:]], item_type=bytes)
    got: list[bytes] = []

    async def run() -> None:
        async for chunk in stream.data():
            got.append(chunk)

    with pytest.raises(ValueError, match="late"):
        asyncio.run(run())
    assert b"".join(got) == b"abcde" and len(got) < 3  # fewer sends than items


def test_a_sync_caller_gets_a_clear_error_for_a_stream() -> None:
    descriptor = ServiceDescriptor(name="Words", predict_url="http://127.0.0.1:9/run_remote")
    stub = make_chainlet_stub(definition_of(streaming_chain.Words), descriptor, caller_is_async=False)
    with pytest.raises(ChainsRuntimeError, match="async def run_remote"):
        stub.run_remote(3)  # type: ignore[attr-defined]


class FakeASGI:
    """The server's side of `streams.send_stream`: records each message sent."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.caller_left = asyncio.Event()

    async def send(self, message: Any) -> None:
        self.messages.append(dict(message))

    async def receive(self) -> Any:
        await self.caller_left.wait()
        return {"type": "http.disconnect"}

    @property
    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.messages if m["type"] == "http.response.body"]


def send_raw(source: AsyncIterator[bytes],
             asgi: FakeASGI) -> Coroutine[Any, Any, tuple[int, str | None]]:
    outgoing = stream_sender.Outgoing(source, bytes, lambda: None)
    return stream_sender.send_stream(asgi.send, asgi.receive, outgoing, framed=False, headers=[],
                                     chainlet="P")


def test_items_made_without_waiting_share_a_send_and_go_out_before_a_wait() -> None:
    asgi = FakeASGI()
    waiting = asyncio.Event()
    closed: list[bool] = []

    async def producer() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            yield b"a"
            yield b"b"
            waiting.set()
            await asyncio.Event().wait()  # forever: only the caller leaving ends this stream
            yield b"never"
        finally:
            closed.append(True)

    async def run() -> tuple[int, str | None]:
        task = asyncio.ensure_future(send_raw(producer(), asgi))
        await waiting.wait()
        await asyncio.sleep(0)
        assert asgi.bodies == [b"first", b"ab"]  # sent before the producer's wait, together
        asgi.caller_left.set()
        return await task

    assert asyncio.run(run()) == (0, None)
    assert closed == [True]  # the producer was stopped where it waited, its `finally` ran


def test_a_producer_error_comes_after_the_items_before_it() -> None:
    asgi = FakeASGI()

    async def producer() -> AsyncIterator[bytes]:
        yield b"first"
        await asyncio.sleep(0)
        yield b"x"
        yield b"y"
        raise KeyError("late")

    status, summary = asyncio.run(send_raw(producer(), asgi))
    assert status == 500 and summary is not None and "KeyError" in summary
    assert b"".join(asgi.bodies) == b"firstxy"
    assert asgi.messages[-1]["more_body"] is True  # raw: the body is cut, never completed


def test_openapi_describes_a_stream() -> None:
    document = EndpointCodec(definition_of(streaming_chain.Words)).openapi("t")
    answer = document["paths"]["/run_remote"]["post"]["responses"]["200"]
    assert set(answer["content"]) == {"text/plain", streams.STREAM_CONTENT_TYPE}
    assert "stream" in answer["description"]


# -- real servers -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chain(serve_module: Serve) -> dict[str, ChainletProcess]:
    words = serve_module("streaming_chain:Words", name="Words")
    failing = serve_module("streaming_chain:Failing", name="Failing")
    blob = serve_module("streaming_chain:Blob", name="Blob")
    typed = serve_module("streaming_chain:Typed", name="Typed")
    blob_relay = serve_module("streaming_chain:BlobRelay", name="BlobRelay",
                              dependencies={"Blob": blob.url})
    return {
        "Words": words, "Failing": failing, "Blob": blob, "BlobRelay": blob_relay,
        "WordsRelay": serve_module("streaming_chain:WordsRelay", name="WordsRelay",
                                   dependencies={"Words": words.url}),
        "Upper": serve_module("streaming_chain:Upper", name="Upper", dependencies={"Words": words.url}),
        "FailingRelay": serve_module("streaming_chain:FailingRelay", name="FailingRelay",
                                     dependencies={"Failing": failing.url}),
        "TypedConsumer": serve_module("streaming_chain:TypedConsumer", name="TypedConsumer",
                                      dependencies={"Typed": typed.url}),
        "BlobCounter": serve_module("streaming_chain:BlobCounter", name="BlobCounter",
                                    dependencies={"BlobRelay": blob_relay.url}),
    }


@pytest.fixture
def gate(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    path = tmp_path / "gate"
    yield path
    path.touch()  # never leave a producer waiting


def stub_to(process: ChainletProcess, cls: type[object],
            client: transport.AsyncTransport) -> object:
    descriptor = ServiceDescriptor(name=process.contract.chainlet_name,
                                   predict_url=process.predict_url, options=RPCOptions(retries=1))
    return make_chainlet_stub(definition_of(cls), descriptor, caller_is_async=True,
                              async_transport=client)


def run_closing(client: transport.AsyncTransport, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine``, then close ``client``'s connections on the same loop."""
    async def main() -> T:
        try:
            return await coroutine
        finally:
            await client.aclose()

    return asyncio.run(main())


@servers
@pytest.mark.parametrize("entry", ["Words", "WordsRelay", "Upper"])
def test_first_item_reaches_an_http_caller_while_the_producer_still_runs(
    chain: dict[str, ChainletProcess], entry: str, gate: pathlib.Path,
) -> None:
    with httpx.stream("POST", chain[entry].predict_url, json={"count": 3, "gate": str(gate)},
                      timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        assert response.headers["content-type"].startswith("text/plain")
        chunks = response.iter_text()
        first = next(chunks)
        assert first.lower() == "w0 "
        gate.touch()  # the producer is still waiting for this: it had not finished
        rest = "".join(chunks)
    assert (first + rest).lower() == "w0 released w1 w2 "


STREAMING_TRANSPORTS = {"httptools": HttptoolsTransport, "aiohttp": transport.AiohttpTransport}


@servers
@pytest.mark.parametrize("entry", ["Words", "WordsRelay"])
@pytest.mark.parametrize("client_name", sorted(STREAMING_TRANSPORTS))
def test_first_item_reaches_a_stub_while_the_producer_still_runs(
    chain: dict[str, ChainletProcess], entry: str, gate: pathlib.Path, client_name: str,
) -> None:
    client = STREAMING_TRANSPORTS[client_name]()
    stub = stub_to(chain[entry], streaming_chain.WordsRelay if entry == "WordsRelay" else
                   streaming_chain.Words, client)

    async def run() -> list[str]:
        stream = stub.run_remote(3, str(gate))  # type: ignore[attr-defined]
        first = await stream.__anext__()
        gate.touch()
        return [first, *[item async for item in stream]]

    assert run_closing(client, run()) == ["w0 ", "released ", "w1 ", "w2 "]


@servers
@pytest.mark.parametrize("entry", ["Failing", "FailingRelay"])
@pytest.mark.parametrize("client_name", ["aiohttp", "httptools", "httpx"])
def test_an_error_mid_stream_reaches_the_stub_as_the_remote_exception(
    chain: dict[str, ChainletProcess], entry: str, client_name: str,
) -> None:
    # httpx cannot stream here: its transport reads the whole body first (the fallback).
    client = {**STREAMING_TRANSPORTS, "httpx": transport.HttpxTransport}[client_name]()
    stub = stub_to(chain[entry], streaming_chain.Failing if entry == "Failing" else
                   streaming_chain.FailingRelay, client)
    got: list[str] = []

    async def run() -> None:
        async for item in stub.run_remote(2):  # type: ignore[attr-defined]
            got.append(item)

    with pytest.raises(ValueError, match="producer failed after 2 items") as error:
        run_closing(client, run())
    assert got == ["item0 ", "item1 "]
    assert "Failing" in str(error.value)  # the remote chainlet is named, with its traceback


@servers
def test_a_producer_that_stalls_past_streaming_read_timeout_is_stopped(
    serve: Serve, gate: pathlib.Path,
) -> None:
    stalls = serve("streaming_chain:Stalls", name="Stalls")
    client = HttptoolsTransport()
    stub = stub_to(stalls, streaming_chain.Stalls, client)
    got: list[str] = []

    async def run() -> None:
        async for item in stub.run_remote(str(gate)):  # type: ignore[attr-defined]
            got.append(item)

    with pytest.raises(TimeoutError, match="streaming_read_timeout"):
        run_closing(client, run())
    assert got == ["first "]


@servers
def test_an_error_mid_stream_cuts_a_plain_http_callers_body(chain: dict[str, ChainletProcess]) -> None:
    with httpx.stream("POST", chain["FailingRelay"].predict_url, json={"fail_after": 2}) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()


@servers
def test_an_error_before_the_first_item_is_an_ordinary_error_response(
    chain: dict[str, ChainletProcess],
) -> None:
    response = httpx.post(chain["FailingRelay"].predict_url, json={"fail_after": 0}, timeout=10)
    assert response.status_code == 500
    assert "producer failed after 0 items" in response.json()["error"]["exception_message"]
    bad = httpx.post(chain["Words"].predict_url, json={"count": "many"}, timeout=10)
    assert bad.status_code == 422  # arguments are validated before anything streams


@servers
def test_typed_items_with_header_and_footer_through_a_stub(chain: dict[str, ChainletProcess]) -> None:
    response = httpx.post(chain["TypedConsumer"].predict_url, json={"count": 3}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "header": {"title": "numbers"},
        "chunks": [{"index": i, "words": [str(i)] * (i + 1)} for i in range(3)],
        "footer": {"count": 3},
    }


@servers
def test_bytes_through_a_relay_and_a_stub(chain: dict[str, ChainletProcess]) -> None:
    size = 3 * 1024 * 1024 + 7
    response = httpx.post(chain["BlobCounter"].predict_url, json={"size": size}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == size
    with httpx.stream("POST", chain["BlobRelay"].predict_url, json={"size": 1000, "chunk": 64}) as raw:
        assert raw.headers["content-type"] == "application/octet-stream"
        assert len(raw.read()) == 1000


def _rss_kib(process: ChainletProcess) -> int:
    assert process.process is not None
    status = pathlib.Path(f"/proc/{process.process.pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match is not None
    return int(match.group(1))


@servers
def test_memory_of_a_relay_stays_flat_for_a_100_mb_stream(chain: dict[str, ChainletProcess]) -> None:
    relay = chain["BlobRelay"]
    size = 100 * 1024 * 1024
    with httpx.stream("POST", relay.predict_url, json={"size": 1024 * 1024}, timeout=60) as warm:
        warm.read()  # first use: imports, pools, buffers
    before = _rss_kib(relay)
    received = 0
    peak = before
    with httpx.stream("POST", relay.predict_url, json={"size": size}, headers=STREAM_ACCEPT,
                      timeout=60) as response:
        for count, chunk in enumerate(response.iter_raw()):
            received += len(chunk)
            if count % 64 == 0:
                peak = max(peak, _rss_kib(relay))
            if count == 100:  # a stalled reader: without back-pressure the relay would buffer
                for _ in range(20):
                    time.sleep(0.05)
                    peak = max(peak, _rss_kib(relay))
    assert received > size  # the items and their frame heads
    growth_mib = (max(peak, _rss_kib(relay)) - before) / 1024
    assert growth_mib < 32, f"relay RSS grew {growth_mib:.1f} MiB for a 100 MiB stream"


@servers
def test_a_stream_dropped_by_its_reader_stops_the_producer(
    chain: dict[str, ChainletProcess], gate: pathlib.Path,
) -> None:
    words = chain["Words"]
    client = HttptoolsTransport()
    stub = stub_to(words, streaming_chain.Words, client)

    async def run() -> None:
        async for _ in stub.run_remote(3, str(gate)):  # type: ignore[attr-defined]
            break  # leaves the stream unread, without aclose(): dropping it must close it
        for _ in range(500):
            if _in_flight(words) == 0:
                return
            await asyncio.sleep(0.01)
        pytest.fail("the producer kept running after its reader dropped the stream")

    run_closing(client, run())


def _in_flight(process: ChainletProcess) -> int:
    _, metrics = process.get("/metrics")
    match = re.search(rb"infra_chains_in_flight_requests\{[^}]*\} (\d+)", metrics)
    assert match is not None
    return int(match.group(1))


@servers
def test_a_stream_counts_as_in_flight_until_it_ends(
    chain: dict[str, ChainletProcess], gate: pathlib.Path,
) -> None:
    words = chain["Words"]

    def in_flight() -> int:
        _, metrics = words.get("/metrics")
        match = re.search(rb'infra_chains_in_flight_requests\{[^}]*\} (\d+)', metrics)
        assert match is not None
        return int(match.group(1))

    with httpx.stream("POST", words.predict_url, json={"count": 2, "gate": str(gate)}) as response:
        chunks = response.iter_raw()
        next(chunks)
        assert in_flight() == 1
        gate.touch()
        b"".join(chunks)
    assert in_flight() == 0


@servers
def test_a_caller_that_goes_away_stops_the_stream(
    chain: dict[str, ChainletProcess], gate: pathlib.Path,
) -> None:
    words = chain["Words"]
    with httpx.stream("POST", words.predict_url, json={"count": 2, "gate": str(gate)}) as response:
        next(response.iter_raw())
    # The producer waits for a gate nobody opens; the disconnect must end it and free its slot.
    for _ in range(500):
        _, metrics = words.get("/metrics")
        if re.search(rb"infra_chains_in_flight_requests\{[^}]*\} 0", metrics):
            break
        asyncio.run(asyncio.sleep(0.01))
    else:
        pytest.fail("the stream kept running after its caller disconnected")


@servers
def test_graceful_shutdown_waits_for_a_running_stream(serve: Serve, gate: pathlib.Path) -> None:
    words = serve("streaming_chain:Words", name="Words", graceful_shutdown_sec=30)
    with httpx.stream("POST", words.predict_url, json={"count": 3, "gate": str(gate)},
                      timeout=60) as response:
        chunks = response.iter_text()
        first = next(chunks)
        assert words.process is not None
        words.process.send_signal(signal.SIGTERM)
        gate.touch()
        rest = "".join(chunks)
    assert first + rest == "w0 released w1 w2 "
    assert words.process.wait(30) == 0
