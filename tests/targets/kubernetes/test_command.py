"""`PulumiCli`: finding the executable, running it, and its errors (against the fake)."""

from __future__ import annotations

import pathlib

import pytest

from infra_chains.targets.kubernetes.command import (
    PulumiCli,
    PulumiCommandError,
    PulumiNotFoundError,
    find_pulumi,
)
from tests.targets.kubernetes.conftest import FakePulumi


def test_missing_cli_says_what_to_install_and_how_to_point_at_one(tmp_path: pathlib.Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    with pytest.raises(PulumiNotFoundError) as info:
        find_pulumi(environ={"PATH": str(empty), "HOME": str(tmp_path)})
    message = str(info.value)
    assert "get.pulumi.com" in message and "pulumi.com/docs/install" in message
    assert "INFRA_CHAINS_PULUMI=/path/to/pulumi" in message and "KubernetesTarget(pulumi=...)" in message
    assert "PATH" in message and str(tmp_path / ".pulumi" / "bin") in message


def test_found_on_path_in_env_var_or_explicitly(fake_pulumi: FakePulumi, tmp_path: pathlib.Path) -> None:
    assert find_pulumi() == fake_pulumi.executable
    assert find_pulumi(environ={"INFRA_CHAINS_PULUMI": str(fake_pulumi.bin_dir), "PATH": ""}) == fake_pulumi.executable
    assert find_pulumi(fake_pulumi.executable, environ={"PATH": ""}) == fake_pulumi.executable
    home = tmp_path / "home"
    (home / ".pulumi" / "bin").mkdir(parents=True)
    (home / ".pulumi" / "bin" / "pulumi").symlink_to(fake_pulumi.executable)
    assert find_pulumi(environ={"PATH": "", "HOME": str(home)}).name == "pulumi"


def test_a_wrong_explicit_path_is_an_error_not_a_fallback(fake_pulumi: FakePulumi, tmp_path: pathlib.Path) -> None:
    with pytest.raises(PulumiNotFoundError, match="INFRA_CHAINS_PULUMI '.*nowhere'"):
        find_pulumi(environ={"INFRA_CHAINS_PULUMI": str(tmp_path / "nowhere"), "PATH": str(fake_pulumi.bin_dir)})


def test_run_streams_lines_and_adds_non_interactive(fake_pulumi: FakePulumi) -> None:
    cli = PulumiCli()
    assert cli.version() == "3.200.0"
    lines: list[str] = []
    result = cli.run(["stack", "ls", "--json"], env={"EXTRA": "1"}, on_stdout=lines.append)
    assert result.code == 0 and lines == ["[]"]
    call = fake_pulumi.calls()[-1]
    assert call["argv"] == ["--non-interactive", "stack", "ls", "--json"]
    assert call["env"]["EXTRA"] == "1" and call["env"]["PULUMI_SKIP_UPDATE_CHECK"] == "true"


def test_failure_names_command_code_and_output_tail(fake_pulumi: FakePulumi) -> None:
    fake_pulumi.fail("up")
    with pytest.raises(PulumiCommandError) as info:
        PulumiCli().run(["up", "--yes", "--stack", "dev"])
    error = info.value
    assert error.code == 255
    assert "`pulumi --non-interactive up --yes --stack dev` failed with exit code 255" in str(error)
    assert "the fake engine failed as told" in str(error)
