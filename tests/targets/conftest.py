"""Fixtures for local-target tests: a private state root, and nothing left running after."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from infra_chains.targets.local import LocalTarget


@pytest.fixture
def state_root(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pathlib.Path]:
    root = tmp_path / "state"
    monkeypatch.setenv("INFRA_CHAINS_HOME", str(root))
    yield root
    target = LocalTarget(root)
    for chain in target.chains():
        target.down(chain)


@pytest.fixture
def local_target(state_root: pathlib.Path) -> LocalTarget:
    return LocalTarget(state_root)
