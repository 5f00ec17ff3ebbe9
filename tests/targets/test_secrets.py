"""Secret values: gathered, checked before anything starts, written as private files."""

from __future__ import annotations

import pathlib
import stat

import pytest

from infra_chains.errors import ChainsUsageError
from infra_chains.plan.models import ChainPlan
from infra_chains.targets.secrets import (
    MissingSecretsError,
    resolve_secrets,
    write_secret_files,
)


def plan_with_secrets(**by_chainlet: list[str]) -> ChainPlan:
    chainlets = []
    for name, keys in by_chainlet.items():
        chainlets.append({
            "name": name, "is_entrypoint": False,
            "image": {"base_image": "python:3.11-slim", "sources": {"code": "s"},
                      "runtime": {"version": "0", "digest": "r"}, "template_version": 1},
            "deployment": {
                "import_path": f"m:{name}", "assets": {"secret_keys": keys},
                "compute": {"cpu_count": 1, "memory": "2Gi", "memory_bytes": 1, "gpu": None,
                            "gpu_count": 0, "predict_concurrency": 1},
            },
            "image_hash": "i", "deployment_hash": "d", "content_hash": "h",
        })
    return ChainPlan.model_validate({
        "chain_name": "c", "entrypoint": next(iter(by_chainlet)), "user_env": {},
        "workspace_dir": "/w", "chainlets": chainlets,
    })


def test_secrets_come_from_values_then_environment() -> None:
    plan = plan_with_secrets(A=["token", "hf_key"])
    values = resolve_secrets(plan, {"token": "t"}, environ={"HF_KEY": "h"})
    assert values == {"token": "t", "hf_key": "h"}


def test_missing_secrets_are_all_listed_with_their_chainlets() -> None:
    plan = plan_with_secrets(A=["token"], B=["token", "other"])
    with pytest.raises(ChainsUsageError) as info:
        resolve_secrets(plan, {}, environ={})
    message = str(info.value)
    assert "'token' (used by A, B)" in message and "'other' (used by B)" in message
    assert "nothing was started" in message
    # The library speaks its own language; CLI option names are the CLI's to add.
    assert "secrets=" in message and "--secret" not in message
    assert isinstance(info.value, MissingSecretsError)
    assert info.value.missing == {"token": ["A", "B"], "other": ["B"]}
    assert "--secret KEY" in str(info.value.with_hint("Pass each as --secret KEY=VALUE."))


def test_secret_files_are_private_and_exact(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "secrets" / "A"
    assert write_secret_files(directory, {"token": "t", "old": "o"}) is True
    assert write_secret_files(directory, {"token": "t", "old": "o"}) is False
    assert write_secret_files(directory, {"token": "t2"}) is True
    assert sorted(p.name for p in directory.iterdir()) == ["token"]
    assert (directory / "token").read_text() == "t2"
    assert stat.S_IMODE((directory / "token").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_read_or_create_private_makes_once_and_keeps(tmp_path: pathlib.Path) -> None:
    from infra_chains.targets.secrets import read_or_create_private

    path = tmp_path / "keys" / "key"
    made: list[int] = []

    def make() -> bytes:
        made.append(1)
        return b"k" * 32

    assert read_or_create_private(path, make) == b"k" * 32
    assert read_or_create_private(path, lambda: b"other") == b"k" * 32  # kept, not remade
    assert made == [1]
    assert path.stat().st_mode & 0o777 == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["key"]  # no temporary file left
