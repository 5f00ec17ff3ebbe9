"""A small chain with every kind of file an image holds: package dir, data dir, requirements."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from infra_chains.framework.graph import build_graph
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan import ChainPlan, make_plan

CHAIN = '''
import infra_chains as chains
import shared_helpers


class Leaf(chains.ChainletBase):
    def run_remote(self, text: str) -> str:
        return shared_helpers.shout(text)


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    remote_config = chains.RemoteConfig(
        docker_image=chains.DockerImage(
            pip_requirements_file=chains.make_abs_path_here("requirements.txt"),
            pip_requirements=["numpy==2.1.0", "requests==2.32.3"],
            apt_requirements=["libgomp1", "curl"],
            external_package_dirs=[chains.make_abs_path_here("../shared")],
            data_dir=chains.make_abs_path_here("data"),
        ),
        assets=chains.Assets(secret_keys=["token"]),
    )

    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self._leaf = leaf

    def run_remote(self, text: str) -> str:
        return self._leaf.run_remote(text=text)
'''

#: A value that must never reach a build context.
SENTINEL = "sentinel-secret-5f1c"


def write_chain(root: pathlib.Path, module: str = "build_chain") -> pathlib.Path:
    workspace = root / "chain"
    (workspace / "data").mkdir(parents=True)
    (workspace / "data" / "weights.bin").write_bytes(b"\1\2\3")
    # The list's pin of requests wins over the file's; the file's httpx pin over the runtime's.
    (workspace / "requirements.txt").write_text("requests==2.31.0\nhttpx==0.27.2\n")
    (workspace / ".env").write_text(f"TOKEN={SENTINEL}\n")
    (workspace / ".git").mkdir()
    (workspace / ".git" / "config").write_text(f"[secret]\n\tvalue = {SENTINEL}\n")
    (workspace / ".venv" / "lib").mkdir(parents=True)
    (workspace / ".venv" / "lib" / "site.py").write_text("")
    (workspace / "__pycache__").mkdir()
    (workspace / "__pycache__" / f"{module}.cpython-311.pyc").write_bytes(b"cache")
    (root / "shared").mkdir()
    (root / "shared" / "shared_helpers.py").write_text("def shout(text: str) -> str:\n    return text.upper()\n")
    path = workspace / f"{module}.py"
    path.write_text(textwrap.dedent(CHAIN))
    return path


@pytest.fixture
def plan(tmp_path: pathlib.Path) -> ChainPlan:
    path = write_chain(tmp_path)
    import sys

    sys.path.insert(0, str(tmp_path / "shared"))  # the chain file imports it at load time
    try:
        return make_plan(build_graph(load_entrypoint(path)), "build-chain")
    finally:
        sys.path.remove(str(tmp_path / "shared"))


SHARED_CHAIN = '''
import infra_chains as chains


class Leaf(chains.ChainletBase):
    def run_remote(self, text: str) -> str:
        return text


class Mid(chains.ChainletBase):
    remote_config = chains.RemoteConfig(docker_image=chains.DockerImage(
        data_dir=chains.make_abs_path_here("data"),
        external_package_dirs=[chains.make_abs_path_here("../lib")],
    ))

    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self._leaf = leaf

    def run_remote(self, text: str) -> str:
        return self._leaf.run_remote(text=text)


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    remote_config = chains.RemoteConfig(
        docker_image=chains.DockerImage(pip_requirements=["numpy==2.1.0"]),
    )

    def __init__(self, mid: Mid = chains.depends(Mid)) -> None:
        self._mid = mid

    def run_remote(self, text: str) -> str:
        return self._mid.run_remote(text=text)
'''


@pytest.fixture
def shared_plan(tmp_path: pathlib.Path) -> ChainPlan:
    """Leaf and Mid share base and requirements (Mid adds a data dir and a package dir); Entry
    adds a requirement."""
    workspace = tmp_path / "shared_chain"
    (workspace / "data").mkdir(parents=True)
    (workspace / "data" / "table.csv").write_text("a,b\n1,2\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "helpers.py").write_text("X = 1\n")
    path = workspace / "shared_chain_file.py"
    path.write_text(textwrap.dedent(SHARED_CHAIN))
    return make_plan(build_graph(load_entrypoint(path)), "shared-chain")
