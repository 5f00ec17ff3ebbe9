"""Usage mistakes print a usage message and exit 2, whichever click Typer uses (vendored or not)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from importlib import metadata

import pytest
from typer.testing import CliRunner

from infra_chains.cli.app import app, main

SCRIPT = pathlib.Path(sys.executable).parent / "infra-chains"
MISTAKES = [
    (["push", "--chain-name", "x", "f.py"], "No such option: --chain-name"),
    (["pussh"], "No such command 'pussh'"),
    (["logs", "x", "--lines", "many"], "Invalid value for '--lines'"),
    (["status", "a", "b"], "Got unexpected extra argument"),
]


CONSTRAINTS = pathlib.Path(__file__).resolve().parents[2] / "constraints.txt"


@pytest.mark.parametrize("distribution", ["typer", "click"])
def test_these_tests_run_with_the_cli_libraries_a_fresh_install_gets(distribution: str) -> None:
    """The usage errors below depend on how Typer and click raise them; the README's install
    (and `.ci/run`) resolves them to constraints.txt's pins, so that is what is tested here."""
    pins = dict(
        line.split("==", 1) for line in CONSTRAINTS.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert metadata.version(distribution) == pins[distribution], (
        f"{distribution} {metadata.version(distribution)} is installed but constraints.txt pins "
        f"{pins[distribution]}: pip install -c constraints.txt -e '.[test]'"
    )


@pytest.mark.parametrize(("argv", "message"), MISTAKES)
def test_main_prints_usage_and_exits_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Usage: " in err and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("argv", "message"), MISTAKES)
def test_cli_runner_exits_2(argv: list[str], message: str) -> None:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    assert message in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


@pytest.mark.skipif(not SCRIPT.exists(), reason=f"no console script at {SCRIPT} (not installed)")
@pytest.mark.parametrize(("argv", "message"), MISTAKES[:2])
def test_installed_command_exits_2(argv: list[str], message: str, tmp_path: pathlib.Path) -> None:
    env = {**os.environ, "INFRA_CHAINS_HOME": str(tmp_path)}
    result = subprocess.run([str(SCRIPT), *argv], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Usage: infra-chains" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["push", "--help"]) == 0
    assert "--environment" in capsys.readouterr().out
