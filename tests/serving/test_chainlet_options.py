"""`ChainletOptions` in a real serving process: env_variables before import, debug logs."""

from __future__ import annotations

import pathlib
import textwrap

import httpx
import pytest

from infra_chains.serving.testing import ChainletProcess, make_contract

pytestmark = pytest.mark.servers

CHAIN = '''
import logging
import os

import infra_chains as chains

# Read at import: a library configured by its environment (HF_HOME, OMP_NUM_THREADS...) does this.
AT_IMPORT = os.environ.get("GREETING")


class Env(chains.ChainletBase):
    def run_remote(self) -> dict[str, str | None]:
        return {
            "at_import": AT_IMPORT,
            "now": os.environ.get("GREETING"),
            "level": logging.getLevelName(logging.getLogger().getEffectiveLevel()),
        }
'''


@pytest.fixture
def workspace(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "env_chain.py").write_text(textwrap.dedent(CHAIN))
    return tmp_path


def call(process: ChainletProcess) -> dict[str, str | None]:
    response = httpx.post(process.predict_url, json={}, timeout=10)
    assert response.status_code == 200, response.text
    result: dict[str, str | None] = response.json()
    return result


def test_env_variables_are_set_before_the_chain_file_is_imported(workspace: pathlib.Path) -> None:
    contract = make_contract("env_chain:Env", workspace, env_variables={"GREETING": "hello"},
                             log_level="DEBUG")
    with ChainletProcess(contract, env={"GREETING": "from the parent"}) as process:
        assert call(process) == {"at_import": "hello", "now": "hello", "level": "DEBUG"}


def test_without_options_the_process_keeps_its_environment(workspace: pathlib.Path) -> None:
    with ChainletProcess(make_contract("env_chain:Env", workspace)) as process:
        assert call(process) == {"at_import": None, "now": None, "level": "INFO"}
