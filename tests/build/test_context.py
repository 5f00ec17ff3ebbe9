"""Build contexts: what they hold, what they never hold, and that their runtime starts."""

from __future__ import annotations

import json
import os
import pathlib
import re

import httpx
import pytest

from infra_chains.build.context import (
    BuildContext,
    runtime_requirements,
    write_build_context,
    write_build_contexts,
)
from infra_chains.build.layout import ChainletLayout
from infra_chains.framework.graph import build_graph
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan import ChainPlan, make_plan
from infra_chains.plan.runtime import PACKAGE_DIR, runtime_files
from infra_chains.serving.testing import ChainletProcess, free_port
from infra_chains.targets.contracts import runtime_contract
from infra_chains.targets.secrets import write_secret_files

from .conftest import SENTINEL

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def all_files(directory: pathlib.Path) -> list[pathlib.Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


def test_context_holds_workspace_packages_data_runtime_and_recipe(
    plan: ChainPlan, tmp_path: pathlib.Path
) -> None:
    spec = plan.chainlet("Entry")
    context = write_build_context(plan, spec, tmp_path / "ctx")
    assert context == BuildContext(chainlet="Entry", directory=tmp_path / "ctx",
                                   image_tag=spec.image_hash, layout=ChainletLayout.in_image(spec.image))
    root = context.directory
    assert (root / "workspace" / "build_chain.py").is_file()
    assert (root / "packages" / "0" / "shared_helpers.py").is_file()
    assert (root / "data" / "weights.bin").read_bytes() == b"\1\2\3"
    assert (root / "requirements.txt").read_text().splitlines() == spec.image.pip_requirements
    assert ChainletLayout.model_validate_json((root / "layout.json").read_text()) == context.layout
    assert (root / ".dockerignore").is_file() and (root / "Dockerfile").is_file()


def test_requirements_merge_the_file_and_the_list_with_the_users_pins_winning(
    plan: ChainPlan, tmp_path: pathlib.Path
) -> None:
    root = write_build_context(plan, plan.chainlet("Entry"), tmp_path / "ctx").directory
    lines = (root / "requirements.txt").read_text().splitlines()
    names = [re.split(r"[=<>~!\[; ]", line, maxsplit=1)[0].lower() for line in lines]
    assert len(names) == len(set(names)), lines  # one line per project
    assert "httpx==0.27.2" in lines and "httpx==0.28.1" not in lines  # the file's over the runtime's
    assert "requests==2.32.3" in lines and "requests==2.31.0" not in lines  # the list's over the file's
    assert "numpy==2.1.0" in lines and "uvicorn==0.54.0" in lines  # and the runtime's own pins
    leaf = write_build_context(plan, plan.chainlet("Leaf"), tmp_path / "leaf").directory
    assert (leaf / "requirements.txt").read_text().splitlines() == runtime_requirements()


def test_default_image_context_of_an_example(tmp_path: pathlib.Path) -> None:
    plan = make_plan(build_graph(load_entrypoint(EXAMPLES / "text_pipeline.py")), "text-pipeline")
    for spec in plan.chainlets:
        context = write_build_context(plan, spec, tmp_path / spec.name)
        lines = (context.directory / "Dockerfile").read_text().splitlines()
        assert lines[0].split()[:2] == ["FROM", "python:3.11-slim"]
        assert context.layout.python_executable == "/opt/venv/bin/python"
        assert context.build_args == ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")
        assert context.layout.data_dir is None and context.layout.package_dirs == []


def test_data_and_package_dirs_are_copied_where_the_layout_says(
    plan: ChainPlan, tmp_path: pathlib.Path
) -> None:
    context = write_build_context(plan, plan.chainlet("Entry"), tmp_path / "ctx")
    lines = (context.directory / "Dockerfile").read_text().splitlines()
    assert "COPY packages /app/packages" in lines and "COPY data /app/data" in lines
    assert context.layout.package_dirs == ["/app/packages/0"] and context.layout.data_dir == "/app/data"
    assert (context.directory / "packages" / "0" / "shared_helpers.py").is_file()
    assert (context.directory / "data" / "weights.bin").is_file()


def test_files_are_readable_by_the_images_user_whatever_the_users_umask(
    plan: ChainPlan, tmp_path: pathlib.Path
) -> None:
    workspace = pathlib.Path(plan.workspace_dir)
    (workspace / "data" / "weights.bin").chmod(0o600)
    (workspace / "data").chmod(0o700)
    tool = workspace / "tool.sh"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o700)
    old_umask = os.umask(0o077)
    try:
        root = write_build_context(plan, plan.chainlet("Entry"), tmp_path / "ctx").directory
    finally:
        os.umask(old_umask)
    modes = {p.relative_to(root).as_posix(): p.stat().st_mode & 0o777 for p in [root, *root.rglob("*")]}
    assert modes["data/weights.bin"] == 0o644 and modes["data"] == 0o755
    assert modes["workspace/tool.sh"] == 0o755 and modes["Dockerfile"] == 0o644
    assert set(modes.values()) <= {0o644, 0o755}, {k: oct(v) for k, v in modes.items()}


