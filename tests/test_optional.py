"""`infra_chains/_optional.py`, and which dependencies every install gets."""

from __future__ import annotations

import pathlib
import tomllib

import pytest

import infra_chains as chains
from infra_chains._optional import MissingExtraError, require

PYPROJECT = pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_require_returns_an_installed_module() -> None:
    assert require("json", extra="anything").dumps([1]) == "[1]"


def test_a_missing_extra_names_the_install_command() -> None:
    with pytest.raises(chains.ChainsUsageError) as info:
        require("pulumi_not_installed_here.automation", extra="kubernetes",
                purpose="The kubernetes target")
    error = info.value
    assert isinstance(error, MissingExtraError) and error.extra == "kubernetes"
    message = str(error)
    assert message.startswith("The kubernetes target needs the Python module "
                              "'pulumi_not_installed_here.automation'")
    assert "pip install 'infra-chains[kubernetes]'" in message


def test_a_broken_install_is_not_reported_as_a_missing_extra(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "half_installed.py").write_text("import its_dependency_is_gone\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="its_dependency_is_gone"):
        require("half_installed", extra="kubernetes")


def test_pulumi_is_only_in_the_kubernetes_extra() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("pulumi")]
    kubernetes = project["optional-dependencies"]["kubernetes"]
    assert sorted(d.split(">")[0] for d in kubernetes) == ["pulumi", "pulumi-docker", "pulumi-kubernetes"]


def test_every_dependency_has_an_upper_bound() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    requirements = project["dependencies"] + [
        d for extra in project["optional-dependencies"].values() for d in extra
    ]
    assert [d for d in requirements if "<" not in d.partition(";")[0]] == []


def test_an_install_without_extras_plans_and_writes_build_contexts(tmp_path: pathlib.Path) -> None:
    """The core install (no pulumi, docker, boto3, huggingface_hub, numpy): the CLI, planning and
    the local target's modules import, and `push --dry-run` works; only the kubernetes target
    asks for its extra, by name."""
    import subprocess
    import sys

    example = PYPROJECT.parent / "examples" / "text_pipeline.py"
    code = (
        "import sys\n"
        "for name in ('pulumi', 'pulumi_kubernetes', 'pulumi_docker', 'docker', 'boto3',\n"
        "             'huggingface_hub', 'numpy'):\n"
        "    sys.modules[name] = None  # as if not installed\n"
        "import infra_chains.targets.local\n"
        "from infra_chains.cli.app import main\n"
        f"assert main(['push', {str(example)!r}, '--dry-run', '--out', {str(tmp_path)!r}]) == 0\n"
        "assert main(['status', 'x', '--target', 'kubernetes']) == 2\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "text-pipeline" / "plan.json").is_file()
    assert "pip install 'infra-chains[kubernetes]'" in " ".join(result.stderr.split())
