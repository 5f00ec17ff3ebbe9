"""``python -m infra_chains.serve``: run one chainlet from its runtime contract.

Every target starts chainlets with this command line and one environment variable,
``INFRA_CHAINS_RUNTIME`` (path of the contract JSON; or ``INFRA_CHAINS_RUNTIME_JSON`` with the JSON
itself). Exit codes: 0 after a graceful shutdown (SIGTERM), 1 when the chainlet failed at run time
(its ``__init__`` raised, the port was taken), 2 when the contract or the chainlet class is
invalid: one paragraph on stderr names the field and the fix.

A target that owns the chainlet's sockets passes them as inherited descriptors (``listen_fd``,
``probe_fd``) and names the incarnation (``instance_id``, echoed by ``/readyz`` and ``/healthz``);
see docs/architecture.md, "Supervision, readiness, drain, identity".

``python -m infra_chains.serve --fork-server <chain dir> <control fd>`` runs a fork server instead
(`infra_chains.serving.forkserver`): a target that starts many chainlets forks them from it, and
each runs :func:`run_chainlet` as this command line would.
"""

from __future__ import annotations

import logging
import sys

from infra_chains.errors import ConfigError
from infra_chains.serving.contract import RuntimeContract
from infra_chains.serving.forkserver import FORK_SERVER_FLAG

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def main() -> int:
    if sys.argv[1:2] == [FORK_SERVER_FLAG]:
        from infra_chains.serving import forkserver

        return forkserver.main(sys.argv[2:])
    return run_chainlet()


def run_chainlet() -> int:
    """Serve the chainlet the environment's runtime contract names; the exit code."""
    try:
        contract = RuntimeContract.from_environment()
    except ConfigError as exc:
        print(f"infra_chains.serve: cannot start: {exc}", file=sys.stderr)
        return 2
    level = logging.getLevelName(contract.log_level.upper())
    logging.basicConfig(level=level if isinstance(level, int) else logging.INFO, format=_FORMAT,
                        stream=sys.stderr)
    # uvicorn's own start-up lines duplicate ours; keep its warnings and errors.
    logging.getLogger("uvicorn.error").setLevel(max(logging.WARNING, logging.getLogger().level))

    from infra_chains.serving import (
        runtime,  # after logging: importing user code may log
    )

    try:
        return runtime.serve(contract)
    except ConfigError as exc:
        print(f"infra_chains.serve: chainlet {contract.chainlet_name!r} cannot start: {exc}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
