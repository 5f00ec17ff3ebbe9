"""Layouts: in the image, on the host, and an image's layout rooted at its build context."""

from __future__ import annotations

import pathlib
import sys

import pytest

from infra_chains.build.layout import APP_DIR, ChainletLayout
from infra_chains.plan import ChainPlan
from infra_chains.plan.base_images import VENV_PYTHON
from infra_chains.plan.runtime import PACKAGE_DIR


def test_the_image_layout_puts_everything_under_app_and_runs_the_venvs_python(plan: ChainPlan) -> None:
    layout = ChainletLayout.in_image(plan.chainlet("Entry").image)
    assert layout == ChainletLayout(
        workspace_dir=f"{APP_DIR}/workspace", package_dirs=[f"{APP_DIR}/packages/0"],
        data_dir=f"{APP_DIR}/data", runtime_dir=f"{APP_DIR}/runtime", python_executable=VENV_PYTHON,
    )
    assert ChainletLayout.in_image(plan.chainlet("Leaf").image).data_dir is None


def test_the_host_layout_is_where_the_plan_found_the_files(plan: ChainPlan) -> None:
    workspace = pathlib.Path(plan.workspace_dir)
    layout = ChainletLayout.on_host(plan, plan.chainlet("Entry"))
    assert layout.workspace_dir == str(workspace)
    assert layout.package_dirs == [str(workspace.parent / "shared")]
    assert layout.data_dir == str(workspace / "data")
    assert layout.runtime_dir == str(PACKAGE_DIR.parent)
    assert layout.python_executable == sys.executable


def test_an_image_layout_rooted_at_a_context(plan: ChainPlan, tmp_path: pathlib.Path) -> None:
    layout = ChainletLayout.in_image(plan.chainlet("Entry").image).rooted_at(tmp_path)
    assert layout.workspace_dir == str(tmp_path / "workspace")
    assert layout.package_dirs == [str(tmp_path / "packages" / "0")]
    assert (layout.data_dir, layout.runtime_dir) == (str(tmp_path / "data"), str(tmp_path / "runtime"))


def test_a_relative_root_gives_absolute_paths(
    plan: ChainPlan, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    layout = ChainletLayout.in_image(plan.chainlet("Entry").image).rooted_at(pathlib.Path("ctx"))
    assert layout.workspace_dir == str(tmp_path.resolve() / "ctx" / "workspace")
    assert layout.package_dirs == [str(tmp_path.resolve() / "ctx" / "packages" / "0")]
