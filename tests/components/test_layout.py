"""Issue 15's layout decision (docs/architecture.md): the components ship inside the package as
`infra_chains.components`; the wheel installs no generic top-level package (no
`import components`); the repo root holds only the Pulumi project that runs them."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import tomllib
import zipfile

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_repo_root_is_a_pulumi_project_running_the_packaged_program() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    main = ROOT / project["main"]
    assert "from infra_chains.components.program import program_from_config" in (main / "__main__.py").read_text()
    stacks = ROOT / project["stackConfigDir"]
    assert {p.name for p in stacks.glob("Pulumi.*.yaml")} >= {"Pulumi.dev.yaml", "Pulumi.prod.yaml"}
    assert not (ROOT / "components").exists()  # DESIGN.md's top-level folder is not there


def test_the_wheel_is_configured_to_ship_one_top_level_package() -> None:
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["infra_chains"]
    assert not {"force-include", "sources", "only-include"} & set(wheel)  # nothing mapped beside it
    assert (ROOT / "infra_chains" / "components" / "__init__.py").is_file()


@pytest.mark.slow
def test_the_built_wheel_holds_the_components_under_infra_chains_only(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--quiet", "-w", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    if result.returncode != 0 and "No matching distribution found for hatchling" in result.stderr:
        pytest.skip("pip cannot fetch the build backend (hatchling): no package index reachable")
    assert result.returncode == 0, result.stderr[-2000:]
    (built,) = tmp_path.glob("infra_chains-*.whl")
    names = zipfile.ZipFile(built).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    metadata = {top for top in tops if top.endswith(".dist-info")}
    assert len(metadata) == 1 and tops == {"infra_chains", *metadata}  # no `components` beside it
    assert {"infra_chains/components/chain.py", "infra_chains/components/chainlet.py",
            "infra_chains/components/program.py", "infra_chains/testing.py"} <= set(names)
