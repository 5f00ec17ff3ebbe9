"""ChainGraph -> ChainPlan: determinism, hashes, import paths, build specs."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from infra_chains.errors import ChainsUsageError
from infra_chains.framework.graph import build_graph
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan import ChainPlan, default_chain_name, make_plan, validate_chain_name

CHAIN = '''
import pydantic
import infra_chains as chains

SHARED = "shared code"


class Leaf(chains.ChainletBase):
    def run_remote(self, text: str) -> str:
        return text.upper()


class Mid(chains.ChainletBase):
    def __init__(self, leaf: Leaf = chains.depends(Leaf, retries=3)) -> None:
        self._leaf = leaf

    def run_remote(self, text: str) -> str:
        return self._leaf.run_remote(text=text) + "!"


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    remote_config = chains.RemoteConfig(
        docker_image=chains.DockerImage(
            pip_requirements_file=chains.make_abs_path_here("requirements.txt"),
            pip_requirements=["numpy>=1.26"],
        ),
        compute=chains.Compute(cpu_count=2, predict_concurrency="cpu_count"),
        assets=chains.Assets(secret_keys=["token"]),
    )

    def __init__(self, mid: Mid = chains.depends(Mid)) -> None:
        self._mid = mid

    def run_remote(self, text: str) -> str:
        return self._mid.run_remote(text=text)
'''


def write_chain(directory: pathlib.Path, name: str, source: str = CHAIN) -> pathlib.Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "requirements.txt").write_text("# pinned\nrequests==2.32.0  # http\n\n")
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def plan_of(path: pathlib.Path, name: str = "demo") -> ChainPlan:
    return make_plan(build_graph(load_entrypoint(path)), name, user_env={"mode": "dev"})


def test_plan_lists_chainlets_in_dependency_order(tmp_path: pathlib.Path) -> None:
    plan = plan_of(write_chain(tmp_path, "order_chain"))
    assert [c.name for c in plan.chainlets] == ["Leaf", "Mid", "Entry"]
    assert plan.entrypoint == "Entry"
    assert plan.chainlet("Mid").dependencies[0].name == "Leaf"
    assert plan.chainlet("Mid").dependencies[0].options.retries == 3
    assert plan.chainlet("Entry").import_path == "order_chain:Entry"
    assert plan.workspace_dir == str(tmp_path.resolve())


def test_plan_is_deterministic(tmp_path: pathlib.Path) -> None:
    path = write_chain(tmp_path, "deterministic_chain")
    first = plan_of(path).model_dump_json()
    second = plan_of(path).model_dump_json()
    assert first == second


def test_build_spec_merges_requirements_and_resolves_compute(tmp_path: pathlib.Path) -> None:
    entry = plan_of(write_chain(tmp_path, "build_chain")).chainlet("Entry")
    assert entry.build.pip_requirements == ["requests==2.32.0", "numpy>=1.26"]
    assert entry.build.base_image == "python:3.11-slim"
    assert entry.compute.predict_concurrency == 2
    assert entry.secret_keys == ["token"]


def test_gpu_chainlet_gets_a_cuda_base_image(tmp_path: pathlib.Path) -> None:
    source = CHAIN.replace('cpu_count=2, predict_concurrency="cpu_count"', 'gpu="a10g:2"')
    entry = plan_of(write_chain(tmp_path, "gpu_chain", source)).chainlet("Entry")
    assert entry.compute.gpu == "A10G"
    assert entry.compute.gpu_count == 2
    assert entry.build.base_image.startswith("nvidia/cuda:")


def test_editing_one_chainlet_changes_only_its_hash_and_its_dependents(tmp_path: pathlib.Path) -> None:
    path = write_chain(tmp_path, "edit_chain")
    before = {c.name: c.content_hash for c in plan_of(path).chainlets}
    path.write_text(path.read_text().replace('+ "!"', '+ "?"'))  # edit Mid only
    after = {c.name: c.content_hash for c in plan_of(path).chainlets}
    assert after["Leaf"] == before["Leaf"]
    assert after["Mid"] != before["Mid"]
    assert after["Entry"] != before["Entry"]  # it depends on Mid


def test_editing_the_entrypoint_leaves_its_dependencies_alone(tmp_path: pathlib.Path) -> None:
    path = write_chain(tmp_path, "edit_entry_chain")
    before = {c.name: c.content_hash for c in plan_of(path).chainlets}
    path.write_text(path.read_text().replace("return self._mid.run_remote(text=text)",
                                             "return self._mid.run_remote(text=text.strip())"))
    after = {c.name: c.content_hash for c in plan_of(path).chainlets}
    assert after["Leaf"] == before["Leaf"] and after["Mid"] == before["Mid"]
    assert after["Entry"] != before["Entry"]


def test_shared_module_code_and_user_env_change_every_hash(tmp_path: pathlib.Path) -> None:
    path = write_chain(tmp_path, "shared_chain")
    before = {c.name: c.content_hash for c in plan_of(path).chainlets}
    path.write_text(path.read_text().replace('"shared code"', '"new shared code"'))
    after = {c.name: c.content_hash for c in plan_of(path).chainlets}
    assert all(after[name] != before[name] for name in before)


def test_chainlet_defined_in_a_function_cannot_be_planned(tmp_path: pathlib.Path) -> None:
    import infra_chains as chains

    class Local(chains.ChainletBase):
        def run_remote(self) -> str:
            return "x"

    with pytest.raises(ChainsUsageError, match="inside a function"):
        make_plan(build_graph(Local), "local")


@pytest.mark.parametrize("name", ["Bad_Name", "-x", "x-", "", "a" * 49, "spaces here"])
def test_invalid_chain_names_are_rejected(name: str) -> None:
    with pytest.raises(ChainsUsageError, match="Chain name"):
        validate_chain_name(name)


def test_default_chain_name_is_kebab_case() -> None:
    assert default_chain_name("TextPipeline") == "text-pipeline"
    assert default_chain_name("RAGChain") == "rag-chain"
    assert default_chain_name("My_Chain2") == "my-chain2"
