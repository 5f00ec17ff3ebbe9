"""Fixtures shared by every test folder; folder-specific ones live in that folder's conftest."""

import importlib.util
import pathlib
import sys
import types
from collections.abc import Callable, Iterator

import pytest

from infra_chains.targets.local import LocalTarget


@pytest.fixture
def import_file() -> Iterator[Callable[[pathlib.Path, str], types.ModuleType]]:
    """Import a Python file by path as module ``name`` (removed from ``sys.modules`` afterwards)."""
    added: list[str] = []

    def load(path: pathlib.Path, name: str) -> types.ModuleType:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        added.append(name)
        spec.loader.exec_module(module)
        return module

    yield load
    for name in added:
        sys.modules.pop(name, None)


@pytest.fixture
def state_root(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pathlib.Path]:
    """A private local-target state root; every chain in it is downed after the test, so nothing
    is left running."""
    root = tmp_path / "state"
    monkeypatch.setenv("INFRA_CHAINS_HOME", str(root))
    yield root
    target = LocalTarget(root)
    for chain in target.chains():
        target.down(chain)


@pytest.fixture
def local_target(state_root: pathlib.Path) -> LocalTarget:
    return LocalTarget(state_root)
