"""The engine wrapper's errors, without an engine."""

from __future__ import annotations

import pathlib

import pytest

from infra_chains.targets.docker.engine import DockerEngine, EngineUnavailableError
from infra_chains.targets.docker.target import DockerTarget


def test_no_engine_says_what_to_start(tmp_path: pathlib.Path) -> None:
    address = f"unix://{tmp_path}/no-docker.sock"
    with pytest.raises(EngineUnavailableError, match="(?s)No Docker engine answers at unix://.*DOCKER_HOST"):
        DockerEngine(address)
    target = DockerTarget(tmp_path, base_url=address)  # made without an engine: fails on use
    with pytest.raises(EngineUnavailableError, match="Start the engine"):
        target.chains()