def test_context_ships_every_runtime_file_including_the_build_package(
    plan: ChainPlan, tmp_path: pathlib.Path
) -> None:
    root = write_build_context(plan, plan.chainlet("Leaf"), tmp_path / "ctx").directory
    shipped = {p.relative_to(root / "runtime").as_posix() for p in all_files(root / "runtime")}
    expected = {p.relative_to(PACKAGE_DIR.parent).as_posix() for p in runtime_files()}
    assert shipped == expected
    assert "infra_chains/build/context.py" in shipped  # a folder named `build` is not skipped


def test_context_holds_no_secret_env_file_vcs_venv_or_cache(
    plan: ChainPlan, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sentinel is in the workspace's .env and .git, in the environment under the secret's
    name, and in a build arg's variable: none of it reaches a file of any context."""
    monkeypatch.setenv("TOKEN", SENTINEL)
    monkeypatch.setenv("token", SENTINEL)
    monkeypatch.setenv("PIP_INDEX_URL", f"https://user:{SENTINEL}@pypi.example.com/simple")
    assert plan.chainlet("Entry").secret_keys == ["token"]
    chain_dir = write_build_contexts(plan, tmp_path / "out")
    for path in all_files(chain_dir):
        parts = set(path.relative_to(chain_dir).parts)
        assert not parts & {".git", ".venv", "venv", "__pycache__", ".env"}, path
        assert not path.name.endswith((".pyc", ".pyo")), path
        assert SENTINEL.encode() not in path.read_bytes(), path


def test_plan_json_names_the_workspace_but_chainlet_json_does_not(
    plan: ChainPlan, tmp_path: pathlib.Path
) -> None:
    chain_dir = write_build_contexts(plan, tmp_path / "out")
    assert json.loads((chain_dir / "plan.json").read_text())["workspace_dir"] == plan.workspace_dir
    assert plan.workspace_dir not in (chain_dir / "Entry" / "chainlet.json").read_text()


def _infra_chains_imports(log: str) -> set[str]:
    """Files of `infra_chains` the interpreter loaded, from its verbose import log."""
    paths = re.findall(r"^# (?:code object from |\S+ matches )(\S*/infra_chains/\S+\.py)$", log, re.M)
    return set(paths)


@pytest.mark.servers
def test_a_dry_run_contexts_runtime_starts_and_serves_the_chain(tmp_path: pathlib.Path) -> None:
    plan = make_plan(build_graph(load_entrypoint(EXAMPLES / "text_pipeline.py")), "text-pipeline",
                     user_env={"mode": "context"})
    chain_dir = write_build_contexts(plan, tmp_path / "out")
    secrets_dir = tmp_path / "secrets"  # at run time, outside every context
    write_secret_files(secrets_dir, {"pipeline_token": "s3cret"})
    # Only what the dry run wrote, as an image target has it: the plan and each context's layout.
    written = ChainPlan.model_validate_json((chain_dir / "plan.json").read_text())
    assert written == plan
    urls: dict[str, str] = {}
    processes: list[ChainletProcess] = []
    try:
        for spec in written.chainlets:  # dependencies first
            context = chain_dir / spec.name
            layout = ChainletLayout.model_validate_json((context / "layout.json").read_text())
            layout = layout.rooted_at(context)
            # The contract an image target makes (targets/contracts.py), from the layout alone.
            contract = runtime_contract(
                written, spec, layout, base_urls=urls, port=free_port(), secrets_dir=secrets_dir
            )
            assert contract.workspace_dir == context / "workspace"
            assert written.workspace_dir not in contract.model_dump_json()  # no planning-host path
            process = ChainletProcess(contract, ready_timeout_sec=60, env={
                "PYTHONPATH": layout.runtime_dir,  # as the image's ENV PYTHONPATH
                "PYTHONSAFEPATH": "1",  # not the current directory (the repository) first
                "PYTHONVERBOSE": "1",  # the interpreter names every file it imports
                "PYTHONDONTWRITEBYTECODE": "1",
            })
            processes.append(process)
            process.start()
            urls[spec.name] = process.url
        response = httpx.post(processes[-1].predict_url, timeout=30,
                              json={"document": {"text": "One two. Three four five. Six.", "max_chunk_chars": 12}})
        assert response.status_code == 200, response.text
        result = response.json()
        assert (result["mode"], result["chunks"], result["total_words"]) == ("context", 3, 6)
        for spec, process in zip(plan.chainlets, processes, strict=True):
            loaded = _infra_chains_imports(process.log_path.read_text(errors="replace"))
            runtime = str(chain_dir / spec.name / "runtime") + os.sep
            assert any(p.endswith("infra_chains/serve.py") for p in loaded), spec.name
            assert all(p.startswith(runtime) for p in loaded), sorted(loaded)[:5]
    finally:
        for process in reversed(processes):
            process.close()
