"""`python -m infra_chains.serve`: a bad or missing contract is exit 2 with a clear paragraph;
sockets handed over by a target; identity."""

from __future__ import annotations

import concurrent.futures
import http.client
import http.server
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading

import httpx
import pytest

from infra_chains.serving.contract import CONTRACT_FILE_ENV, CONTRACT_JSON_ENV
from infra_chains.serving.probe import probe, wait_ready
from infra_chains.serving.testing import ChainletProcess, make_contract

from .conftest import WORKSPACE


def run_serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in (CONTRACT_FILE_ENV, CONTRACT_JSON_ENV)}
    return subprocess.run([sys.executable, "-m", "infra_chains.serve"], env={**clean, **env},
                          capture_output=True, text=True, timeout=30, check=False)


def contract(**fields: object) -> dict[str, object]:
    return {"chain_name": "c", "chainlet_name": "Leaf", "import_path": "text_chain:Leaf",
            "workspace_dir": str(WORKSPACE), "port": 0, **fields}


def test_missing_contract() -> None:
    result = run_serve({})
    assert result.returncode == 2
    assert CONTRACT_FILE_ENV in result.stderr and "Traceback" not in result.stderr


def test_unreadable_contract_file(tmp_path: pathlib.Path) -> None:
    result = run_serve({CONTRACT_FILE_ENV: str(tmp_path / "nope.json")})
    assert result.returncode == 2 and "nope.json" in result.stderr


def test_invalid_field_is_named() -> None:
    bad = contract(port=-1)
    del bad["chain_name"]
    result = run_serve({CONTRACT_JSON_ENV: json.dumps(bad)})
    assert result.returncode == 2
    assert "chain_name: Field required" in result.stderr and "port:" in result.stderr


def test_bad_import_path_names_module_and_workspace() -> None:
    result = run_serve({CONTRACT_JSON_ENV: json.dumps(contract(import_path="no_such_module:Leaf"))})
    assert result.returncode == 2
    assert "'no_such_module' not found" in result.stderr and str(WORKSPACE) in result.stderr


def test_missing_dependency_service_is_named() -> None:
    result = run_serve({CONTRACT_JSON_ENV: json.dumps(contract(import_path="text_chain:Mid", chainlet_name="Mid"))})
    assert result.returncode == 2
    assert "depends on 'Leaf'" in result.stderr and "chainlet_to_service" in result.stderr


def test_probe_fd_without_listen_fd_is_rejected() -> None:
    result = run_serve({CONTRACT_JSON_ENV: json.dumps(contract(probe_fd=3))})
    assert result.returncode == 2 and "probe_fd but not listen_fd" in result.stderr


# -- sockets a target owns, identity -----------------------------------------------------------

def listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def post(port: int, timeout: float = 10.0) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/run_remote", body=b"{}", headers={"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.mark.servers
def test_inherited_sockets_take_traffic_only_when_ready_and_keep_the_backlog_after_exit() -> None:
    traffic, probes = listening(), listening()
    traffic_port, probe_port = traffic.getsockname()[1], probes.getsockname()[1]
    document = contract(import_path="behaviour:SlowInit", chainlet_name="SlowInit",
                        port=traffic_port, instance_id="n0nce", listen_fd=traffic.fileno(),
                        probe_fd=probes.fileno())
    clean = {k: v for k, v in os.environ.items() if k not in (CONTRACT_FILE_ENV, CONTRACT_JSON_ENV)}
    process = subprocess.Popen(
        [sys.executable, "-m", "infra_chains.serve"], pass_fds=(traffic.fileno(), probes.fileno()),
        env={**clean, CONTRACT_JSON_ENV: json.dumps(document)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    probes.close()  # the private probe socket belongs to the process now
    try:
        alive = wait_ready("127.0.0.1", probe_port, path="/healthz", timeout_sec=20,
                           instance_id="n0nce", is_alive=lambda: process.poll() is None)
        assert alive.ready, alive.describe()
        # __init__ still runs (1.5 s): probes answer "initialising", traffic is not accepted yet,
        # so a request waits in the backlog and is answered once __init__ is done, never a 503.
        assert probe("127.0.0.1", probe_port, instance_id="n0nce").status == 503
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            early = pool.submit(post, traffic_port)
            assert early.result(timeout=20) == (200, '"initialised"')
        assert probe("127.0.0.1", probe_port, instance_id="n0nce").ok
        assert not probe("127.0.0.1", probe_port, instance_id="other").ok
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        # The owner's socket still listens: a client connects and waits for the next incarnation.
        with socket.create_connection(("127.0.0.1", traffic_port), timeout=2):
            pass
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        traffic.close()


@pytest.mark.servers
def test_an_impostor_on_the_port_is_never_ready(tmp_path: pathlib.Path) -> None:
    impostor = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    thread = threading.Thread(target=impostor.serve_forever, daemon=True)
    thread.start()
    try:
        port = int(impostor.server_address[1])
        chainlet = ChainletProcess(make_contract("text_chain:Leaf", WORKSPACE, name="Leaf", port=port),
                                   ready_timeout_sec=20)
        with pytest.raises(RuntimeError) as info:
            with chainlet:
                pass
        assert "not an infra_chains chainlet" in str(info.value)
        assert "exited before it was ready" in str(info.value)
    finally:
        impostor.shutdown()
        impostor.server_close()


class _Impostor(http.server.BaseHTTPRequestHandler):
    """Another program that took the chainlet's port and answers 200 to everything."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_missing_workspace_dir_is_named(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "gone"
    result = run_serve({CONTRACT_JSON_ENV: json.dumps(contract(workspace_dir=str(missing)))})
    assert result.returncode == 2
    assert str(missing) in result.stderr and "cannot be entered" in result.stderr


def test_a_chainlet_runs_in_its_workspace(tmp_path: pathlib.Path) -> None:
    # Started from elsewhere (the local supervisor runs in the chain's state dir), it moves to
    # its workspace, as an image's WORKDIR puts it there.
    with ChainletProcess(make_contract("behaviour:WorkingDir", WORKSPACE, name="WorkingDir")) as process:
        response = httpx.post(process.predict_url, json={}, timeout=10)
    assert response.status_code == 200 and response.json() == str(WORKSPACE)
