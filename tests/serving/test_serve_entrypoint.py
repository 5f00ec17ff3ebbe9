"""`python -m infra_chains.serve`: a bad or missing contract is exit 2 with a clear paragraph."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

from infra_chains.serving.contract import CONTRACT_FILE_ENV, CONTRACT_JSON_ENV

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
