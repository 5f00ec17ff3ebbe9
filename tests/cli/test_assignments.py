"""``KEY=VALUE`` options and ``.env`` files, read by the CLI."""

from __future__ import annotations

import pathlib

import pytest

from infra_chains.cli.assignments import build_arguments, parse_assignments, parse_env_file
from infra_chains.errors import ChainsUsageError


def test_env_file_parsing(tmp_path: pathlib.Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# comment\nexport A=1\nB = 'two words'\nC=\"x=y\"\n\n")
    assert parse_env_file(path) == {"A": "1", "B": "two words", "C": "x=y"}


def test_env_file_bad_line_names_file_and_line(tmp_path: pathlib.Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\nnot an assignment\n")
    with pytest.raises(ChainsUsageError, match=r"\.env:2: expected KEY=VALUE"):
        parse_env_file(path)


def test_unreadable_env_file_is_named(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ChainsUsageError, match="Cannot read secrets file .*missing.env"):
        parse_env_file(tmp_path / "missing.env")


def test_assignment_without_equals_is_rejected() -> None:
    with pytest.raises(ChainsUsageError, match="--secret expects KEY=VALUE"):
        parse_assignments(["token"], "--secret")


def test_assignment_value_may_hold_equals() -> None:
    assert parse_assignments(["a=b=c", "e="], "--user-env") == {"a": "b=c", "e": ""}


def test_build_arguments_take_values_given_or_from_the_environment() -> None:
    environ = {"PIP_INDEX_URL": "https://token@pypi.example/simple"}
    given = ["PIP_INDEX_URL", "EXTRA=a=b", "EMPTY="]
    assert build_arguments(given, environ) == {
        "PIP_INDEX_URL": "https://token@pypi.example/simple", "EXTRA": "a=b", "EMPTY": ""}


def test_a_build_argument_named_without_a_value_needs_its_environment_variable() -> None:
    with pytest.raises(ChainsUsageError, match="--build-arg PIP_INDEX_URL: no environment variable PIP_INDEX_URL"):
        build_arguments(["PIP_INDEX_URL"], {})
    with pytest.raises(ChainsUsageError, match="expects NAME=VALUE or NAME"):
        build_arguments(["=value"], {})
