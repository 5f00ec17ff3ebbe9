"""The chainlet app's guards with real servers: who may call (chain token, API key, Host), what
they may send (content type, size, memory budget, deadlines for slow clients), and 5xx logs."""

from __future__ import annotations

import http.client
import pathlib
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from infra_chains.public_types import RPCOptions
from infra_chains.serving.testing import ChainletProcess, free_port

from .conftest import Serve

pytestmark = pytest.mark.servers

TOKEN = "chain-token-sentinel-0123456789"
ITEM = {"item": {"text": "x"}}


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("secrets") / "chain-token"
    path.write_text(TOKEN)
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def guarded_chain(serve_module: Serve, token_file: pathlib.Path) -> Iterator[tuple[ChainletProcess, ChainletProcess]]:
    """Mid (the entrypoint here) -> Leaf, both with the chain token and the local Host list."""
    leaf_port, mid_port = free_port(), free_port()

    def hosts(port: int) -> list[str]:
        return [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"]

    leaf = serve_module("text_chain:Leaf", name="Leaf", port=leaf_port, chain_token_file=token_file,
                        allowed_hosts=hosts(leaf_port))
    mid = serve_module("text_chain:Mid", name="Mid", port=mid_port, entrypoint=True,
                       chain_token_file=token_file, allowed_hosts=hosts(mid_port),
                       dependencies={"Leaf": leaf.url})
    yield mid, leaf


def test_chainlet_behind_the_entrypoint_takes_calls_only_with_the_chain_token(
    guarded_chain: tuple[ChainletProcess, ChainletProcess],
) -> None:
    mid, leaf = guarded_chain
    missing = httpx.post(leaf.predict_url, json=ITEM)
    assert missing.status_code == 401
    assert "only from its chain" in missing.json()["error"]["exception_message"]
    wrong = httpx.post(leaf.predict_url, json=ITEM, headers={"X-Infra-Chains-Token": "guess"})
    assert wrong.status_code == 403
    right = httpx.post(leaf.predict_url, json=ITEM, headers={"X-Infra-Chains-Token": TOKEN})
    assert right.status_code == 200, right.text
    # The entrypoint needs no token, and its stub sends the token to Leaf.
    through = httpx.post(mid.predict_url, json=ITEM)
    assert through.status_code == 200, through.text
    assert through.json()["hops"] == ["leaf", "mid"]
    # Probes and metrics stay open.
    assert leaf.get("/healthz")[0] == 200 and leaf.get("/readyz")[0] == 200
    assert leaf.get("/metrics")[0] == 200
    assert TOKEN not in leaf.logs() and TOKEN not in mid.logs()


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None,
])
def test_other_content_types_are_415(guarded_chain: tuple[ChainletProcess, ChainletProcess],
                                     content_type: str | None) -> None:
    mid, _ = guarded_chain
    headers = {"Content-Type": content_type} if content_type else {}
    response = httpx.post(mid.predict_url, content=b'{"item": {"text": "x"}}', headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]["exception_message"]


