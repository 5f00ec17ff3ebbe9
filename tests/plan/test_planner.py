"""ChainGraph -> ChainPlan: determinism, image and deployment parts, hashes, import paths."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from infra_chains.errors import ChainsUsageError
from infra_chains.framework.graph import build_graph
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan import (
    ChainPlan,
    RuntimeVersion,
    default_chain_name,
    make_plan,
    validate_chain_name,
)
from infra_chains.plan.base_images import CUDA_IMAGE, VENV_PYTHON
from infra_chains.plan.runtime import RUNTIME_REQUIREMENTS, WEBSOCKET_REQUIREMENTS

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


def plan_of(path: pathlib.Path, name: str = "demo", runtime: RuntimeVersion | None = None) -> ChainPlan:
    return make_plan(build_graph(load_entrypoint(path)), name, user_env={"mode": "dev"},
                     runtime=runtime)


def hashes(plan: ChainPlan, kind: str) -> dict[str, str]:
    return {c.name: getattr(c, kind) for c in plan.chainlets}


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


def test_image_part_merges_requirements_and_resolves_compute(tmp_path: pathlib.Path) -> None:
    entry = plan_of(write_chain(tmp_path, "build_chain")).chainlet("Entry")
    assert entry.image.pip_requirements == [*RUNTIME_REQUIREMENTS, "requests==2.32.0", "numpy>=1.26"]
    assert entry.image.base_image == "python:3.11-slim"
    assert entry.image.python_version == "3.11"
    assert entry.compute.predict_concurrency == 2
    assert entry.secret_keys == ["token"]


def test_gpu_chainlet_gets_a_cuda_base_image_with_a_python(tmp_path: pathlib.Path) -> None:
    source = CHAIN.replace('cpu_count=2, predict_concurrency="cpu_count"', 'gpu="a10g:2"')
    entry = plan_of(write_chain(tmp_path, "gpu_chain", source)).chainlet("Entry")
    assert entry.compute.gpu == "A10G"
    assert entry.compute.gpu_count == 2
    assert entry.image.base_image == CUDA_IMAGE
    assert (entry.image.python_executable, entry.image.python_setup) == (VENV_PYTHON, "apt-venv")
    assert entry.image.python_version == "3.12"


def test_python_older_than_the_runtime_is_rejected_naming_the_chainlet(tmp_path: pathlib.Path) -> None:
    source = CHAIN.replace("pip_requirements=[", "base_image=chains.BasetenImage.PY310, pip_requirements=[")
    path = write_chain(tmp_path, "old_python_chain", source)
    with pytest.raises(ChainsUsageError) as error:
        plan_of(path)
    message = str(error.value)
    [problem] = error.value.problems
    assert (problem.code, problem.location) == ("base-image", "Entry.remote_config")
    assert message.startswith("1 problem in the chain definition:\n  ")
    assert f"old_python_chain.py:{problem.line} (Entry.remote_config) [base-image]: " in message
    assert "BasetenImage.PY310 gives Python 3.10" in message
    assert "use BasetenImage.PY311 or newer, or a CustomImage" in message


def test_custom_image_is_used_as_given_even_with_a_gpu(tmp_path: pathlib.Path) -> None:
    source = CHAIN.replace(
        "pip_requirements=[",
        'base_image=chains.CustomImage(image="my/cuda:py3.13", python_executable_path="/py/bin/python"), '
        "pip_requirements=[",
    ).replace('cpu_count=2, predict_concurrency="cpu_count"', 'gpu="T4"')
    entry = plan_of(write_chain(tmp_path, "custom_image_chain", source)).chainlet("Entry")
    assert (entry.image.base_image, entry.image.python_executable) == ("my/cuda:py3.13", "/py/bin/python")
    assert entry.image.python_setup == "image" and entry.image.python_version is None


def test_the_same_chain_in_two_folders_has_the_same_hashes(tmp_path: pathlib.Path) -> None:
    source = CHAIN.replace(
        "pip_requirements=[",
        'external_package_dirs=[chains.make_abs_path_here("../shared")], '
        'data_dir=chains.make_abs_path_here("data"), pip_requirements=[',
    )
    for folder in ("one", "two"):
        write_chain(tmp_path / folder / "chain", "copied_chain", source)
        (tmp_path / folder / "shared").mkdir()
        (tmp_path / folder / "shared" / "helpers.py").write_text("X = 1\n")
        (tmp_path / folder / "chain" / "data").mkdir()
        (tmp_path / folder / "chain" / "data" / "weights.bin").write_bytes(b"\0" * 8)
    one = plan_of(tmp_path / "one" / "chain" / "copied_chain.py")
    two = plan_of(tmp_path / "two" / "chain" / "copied_chain.py")
    assert one.workspace_dir != two.workspace_dir  # recorded, never hashed
    for kind in ("image_hash", "deployment_hash", "content_hash"):
        assert hashes(one, kind) == hashes(two, kind)
    entry = one.chainlet("Entry").image
    assert (entry.external_package_dirs, entry.data_dir) == (["../shared"], "data")
    assert str(tmp_path) not in one.chainlet("Entry").model_dump_json()


def test_replicas_and_compute_change_the_deployment_hash_not_the_image(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same source, other settings (as a stack's config gives them): the image is reused.

    (Editing the settings *in* the chain file is a source change: the file is in the image.)
    """
    source = "import os\n" + CHAIN.replace(
        'compute=chains.Compute(cpu_count=2, predict_concurrency="cpu_count"),',
        'compute=chains.Compute(cpu_count=int(os.environ["CPUS"])), '
        'replicas=int(os.environ["REPLICAS"]),',
    )
    plans = []
    for folder, cpus, replicas in (("small", "1", "1"), ("large", "4", "3")):
        monkeypatch.setenv("CPUS", cpus)
        monkeypatch.setenv("REPLICAS", replicas)
        plans.append(plan_of(write_chain(tmp_path / folder, "scale_chain", source)))
    small, large = plans
    assert (large.chainlet("Entry").replicas, large.chainlet("Entry").compute.cpu_count) == (3, 4)
    assert hashes(large, "image_hash") == hashes(small, "image_hash")
    assert large.chainlet("Entry").deployment_hash != small.chainlet("Entry").deployment_hash
    assert large.chainlet("Entry").content_hash != small.chainlet("Entry").content_hash
    assert large.chainlet("Mid").content_hash == small.chainlet("Mid").content_hash


