"""Start a chainlet server in a subprocess, exactly as a target does, for tests and benchmarks.

The interface is the real one: ``python -m infra_chains.serve`` with ``INFRA_CHAINS_RUNTIME``
pointing at a contract file. The process runs in its own process group and is always stopped
(SIGTERM, then SIGKILL of the group) when the context exits.
"""

from __future__ import annotations

import http.client
import os
import pathlib
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from infra_chains.public_types import RPCOptions, ServiceDescriptor
from infra_chains.serving import probe
from infra_chains.serving.contract import CONTRACT_FILE_ENV, RuntimeContract


def free_port() -> int:
    """A loopback port that was free a moment ago, outside the ephemeral range (so no outgoing
    connection takes it before the server binds; only a program asking for it by number can)."""
    from infra_chains.targets.ports import choose_ports  # the deploy side; tests only

    return choose_ports(1)[0]


def make_contract(
    import_path: str,
    workspace_dir: pathlib.Path | str,
    *,
    name: str | None = None,
    dependencies: Mapping[str, str] | None = None,
    options: Mapping[str, RPCOptions] | None = None,
    port: int | None = None,
    **fields: Any,
) -> RuntimeContract:
    """A contract for ``import_path``; ``dependencies`` maps dependency names to base URLs."""
    services = {
        dep: ServiceDescriptor(
            name=dep, predict_url=url.rstrip("/") + "/run_remote",
            options=(options or {}).get(dep, RPCOptions()),
        )
        for dep, url in (dependencies or {}).items()
    }
    return RuntimeContract(
        chain_name=fields.pop("chain_name", "test-chain"),
        chainlet_name=name or import_path.rpartition(":")[2],
        import_path=import_path,
        workspace_dir=pathlib.Path(workspace_dir),
        chainlet_to_service=services,
        port=free_port() if port is None else port,
        **fields,
    )


class ChainletProcess:
    """One ``python -m infra_chains.serve`` process; a context manager that always stops it.

    Readiness proves identity, as for every target: the contract gets a fresh ``instance_id``
    (unless it has one) and only a server echoing it counts as ready.
    """

    def __init__(
        self,
        contract: RuntimeContract,
        *,
        env: Mapping[str, str] | None = None,
        ready_timeout_sec: float = 20.0,
        wait_ready: bool = True,
    ) -> None:
        if contract.instance_id is None:
            contract = contract.model_copy(update={"instance_id": secrets.token_hex(8)})
        self.contract = contract
        self.env = dict(env or {})
        self.ready_timeout_sec = ready_timeout_sec
        self.wait_for_ready = wait_ready
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix=f"chainlet-{contract.chainlet_name}-")
        self.log_path = pathlib.Path(self._dir.name) / "server.log"

    @property
    def url(self) -> str:
        return f"http://{self.contract.host}:{self.contract.port}"

    @property
    def predict_url(self) -> str:
        return f"{self.url}/run_remote"

    def start(self) -> None:
        contract_file = pathlib.Path(self._dir.name) / "contract.json"
        self.contract.write(contract_file)
        env = {**os.environ, CONTRACT_FILE_ENV: str(contract_file), "PYTHONUNBUFFERED": "1", **self.env}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "infra_chains.serve"], env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        if self.wait_for_ready:
            self.wait_ready()

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        """``GET path`` on a fresh connection: (status, body)."""
        connection = http.client.HTTPConnection(self.contract.host, self.contract.port, timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, path: str = probe.READY_PATH) -> None:
        """Probe ``path`` until this process answers 200; raise with the log tail otherwise."""
        readiness = probe.wait_ready(
            self.contract.host, self.contract.port, path=path, timeout_sec=self.ready_timeout_sec,
            instance_id=self.contract.instance_id, is_alive=self.alive,
        )
        if readiness.ready:
            return
        where = f"chainlet {self.contract.chainlet_name} at {self.url}{path}"
        if readiness.outcome == "exited":
            code = self.process.returncode if self.process is not None else None
            raise RuntimeError(f"{where} {readiness.describe()}; exit code {code}; "
                               f"log:\n{self.logs()}")
        raise TimeoutError(f"{where} {readiness.describe()}; log:\n{self.logs()}")

    def terminate(self) -> None:
        """Send SIGTERM (graceful shutdown) without waiting."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def stop(self, timeout_sec: float = 10.0) -> int | None:
        """SIGTERM the process group, wait, then SIGKILL; the exit code (None if never started)."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout_sec)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
            except ProcessLookupError:
                process.wait(5)
        return process.returncode

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self._dir.cleanup()
