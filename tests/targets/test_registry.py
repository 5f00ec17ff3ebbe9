"""Target names -> targets; `push`'s ``remote`` as a name or an instance."""

from __future__ import annotations

import pathlib

import pytest

from infra_chains.errors import ChainsUsageError
from infra_chains.targets.base import Target
from infra_chains.targets.local import LocalTarget
from infra_chains.targets.registry import get_target, resolve_target


def test_default_is_local() -> None:
    assert isinstance(get_target(None), LocalTarget)
    assert isinstance(get_target("LOCAL"), LocalTarget)


def test_options_reach_the_target(tmp_path: pathlib.Path) -> None:
    target = get_target("local", root=tmp_path)
    assert isinstance(target, LocalTarget)
    assert target.chains() == []
    (tmp_path / "chains" / "mine").mkdir(parents=True)
    assert target.chains() == ["mine"]


def test_unknown_option_is_a_usage_error() -> None:
    with pytest.raises(ChainsUsageError, match="Invalid option for the 'local' target"):
        get_target("local", colour="blue")


def test_kubernetes_options_are_checked() -> None:
    with pytest.raises(ChainsUsageError, match="Invalid option for the 'kubernetes' target"):
        get_target("kubernetes", colour="blue")


def test_unknown_target_lists_choices() -> None:
    with pytest.raises(ChainsUsageError, match="Unknown target 'moon'; choose one of: local, docker"):
        get_target("moon")


def test_an_instance_is_used_as_it_is(tmp_path: pathlib.Path) -> None:
    target = LocalTarget(root=tmp_path)
    assert resolve_target(target) is target
    assert isinstance(resolve_target("local"), Target)
    with pytest.raises(ChainsUsageError, match="only apply to a target given by name"):
        resolve_target(target, root=tmp_path)


def test_directories_that_are_not_chain_names_are_not_chains(tmp_path: pathlib.Path) -> None:
    for name in ("hello", "Bad_Name", ".hidden"):
        (tmp_path / "chains" / name).mkdir(parents=True)
    assert LocalTarget(root=tmp_path).chains() == ["hello"]