def test_a_requirement_changes_the_image_hash(tmp_path: pathlib.Path) -> None:
    path = write_chain(tmp_path, "requirement_chain")
    before = plan_of(path)
    (tmp_path / "requirements.txt").write_text("requests==2.32.3\n")
    after = plan_of(path)
    assert after.chainlet("Entry").image.pip_requirements[-2] == "requests==2.32.3"
    assert after.chainlet("Entry").image_hash != before.chainlet("Entry").image_hash
    assert after.chainlet("Entry").deployment_hash == before.chainlet("Entry").deployment_hash


def test_another_runtime_changes_every_image_hash(tmp_path: pathlib.Path) -> None:
    path = write_chain(tmp_path, "runtime_chain")
    base = plan_of(path, runtime=RuntimeVersion(version="0.1.0", digest="a"))
    edited = plan_of(path, runtime=RuntimeVersion(version="0.1.0", digest="b"))
    upgraded = plan_of(path, runtime=RuntimeVersion(version="0.2.0", digest="a"))
    for other in (edited, upgraded):
        assert all(hashes(other, "image_hash")[n] != h for n, h in hashes(base, "image_hash").items())
        assert hashes(other, "deployment_hash") == hashes(base, "deployment_hash")


def test_the_default_runtime_is_this_installation(tmp_path: pathlib.Path) -> None:
    from infra_chains.plan.runtime import current_runtime

    plan = plan_of(write_chain(tmp_path, "installed_runtime_chain"))
    assert plan.chainlet("Leaf").image.runtime == current_runtime()


def test_deployment_part_holds_what_runs_the_image(tmp_path: pathlib.Path) -> None:
    path = write_chain(tmp_path, "deployment_chain")
    graph = build_graph(load_entrypoint(path))
    plan = make_plan(graph, "demo", user_env={"mode": "dev"}, environment="staging")
    mid = plan.chainlet("Mid").deployment
    assert (mid.user_env, mid.environment, mid.replicas) == ({"mode": "dev"}, "staging", 1)
    other_env = make_plan(graph, "demo", user_env={"mode": "prod"}, environment="staging")
    assert hashes(other_env, "image_hash") == hashes(plan, "image_hash")
    assert all(hashes(other_env, "deployment_hash")[n] != h
               for n, h in hashes(plan, "deployment_hash").items())


