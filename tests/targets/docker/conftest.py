"""Docker-target fixtures: a fake engine for unit tests, and a real engine + base image for the
``docker``-marked tests, which skip with the reason when there is none.

The real engine and its base image come from `scripts/ci-docker start` (root; `.ci/run` calls it):
no registry is reachable here, so the base image the test chains ask for (``python:3.11-slim``,
BasetenImage.PY311) is a local Debian rootfs, and builds reach PyPI with host networking.
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))  # fake_engine, beside this file

from fake_engine import FakeEngine  # noqa: E402

from infra_chains.targets.docker.target import DockerTarget  # noqa: E402

BASE_IMAGE = "python:3.11-slim"
CI_STATE = pathlib.Path("/var/cache/infra-chains-ci")


@pytest.fixture
def fake_engine() -> Iterator[FakeEngine]:
    engine = FakeEngine()
    yield engine
    engine.close()


@pytest.fixture
def fake_target(tmp_path: pathlib.Path, fake_engine: FakeEngine) -> DockerTarget:
    return DockerTarget(tmp_path / "state", engine=fake_engine)


def _why_no_engine(detail: str) -> str:
    note = CI_STATE / "unavailable"
    setup = note.read_text().strip() if note.is_file() else "run `sudo scripts/ci-docker start`"
    return f"no usable Docker engine ({detail}); {setup}"


@pytest.fixture(scope="session")
def docker_engine() -> object:
    """The real engine (a `DockerEngine`), or a skip saying why there is none."""
    from infra_chains.targets.docker.engine import DockerEngine, EngineUnavailableError

    try:
        engine = DockerEngine()
    except EngineUnavailableError as exc:
        pytest.skip(_why_no_engine(str(exc).splitlines()[0]))
    if engine.image_id(BASE_IMAGE) is None:
        pytest.skip(_why_no_engine(f"base image {BASE_IMAGE} is missing"))
    return engine
