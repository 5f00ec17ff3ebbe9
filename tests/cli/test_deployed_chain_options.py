"""`run`, `status`, `logs` and `down` reach a deployed chain through its `Target`, chosen with the
same `--target` and `--stack` options (cli/options.py) on every command."""

from __future__ import annotations

import shlex

import pytest

from infra_chains.cli.app import main
from infra_chains.cli.options import target_arguments
from infra_chains.deploy import plan_chain
from infra_chains.framework.loading import load_entrypoint
from tests.targets.kubernetes.conftest import FakePulumi, fake_pulumi  # noqa: F401 - the fixture
from tests.targets.kubernetes.test_target import EXAMPLE, SENTINEL, _outputs

COMMANDS = ["run", "status", "logs", "down"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_on_a_deployed_chain_takes_target_and_stack(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--target" in out and "--stack" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_target_is_refused_by_every_command(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "some-chain", "--target", "moon"]) == 2
    assert "Unknown target 'moon'" in capsys.readouterr().err


def test_the_run_command_push_prints_works_on_its_stack(
    fake_pulumi: FakePulumi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    """push prints `infra-chains run NAME --target kubernetes --stack dev ...`: every option of it
    is accepted, and `--stack` picks the stack (another stack has no such chain)."""
    monkeypatch.setenv("pipeline_token", SENTINEL)
    plan = plan_chain(load_entrypoint(EXAMPLE), "text-pipeline", environment="dev")
    fake_pulumi.set_outputs(_outputs(plan))
    assert main(["push", str(EXAMPLE), "--name", "text-pipeline", "--target", "kubernetes",
                 "--stack", "dev"]) == 0
    [printed] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Or:")]
    argv = shlex.split(printed.removeprefix("Or:"))
    assert argv[:2] == ["infra-chains", "run"] and argv[argv.index("--stack") + 1] == "dev"
    argv[argv.index("--stack") + 1] = "prod"
    assert main(argv[1:]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "has no stack 'prod'" in err
    assert main(["logs", "text-pipeline", "--target", "kubernetes", "--stack", "prod"]) == 1
    assert "has no stack 'prod'" in " ".join(capsys.readouterr().err.split())


def test_suggested_command_lines_name_the_target_and_stack() -> None:
    """What push and watch print after `infra-chains run NAME` / `down NAME` (local: nothing)."""
    assert target_arguments("local", None) == ""
    assert target_arguments("docker", None) == " --target docker"
    assert target_arguments("kubernetes", "prod") == " --target kubernetes --stack prod"
    # pushed with --environment only: a stack target deployed to the stack of that name
    assert target_arguments("kubernetes", None, "prod") == " --target kubernetes --stack prod"
    assert target_arguments("kubernetes", "dev", "prod") == " --target kubernetes --stack dev"
    assert target_arguments("local", None, "prod") == ""


def test_build_args_are_for_the_docker_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["push", str(EXAMPLE), "--build-arg", "PIP_INDEX_URL=x"]) == 2
    assert "add --target docker (got --target local)" in " ".join(capsys.readouterr().err.split())


def test_a_build_arg_from_a_missing_environment_variable_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("INFRA_CHAINS_TEST_UNSET_ARG", raising=False)
    argv = ["push", str(EXAMPLE), "--target", "docker", "--build-arg", "INFRA_CHAINS_TEST_UNSET_ARG"]
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "no environment variable INFRA_CHAINS_TEST_UNSET_ARG" in err