HASHES = ("image_hash", "content_hash")


def changed(before: ChainPlan, after: ChainPlan) -> dict[str, set[str]]:
    """Per hash kind, the chainlets whose hash differs between two plans."""
    return {kind: {n for n, h in hashes(after, kind).items() if hashes(before, kind)[n] != h}
            for kind in HASHES}


def test_editing_a_dependencys_body_changes_only_its_own_hashes(tmp_path: pathlib.Path) -> None:
    """A dependent's stubs need the dependency's interface, not its implementation."""
    path = write_chain(tmp_path, "body_chain")
    before = plan_of(path)
    path.write_text(path.read_text().replace('+ "!"', '+ "?"'))  # Mid's body
    after_mid = plan_of(path)
    assert changed(before, after_mid) == {kind: {"Mid"} for kind in HASHES}
    path.write_text(path.read_text().replace("return text.upper()", "return text.lower()"))  # Leaf's
    assert changed(after_mid, plan_of(path)) == {kind: {"Leaf"} for kind in HASHES}


@pytest.mark.parametrize("edit", [
    ("def run_remote(self, text: str) -> str:\n        return self._leaf",
     "def run_remote(self, text: str, loud: bool = False) -> str:\n        return self._leaf"),
    ("def run_remote(self, text: str) -> str:\n        return self._leaf",
     "def run_remote(self, words: str) -> str:\n        text = words\n        return self._leaf"),
    ("def run_remote(self, text: str) -> str:\n        return self._leaf",
     "def run_remote(self, text: str | None) -> str:\n        return self._leaf"),
    ("def run_remote(self, text: str) -> str:\n        return self._leaf",
     "def run_remote(self, text: str) -> bytes:\n        return self._leaf"),
], ids=["new-argument", "renamed-argument", "annotation", "return-type"])
def test_a_dependencys_signature_change_changes_its_dependents(
    tmp_path: pathlib.Path, edit: tuple[str, str]
) -> None:
    before = plan_of(write_chain(tmp_path / "before", "sig_chain"))
    assert edit[0] in CHAIN
    after = plan_of(write_chain(tmp_path / "after", "sig_chain", CHAIN.replace(*edit)))
    assert changed(before, after) == {kind: {"Mid", "Entry"} for kind in HASHES}


def test_a_dependencys_default_value_changes_its_dependents(tmp_path: pathlib.Path) -> None:
    source = CHAIN.replace("def run_remote(self, text: str) -> str:\n        return self._leaf",
                           "def run_remote(self, text: str = 'a') -> str:\n        return self._leaf")
    before = plan_of(write_chain(tmp_path / "before", "default_chain", source))
    after = plan_of(write_chain(tmp_path / "after", "default_chain", source.replace("'a'", "'b'")))
    assert changed(before, after) == {kind: {"Mid", "Entry"} for kind in HASHES}


NESTED_MODEL_CHAIN = '''
import pydantic
import infra_chains as chains


class Leaf(chains.ChainletBase):
    class Out(pydantic.BaseModel):  # nested: only Leaf's interface shows it to Mid
        text: str

    def run_remote(self, text: str) -> Out:
        return Leaf.Out(text=text.upper())


@chains.mark_entrypoint
class Mid(chains.ChainletBase):
    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self._leaf = leaf

    def run_remote(self, text: str) -> str:
        return self._leaf.run_remote(text=text).text
'''


def test_a_dependencys_io_model_fields_change_its_dependents(tmp_path: pathlib.Path) -> None:
    before = plan_of(write_chain(tmp_path / "one", "model_chain", NESTED_MODEL_CHAIN))
    same = plan_of(write_chain(tmp_path / "two", "model_chain", NESTED_MODEL_CHAIN))
    assert changed(before, same) == {kind: set() for kind in HASHES}  # stable across folders
    source = NESTED_MODEL_CHAIN.replace("text: str\n\n", "text: str\n        count: int = 0\n\n")
    assert source != NESTED_MODEL_CHAIN
    after = plan_of(write_chain(tmp_path / "three", "model_chain", source))
    assert changed(before, after) == {kind: {"Leaf", "Mid"} for kind in HASHES}


