"""The image's ``HEALTHCHECK``: ``GET /healthz`` on the port the runtime contract names.

The engine runs this beside the chainlet, with the container's environment, every few seconds,
so it is run by path with ``python -I`` and imports only the standard library: no
``infra_chains`` package import (pydantic and the public API would cost more than the probe), no
``curl`` in the image. It reads the contract the target gave the container
(``INFRA_CHAINS_RUNTIME_JSON``, or the file named by ``INFRA_CHAINS_RUNTIME``), probes
``/healthz`` with `infra_chains.serving.probe` (stdlib-only, loaded by its path beside this file,
so the one probe every target uses also requires the contract's incarnation to be echoed), and
exits 0 when healthy, 1 otherwise with one line on stdout saying why (Docker keeps it in
``docker inspect``'s health log).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import sys
from types import ModuleType
from typing import Any

# The same names as infra_chains.serving.contract (a test keeps them equal).
CONTRACT_FILE_ENV = "INFRA_CHAINS_RUNTIME"
CONTRACT_JSON_ENV = "INFRA_CHAINS_RUNTIME_JSON"
TIMEOUT_SEC = 2.0
#: `infra_chains.serving.probe`, by path: importing it by name would import the package.
PROBE_FILE = pathlib.Path(__file__).resolve().parent.parent / "serving" / "probe.py"
#: A server listening on every address is probed on loopback.
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def _load_probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chainlet_probe", PROBE_FILE)
    assert spec is not None and spec.loader is not None, PROBE_FILE
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def _contract(environ: dict[str, str]) -> dict[str, Any]:
    if CONTRACT_JSON_ENV in environ:
        document = environ[CONTRACT_JSON_ENV]
    elif CONTRACT_FILE_ENV in environ:
        with open(environ[CONTRACT_FILE_ENV], encoding="utf-8") as file:
            document = file.read()
    else:
        raise ValueError(f"neither {CONTRACT_JSON_ENV} nor {CONTRACT_FILE_ENV} is set")
    contract = json.loads(document)
    if not isinstance(contract, dict):
        raise ValueError("the runtime contract is not a JSON object")
    return contract


def check(environ: dict[str, str]) -> tuple[bool, str]:
    """(healthy, why) for the chainlet the contract in ``environ`` describes."""
    try:
        contract = _contract(environ)
        host = str(contract.get("host", "127.0.0.1"))
        port = int(contract["port"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return False, f"cannot read the runtime contract: {exc}"
    if port == 0:
        return False, "the runtime contract names no port (port 0)"
    host = _WILDCARDS.get(host, host)
    probe = _load_probe()
    result = probe.probe(host, port, probe.LIVE_PATH, timeout_sec=TIMEOUT_SEC,
                         instance_id=contract.get("instance_id"))
    return (True, "ok") if result.ok else (False, f"{host}:{port}: {result.detail}")


def main() -> int:
    healthy, why = check(dict(os.environ))
    print(why)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
