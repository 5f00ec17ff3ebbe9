"""``depends(..., use_binary=, concurrency_limit=)`` reach the deployed stub: through the plan and
the runtime contract to `make_chainlet_stub`, then on the wire (a fake dependency server)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

import infra_chains as chains
from infra_chains.framework.chainlet import definition_of
from infra_chains.framework.graph import build_graph
from infra_chains.public_types import ServiceDescriptor
from infra_chains.serving import codec
from infra_chains.serving.stub import make_chainlet_stub


class Dep(chains.ChainletBase):
    def run_remote(self, n: int) -> int:
        return n


class Caller(chains.ChainletBase):
    def __init__(self, dep: Dep = chains.depends(Dep, use_binary=True, concurrency_limit=2)) -> None:
        self.dep = dep

    def run_remote(self, n: int) -> int:
        return self.dep.run_remote(n)


class _Recorder:
    """A dependency server that records content types and the most calls it held at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.content_types: list[str] = []
        self.release = threading.Event()
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                content_type = self.headers["Content-Type"]
                with recorder.lock:
                    recorder.content_types.append(content_type)
                    recorder.in_flight += 1
                    recorder.most_in_flight = max(recorder.most_in_flight, recorder.in_flight)
                # Hold every call until the test lets go: with no limit, all would be held here.
                recorder.release.wait(10)
                with recorder.lock:
                    recorder.in_flight -= 1
                n = codec.decode(body, codec.is_msgpack(content_type))["n"]
                answer = json.dumps(n).encode()
                self.send_response(200)
                self.send_header("Content-Type", codec.JSON_CONTENT_TYPE)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/run_remote"


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    recorder = _Recorder()
    thread = threading.Thread(target=recorder.server.serve_forever, daemon=True)
    thread.start()
    yield recorder
    recorder.release.set()
    recorder.server.shutdown()
    recorder.server.server_close()


def test_the_options_of_depends_are_the_edges_options() -> None:
    graph = build_graph(Caller)
    (edge,) = graph.entrypoint.dependencies
    assert edge.options.use_binary is True
    assert edge.options.concurrency_limit == 2


def test_the_stub_sends_msgpack_and_holds_at_most_concurrency_limit_calls(recorder: _Recorder) -> None:
    (edge,) = definition_of(Caller).dependencies
    descriptor = ServiceDescriptor(name="Dep", predict_url=recorder.url, options=edge.options)
    stub = make_chainlet_stub(definition_of(Dep), descriptor, caller_is_async=False, caller="Caller")
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(stub.run_remote, n=i) for i in range(6)]
        # Wait until the server holds as many calls as the stub lets through, then a moment for
        # any call beyond the limit to show up (it would, in the server, without the limit).
        deadline = threading.Event()
        for _ in range(200):
            with recorder.lock:
                if recorder.in_flight >= 2:
                    break
            deadline.wait(0.01)
        deadline.wait(0.2)
        with recorder.lock:
            held = recorder.in_flight
        recorder.release.set()
        results = [f.result(timeout=10) for f in futures]
    assert held == 2
    assert recorder.most_in_flight == 2
    assert results == list(range(6))
    assert set(recorder.content_types) == {codec.MSGPACK_CONTENT_TYPE}
