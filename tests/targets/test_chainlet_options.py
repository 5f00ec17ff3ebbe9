"""`ChainletOptions` on the local target, end to end: push, call, re-push."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

import infra_chains as chains
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.local.target import LocalTarget

pytestmark = pytest.mark.servers

CHAIN = '''
import logging
import os

import infra_chains as chains

AT_IMPORT = os.environ.get("GREETING")


class Leaf(chains.ChainletBase):
    remote_config = chains.RemoteConfig(
        options=chains.ChainletOptions(env_variables={"GREETING": "leaf"}),
    )

    def run_remote(self) -> str:
        return f"{AT_IMPORT}/{logging.getLogger().getEffectiveLevel()}"


@chains.mark_entrypoint("Options Chain")
class Entry(chains.ChainletBase):
    remote_config = chains.RemoteConfig(
        options=chains.ChainletOptions(env_variables={"GREETING": "GREETING_VALUE"},
                                       enable_debug_logs=True),
    )

    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self._leaf = leaf

    def run_remote(self) -> list[str]:
        own = f"{AT_IMPORT}/{logging.getLogger().getEffectiveLevel()}"
        return [own, self._leaf.run_remote()]
'''


def test_each_chainlet_gets_its_own_env_variables_and_log_level(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    path = tmp_path / "options_chain.py"
    path.write_text(textwrap.dedent(CHAIN))
    service = chains.push(load_entrypoint(path), remote=local_target)
    assert service is not None
    assert service.name == "options-chain"  # mark_entrypoint's name
    assert service.run_remote({}) == ["GREETING_VALUE/10", "leaf/20"]  # DEBUG, INFO

    path.write_text(path.read_text().replace('"GREETING_VALUE"', '"changed"'))
    service = chains.push(load_entrypoint(path), remote=local_target)
    assert service is not None
    assert service.run_remote({}) == ["changed/10", "leaf/20"]
