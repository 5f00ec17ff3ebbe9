"""The engine wrapper's errors, without an engine."""

from __future__ import annotations

import pathlib

import pytest

from infra_chains.targets.docker.engine import (
    VOLUME_SUBPATH_API,
    DockerEngine,
    EngineUnavailableError,
    Healthcheck,
    _api_version,
    _device_requests,
    _engine_address,
    _healthcheck,
)
from infra_chains.targets.docker.target import DockerTarget


def test_no_engine_says_what_to_start(tmp_path: pathlib.Path) -> None:
    address = f"unix://{tmp_path}/no-docker.sock"
    with pytest.raises(EngineUnavailableError, match="(?s)No Docker engine answers at unix://.*DOCKER_HOST"):
        DockerEngine(address)
    target = DockerTarget(tmp_path, base_url=address)  # made without an engine: fails on use
    with pytest.raises(EngineUnavailableError, match="Start the engine"):
        target.chains()


def test_no_engine_at_docker_host_names_that_address(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/stopped.sock")
    with pytest.raises(EngineUnavailableError, match=f"at unix://{tmp_path}/stopped.sock \\(from DOCKER_HOST\\)"):
        DockerEngine()
    assert _engine_address(None, {}) == "unix:///var/run/docker.sock (DOCKER_HOST is unset)"
    assert _engine_address("tcp://10.0.0.2:2375", {"DOCKER_HOST": "x"}) == "tcp://10.0.0.2:2375"


@pytest.mark.parametrize(("text", "expected"), [("1.41", (1, 41)), ("1.45", (1, 45)), ("", (0, 0)), ("x.y", (0, 0))])
def test_api_versions_compare_as_numbers(text: str, expected: tuple[int, int]) -> None:
    # 1.41 (Engine 20.10, Debian 12's docker.io) has no volume subpaths: the engine binds them.
    assert _api_version(text) == expected
    assert (_api_version(text) >= VOLUME_SUBPATH_API) == (expected >= (1, 45))


def test_a_healthcheck_override_keeps_the_images_command() -> None:
    docker_types = pytest.importorskip("docker.types", reason="the Docker SDK is not installed")
    check = Healthcheck(interval_sec=5, timeout_sec=3, retries=7, start_period_sec=60)
    config = docker_types.ContainerConfig("1.41", "image", None, healthcheck=_healthcheck(check))
    # No Test: the engine merges the image's HEALTHCHECK command in; durations in nanoseconds.
    assert config["Healthcheck"] == {"Test": None, "Interval": 5_000_000_000, "Timeout": 3_000_000_000,
                                     "Retries": 7, "StartPeriod": 60_000_000_000}
    assert _healthcheck(None) is None


def test_gpus_are_an_nvidia_device_request_as_docker_run_gpus_makes_it() -> None:
    docker_types = pytest.importorskip("docker.types", reason="the Docker SDK is not installed")
    assert _device_requests(docker_types, 0) is None
    [request] = _device_requests(docker_types, 2) or []
    assert request == {"Driver": "nvidia", "Count": 2, "DeviceIDs": [], "Capabilities": [["gpu"]],
                       "Options": {}}