def test_rpc_options_are_the_dependents_not_the_dependencys(tmp_path: pathlib.Path) -> None:
    before = plan_of(write_chain(tmp_path / "before", "options_chain"))
    source = CHAIN.replace("chains.depends(Leaf, retries=3)", "chains.depends(Leaf, retries=4)")
    after = plan_of(write_chain(tmp_path / "after", "options_chain", source))
    assert changed(before, after) == {kind: {"Mid"} for kind in HASHES}
    assert after.chainlet("Mid").deployment_hash != before.chainlet("Mid").deployment_hash


def test_chainlets_in_other_files_count_by_interface_their_modules_shared_code_in_full(
    tmp_path: pathlib.Path,
) -> None:
    (tmp_path / "split_helpers.py").write_text("SUFFIX = '!'\n")
    (tmp_path / "split_mid.py").write_text(textwrap.dedent('''
        import infra_chains as chains
        from split_helpers import SUFFIX

        GREETING = "hi"


        class Mid(chains.ChainletBase):
            def run_remote(self, text: str) -> str:
                return text + SUFFIX
    '''))
    path = write_chain(tmp_path, "split_entry", '''
        import infra_chains as chains
        from split_mid import Mid


        @chains.mark_entrypoint
        class Entry(chains.ChainletBase):
            def __init__(self, mid: Mid = chains.depends(Mid)) -> None:
                self._mid = mid

            def run_remote(self, text: str) -> str:
                return self._mid.run_remote(text=text)
    ''')
    before = plan_of(path)
    mid_file = tmp_path / "split_mid.py"
    mid_file.write_text(mid_file.read_text().replace("text + SUFFIX", "SUFFIX + text"))
    body = plan_of(path)
    assert changed(before, body) == {kind: {"Mid"} for kind in HASHES}
    mid_file.write_text(mid_file.read_text().replace('"hi"', '"hello"'))  # Mid's module, not Mid
    assert changed(body, plan_of(path)) == {kind: {"Mid", "Entry"} for kind in HASHES}


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


WEBSOCKET_CHAIN = '''
import infra_chains as chains


class Helper(chains.ChainletBase):
    async def run_remote(self, text: str) -> str:
        return text


@chains.mark_entrypoint
class Socket(chains.ChainletBase):
    def __init__(self, helper: Helper = chains.depends(Helper)) -> None:
        self._helper = helper

    async def run_remote(self, websocket: chains.WebSocketProtocol) -> None:
        await websocket.send_text(await self._helper.run_remote(await websocket.receive_text()))
'''


def test_only_a_websocket_chainlets_image_gets_the_websocket_library(tmp_path: pathlib.Path) -> None:
    plan = plan_of(write_chain(tmp_path, "socket_chain", WEBSOCKET_CHAIN))
    assert plan.chainlet("Socket").image.pip_requirements == [*RUNTIME_REQUIREMENTS, *WEBSOCKET_REQUIREMENTS]
    assert plan.chainlet("Helper").image.pip_requirements == list(RUNTIME_REQUIREMENTS)


def test_the_planning_machines_python_is_not_part_of_any_hash(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image's Python comes from its base image; a laptop on 3.11 and CI on 3.13 plan alike."""
    import platform
    import sys

    path = write_chain(tmp_path, "interpreter_chain")
    here = plan_of(path)
    assert sys.executable not in here.model_dump_json()
    monkeypatch.setattr(sys, "version_info", (3, 13, 1, "final", 0))
    monkeypatch.setattr(sys, "version", "3.13.1 (main) [GCC 14.2.0]")
    monkeypatch.setattr(platform, "python_version", lambda: "3.13.1")
    monkeypatch.setattr(sys, "executable", "/opt/ci/python3.13/bin/python3.13")
    elsewhere = plan_of(path)
    assert elsewhere == here
    assert "3.13" not in elsewhere.model_dump_json()
