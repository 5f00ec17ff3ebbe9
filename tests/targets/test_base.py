"""`targets.base`: what every target shares."""

from __future__ import annotations

import logging
import pathlib
import textwrap

import pytest

from infra_chains.deploy import plan_chain
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.base import warn_of_replicas

CHAIN = textwrap.dedent('''
    import infra_chains as chains


    class Worker(chains.ChainletBase):
        remote_config = chains.RemoteConfig(replicas=3)

        def run_remote(self, x: int) -> int:
            return x


    @chains.mark_entrypoint
    class Entry(chains.ChainletBase):
        def __init__(self, worker: Worker = chains.depends(Worker)) -> None:
            self._worker = worker

        def run_remote(self, x: int) -> int:
            return self._worker.run_remote(x)
''')


def test_a_target_running_one_of_each_chainlet_says_so_for_replicas(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "replicated.py"
    path.write_text(CHAIN)
    plan = plan_chain(load_entrypoint(path), "replicated")
    with caplog.at_level(logging.WARNING, logger="infra_chains.targets.base"):
        warn_of_replicas(plan, "local", "process")
    assert [r.getMessage() for r in caplog.records] == [
        "Chainlet Worker of chain replicated asks for 3 replicas; the local target runs one process "
        "per chainlet (the kubernetes target runs replicas)."]
