"""The image's ``HEALTHCHECK``: ``GET /healthz`` on the port the runtime contract names.

The engine runs this beside the chainlet, with the container's environment, every few seconds,
so it is run by path with ``python -I`` and imports only the standard library: no
``infra_chains`` package import (pydantic and the public API would cost more than the probe), no
``curl`` in the image. It reads the contract the target gave the container
(``INFRA_CHAINS_RUNTIME_JSON``, or the file named by ``INFRA_CHAINS_RUNTIME``), probes
``/healthz`` like `infra_chains.serving.probe` (and, when the contract names an incarnation,
requires it to be echoed in ``x-infra-chains-instance``), and exits 0 when healthy, 1 otherwise
with one line on stdout saying why (Docker keeps it in ``docker inspect``'s health log).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
from typing import Any

# The same names as infra_chains.serving.contract / .probe (a test keeps them equal).
CONTRACT_FILE_ENV = "INFRA_CHAINS_RUNTIME"
CONTRACT_JSON_ENV = "INFRA_CHAINS_RUNTIME_JSON"
INSTANCE_HEADER = "x-infra-chains-instance"
LIVE_PATH = "/healthz"
TIMEOUT_SEC = 2.0
#: A server listening on every address is probed on loopback.
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


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
    connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_SEC)
    try:
        connection.request("GET", LIVE_PATH)
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as exc:
        return False, f"GET {LIVE_PATH} on {host}:{port} failed: {type(exc).__name__}: {exc}"
    finally:
        connection.close()
    expected = contract.get("instance_id")
    echoed = response.getheader(INSTANCE_HEADER)
    if expected is not None and echoed != expected:
        return False, f"{host}:{port} is answered by instance {echoed!r}, not {expected!r}"
    if response.status != 200:
        return False, f"GET {LIVE_PATH} answered HTTP {response.status}"
    return True, "ok"


def main() -> int:
    healthy, why = check(dict(os.environ))
    print(why)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
