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
