"""The image's HEALTHCHECK script, against a fake chainlet (a tiny HTTP server) and standalone."""

from __future__ import annotations

import http.server
import json
import pathlib
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from infra_chains.build import healthcheck
from infra_chains.build.dockerfile import HEALTHCHECK_SCRIPT
from infra_chains.plan.runtime import PACKAGE_DIR
from infra_chains.serving import contract, probe

pytestmark = pytest.mark.servers


class FakeChainlet(http.server.BaseHTTPRequestHandler):
    status = 200
    instance: str | None = "nonce-1"

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_response(self.status if self.path == "/healthz" else 404)
        if self.instance is not None:
            self.send_header("x-infra-chains-instance", self.instance)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeChainlet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        FakeChainlet.status, FakeChainlet.instance = 200, "nonce-1"


def env(port: int, **fields: object) -> dict[str, str]:
    document = {"host": "127.0.0.1", "port": port, "instance_id": "nonce-1", **fields}
    return {"INFRA_CHAINS_RUNTIME_JSON": json.dumps(document)}


def test_names_match_the_runtimes() -> None:
    assert healthcheck.CONTRACT_JSON_ENV == contract.CONTRACT_JSON_ENV
    assert healthcheck.CONTRACT_FILE_ENV == contract.CONTRACT_FILE_ENV
    assert healthcheck.PROBE_FILE == pathlib.Path(probe.__file__).resolve()


def test_healthy_when_healthz_answers_200_with_the_contracts_instance(
    server: http.server.ThreadingHTTPServer,
) -> None:
    assert healthcheck.check(env(server.server_port)) == (True, "ok")


def test_a_listen_everywhere_host_is_probed_on_loopback(server: http.server.ThreadingHTTPServer) -> None:
    assert healthcheck.check(env(server.server_port, host="0.0.0.0"))[0]


def test_the_contract_may_come_as_a_file(
    server: http.server.ThreadingHTTPServer, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "contract.json"
    path.write_text(env(server.server_port)["INFRA_CHAINS_RUNTIME_JSON"])
    assert healthcheck.check({"INFRA_CHAINS_RUNTIME": str(path)})[0]


def test_another_instance_or_an_error_status_is_unhealthy(server: http.server.ThreadingHTTPServer) -> None:
    FakeChainlet.instance = "nonce-0"
    healthy, why = healthcheck.check(env(server.server_port))
    assert not healthy and "instance 'nonce-0', not by instance 'nonce-1'" in why
    FakeChainlet.instance, FakeChainlet.status = "nonce-1", 503
    port = server.server_port
    assert healthcheck.check(env(port)) == (False, f"127.0.0.1:{port}: GET /healthz answered HTTP 503")


def test_no_contract_or_no_server_is_unhealthy_with_a_reason(
    server: http.server.ThreadingHTTPServer,
) -> None:
    assert healthcheck.check({}) == (
        False, "cannot read the runtime contract: neither INFRA_CHAINS_RUNTIME_JSON nor "
        "INFRA_CHAINS_RUNTIME is set")
    port = server.server_port
    server.shutdown()
    server.server_close()
    healthy, why = healthcheck.check(env(port))
    assert (healthy, why) == (False, f"127.0.0.1:{port}: GET /healthz failed: connection refused")


def test_the_script_runs_by_path_in_isolated_mode_without_the_package(
    server: http.server.ThreadingHTTPServer, tmp_path: pathlib.Path
) -> None:
    """As the image runs it (`python -I <runtime>/infra_chains/build/healthcheck.py`), from a
    directory where no infra_chains package is importable, and it imports none."""
    script = PACKAGE_DIR.parent / HEALTHCHECK_SCRIPT
    probe_imports = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"
    ok = subprocess.run(
        [sys.executable, "-I", "-X", "importtime", "-c", probe_imports, str(script)],
        env=env(server.server_port), cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )
    assert (ok.returncode, ok.stdout) == (0, "ok\n"), ok.stderr
    assert "infra_chains" not in ok.stderr and "pydantic" not in ok.stderr
    FakeChainlet.status = 500
    bad = subprocess.run([sys.executable, "-I", str(script)], env=env(server.server_port),
                         cwd=tmp_path, capture_output=True, text=True, timeout=30)
    port = server.server_port
    assert (bad.returncode, bad.stdout) == (1, f"127.0.0.1:{port}: GET /healthz answered HTTP 500\n")
