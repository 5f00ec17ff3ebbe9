"""The probe helper against a tiny fake server (http.server in a thread): identity, status,
timeouts, and `wait_ready`'s three outcomes."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from infra_chains.serving.probe import INSTANCE_HEADER, ProbePolicy, probe, wait_ready


class FakeChainlet:
    """Answers /readyz with ``status`` and echoes ``instance`` (None: no identity header)."""

    def __init__(self) -> None:
        self.status = 200
        self.instance: str | None = "abc"
        self.hang = threading.Event()
        self.release = threading.Event()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if fake.hang.is_set():
                    fake.release.wait(5.0)  # hold the connection without answering
                    return
                self.send_response(fake.status)
                if fake.instance is not None:
                    self.send_header(INSTANCE_HEADER, fake.instance)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeChainlet]:
    server = FakeChainlet()
    server.thread.start()
    yield server
    server.close()


def test_ready_with_matching_identity(fake: FakeChainlet) -> None:
    assert probe("127.0.0.1", fake.port, instance_id="abc").ok
    assert probe("127.0.0.1", fake.port).ok  # no identity asked for


def test_another_instance_is_not_ready(fake: FakeChainlet) -> None:
    result = probe("127.0.0.1", fake.port, instance_id="xyz")
    assert not result.ok and "instance 'abc'" in result.detail and "'xyz'" in result.detail


def test_an_impostor_without_identity_is_not_ready(fake: FakeChainlet) -> None:
    fake.instance = None
    result = probe("127.0.0.1", fake.port, instance_id="abc")
    assert not result.ok and "not an infra_chains chainlet" in result.detail


def test_not_200_is_not_ready(fake: FakeChainlet) -> None:
    fake.status = 503
    result = probe("127.0.0.1", fake.port, instance_id="abc")
    assert not result.ok and result.status == 503 and "HTTP 503" in result.detail


def test_refused_and_timeout_are_named(fake: FakeChainlet) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    assert "connection refused" in probe("127.0.0.1", closed_port).detail
    fake.hang.set()
    result = probe("127.0.0.1", fake.port, timeout_sec=0.2)
    assert not result.ok and "no answer" in result.detail


def test_wait_ready_outcomes(fake: FakeChainlet) -> None:
    assert wait_ready("127.0.0.1", fake.port, timeout_sec=5, instance_id="abc").ready
    fake.status = 503
    late = wait_ready("127.0.0.1", fake.port, timeout_sec=0.2, instance_id="abc")
    assert late.outcome == "timeout" and "HTTP 503" in late.describe()
    gone = wait_ready("127.0.0.1", fake.port, timeout_sec=5, is_alive=lambda: False)
    assert gone.outcome == "exited" and "exited before it was ready" in gone.describe()


def test_wait_ready_sees_a_server_become_ready(fake: FakeChainlet) -> None:
    fake.status = 503
    calls = 0

    def alive() -> bool:
        nonlocal calls
        calls += 1
        if calls == 3:
            fake.status = 200
        return True

    result = wait_ready("127.0.0.1", fake.port, timeout_sec=10, instance_id="abc", is_alive=alive,
                        interval_sec=0.001)
    assert result.ready and calls >= 3


def test_probe_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        ProbePolicy(period_sec=1, timeout_sec=1, failure_threshold=0)