def test_json_with_parameters_is_accepted(guarded_chain: tuple[ChainletProcess, ChainletProcess]) -> None:
    mid, _ = guarded_chain
    response = httpx.post(mid.predict_url, content=b'{"item": {"text": "x"}}',
                          headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert response.status_code == 200, response.text


def test_host_header_is_checked(guarded_chain: tuple[ChainletProcess, ChainletProcess]) -> None:
    """A page on evil.example that rebinds its name to 127.0.0.1 sends `Host: evil.example`."""
    mid, _ = guarded_chain
    port = mid.contract.port
    refused = httpx.post(mid.predict_url, json=ITEM, headers={"Host": f"evil.example:{port}"})
    assert refused.status_code == 400
    assert "allowed_hosts" in refused.json()["error"]["exception_message"]
    assert httpx.post(mid.predict_url, json=ITEM, headers={"Host": f"LOCALHOST:{port}"}).status_code == 200
    assert httpx.post(mid.predict_url, json=ITEM, headers={"Host": "localhost:1"}).status_code == 400
    assert mid.get("/readyz")[0] == 200  # probes carry whatever Host their network gives them


def test_entrypoint_can_require_an_api_key(serve: Serve, tmp_path: pathlib.Path) -> None:
    key_file = tmp_path / "api_key"
    key_file.write_text("key-123\n")
    leaf = serve("text_chain:Leaf", name="Leaf", entrypoint=True, api_key_file=key_file)
    missing = httpx.post(leaf.predict_url, json=ITEM)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Api-Key"
    wrong = httpx.post(leaf.predict_url, json=ITEM, headers={"Authorization": "Api-Key key-124"})
    assert wrong.status_code == 403 and "API key" in wrong.json()["error"]["exception_message"]
    right = httpx.post(leaf.predict_url, json=ITEM, headers={"Authorization": "Api-Key key-123"})
    assert right.status_code == 200, right.text


def test_post_to_an_unknown_path_is_404(guarded_chain: tuple[ChainletProcess, ChainletProcess]) -> None:
    mid, _ = guarded_chain
    assert httpx.post(f"{mid.url}/nope", json=ITEM).status_code == 404
    assert httpx.post(f"{mid.url}/healthz", json=ITEM).status_code == 405


def test_every_5xx_is_logged_once_with_request_id_and_summary(serve: Serve) -> None:
    leaf = serve("text_chain:Leaf", name="Leaf")
    payload = {"item": {"text": "payload-sentinel", "count": 424242}, "mode": "custom"}
    response = httpx.post(leaf.predict_url, json=payload, headers={"X-Request-ID": "rid-5xx-1"})
    assert response.status_code == 500
    assert httpx.post(leaf.predict_url, json=ITEM).status_code == 200
    lines = [line for line in leaf.logs().splitlines() if "rid-5xx-1" in line]
    assert len(lines) == 1, leaf.logs()
    assert "answered 500" in lines[0] and "LeafError: custom failure in leaf" in lines[0]
    assert "424242" not in leaf.logs()  # never the payload


def test_unreachable_dependency_is_logged_as_503(serve: Serve) -> None:
    mid = serve("text_chain:Mid", name="Mid", dependencies={"Leaf": f"http://127.0.0.1:{free_port()}"},
                options={"Leaf": RPCOptions(timeout_sec=0.3)})
    response = httpx.post(mid.predict_url, json=ITEM, headers={"X-Request-ID": "rid-503"})
    assert response.status_code == 503
    lines = _log_lines(mid, "rid-503")  # logged once the answer is on its way: wait for it
    assert len(lines) == 1 and "answered 503" in lines[0] and "DependencyUnreachableError" in lines[0]


def _log_lines(process: ChainletProcess, needle: str) -> list[str]:
    """The lines of ``process``'s log holding ``needle``, waiting (bounded) for the first."""
    for _ in range(100):
        lines = [line for line in process.logs().splitlines() if needle in line]
        if lines:
            return lines
        time.sleep(0.05)
    return []


# -- limits -----------------------------------------------------------------------------------
def _raw(process: ChainletProcess, data: bytes, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", process.contract.port), timeout=timeout)
    sock.sendall(data)
    return sock


def _head(process: ChainletProcess, length: int) -> bytes:
    return (f"POST /run_remote HTTP/1.1\r\nHost: 127.0.0.1:{process.contract.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode()


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (bounded by the socket's timeout)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _read_response(sock: socket.socket) -> bytes:
    """One whole response: its head, then as many body bytes as its Content-Length says (the
    body may come in a TCP segment of its own)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length and (chunk := sock.recv(65536)):
        body += chunk
    return head + b"\r\n\r\n" + body


def test_declared_length_over_the_limit_is_413_without_reading(serve: Serve) -> None:
    leaf = serve("text_chain:Leaf", name="Leaf", max_request_bytes=64 * 1024)
    with _raw(leaf, _head(leaf, 10 * 1024**3)) as sock:  # 10 GiB announced, nothing sent
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413")


def test_stalled_uploads_share_the_memory_budget(serve: Serve) -> None:
    mib = 1024 * 1024
    leaf = serve("text_chain:Leaf", name="Leaf", max_request_bytes=mib, request_memory_bytes=mib + mib // 2,
                 request_memory_wait_sec=0.2, body_timeout_sec=30)
    first = _raw(leaf, _head(leaf, mib) + b'{"item": ')  # holds 1 MiB of the 1.5 MiB budget
    try:
        # The server reads the two connections in its own order: wait until the first holds its
        # share (the gauge /metrics exports) before the second asks for one.
        for _ in range(200):
            if _body_bytes_reserved(leaf) >= mib:
                break
            time.sleep(0.01)
        assert _body_bytes_reserved(leaf) == mib
        with _raw(leaf, _head(leaf, mib) + b'{"item": ') as second:
            answer = _read_response(second)
        assert answer.startswith(b"HTTP/1.1 503")
        assert b"MemoryBudgetExhausted" in answer and b"retry-after" in answer.lower()
        # Small requests still fit beside the stalled upload.
        assert httpx.post(leaf.predict_url, json=ITEM).status_code == 200
    finally:
        first.close()
    # Once the stalled upload is gone, its share is free again.
    body = b'{"item": {"text": "' + b"y" * (mib - 100) + b'"}}'
    response = httpx.post(leaf.predict_url, content=body, headers={"Content-Type": "application/json"},
                          timeout=10)
    assert response.status_code == 200, response.text[:300]


def _body_bytes_reserved(process: ChainletProcess) -> int:
    text = httpx.get(f"http://127.0.0.1:{process.contract.port}/metrics").text
    line = next(l for l in text.splitlines() if l.startswith("infra_chains_request_body_bytes{"))
    return int(line.rsplit(" ", 1)[1])


def test_partial_headers_time_out_with_408(serve: Serve) -> None:
    leaf = serve("text_chain:Leaf", name="Leaf", header_timeout_sec=0.3)
    with _raw(leaf, b"POST /run_remote HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty") as sock:
        answer = _read_all(sock)  # the server closes it; the 5 s socket timeout bounds the test
    assert answer.startswith(b"HTTP/1.1 408")


def test_a_connection_that_sends_nothing_is_closed(serve: Serve) -> None:
    leaf = serve("text_chain:Leaf", name="Leaf", header_timeout_sec=0.3)
    with _raw(leaf, b"") as sock:
        assert _read_all(sock).startswith(b"HTTP/1.1 408")


def test_a_stalled_body_is_disconnected(serve: Serve) -> None:
    leaf = serve("text_chain:Leaf", name="Leaf", body_timeout_sec=0.3)
    with _raw(leaf, _head(leaf, 100) + b'{"item": ') as sock:
        assert _read_all(sock) == b""  # closed without an answer: there is no request to answer
    assert httpx.post(leaf.predict_url, json=ITEM).status_code == 200


def test_keep_alive_requests_are_not_cut_by_the_deadlines(serve: Serve) -> None:
    leaf = serve("text_chain:Leaf", name="Leaf", header_timeout_sec=0.3, body_timeout_sec=0.3)
    connection = http.client.HTTPConnection("127.0.0.1", leaf.contract.port, timeout=5)
    try:
        for _ in range(3):  # one connection: a closed one would raise RemoteDisconnected
            connection.request("POST", "/run_remote", b'{"item": {"text": "x"}}',
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            assert response.status == 200 and response.read()
            time.sleep(0.5)  # idle between requests is the keep-alive timer's business (15 s)
    finally:
        connection.close()
