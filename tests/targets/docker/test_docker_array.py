"""The docker target on a real engine: examples/array_stats.py (numpy in both images) built, run,
called with a JSON array through its published entrypoint, and taken down. One push: a cold build
installs numpy, which takes minutes on CI's vfs storage.
"""

from __future__ import annotations

import pathlib
import secrets as secrets_module

import httpx
import pytest

import infra_chains as chains
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.docker.target import DockerTarget

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    # As in test_docker_engine: the docker SDK leaves pooled unix sockets to the garbage collector.
    pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

EXAMPLE = pathlib.Path(__file__).parents[3] / "examples" / "array_stats.py"
# Columns (1, 4), (3, 8), (5, 12): normalized per column to (-1, 0, 1) * 1.2247..., so the whole
# batch has mean 0 and std 1 exactly; a chain that skipped the Normalizer would not.
BATCH = [[1.0, 4.0], [3.0, 8.0], [5.0, 12.0]]


def test_array_chain_answers_json_and_down_leaves_nothing(
    docker_engine: object, tmp_path: pathlib.Path
) -> None:
    import docker

    chain = f"arrays-docker-{secrets_module.token_hex(3)}"  # unique: another run may share the engine
    target = DockerTarget(tmp_path / "state", build_network="host")
    client = docker.from_env()
    labelled = {"label": f"infra-chains.chain={chain}"}
    try:
        service = chains.push(load_entrypoint(EXAMPLE), chain_name=chain, remote=target,
                              ready_timeout_sec=180)
        assert service is not None
        assert service.run_remote_url.startswith("http://127.0.0.1:")
        response = httpx.post(service.run_remote_url, json={"batch": BATCH}, timeout=60)
        assert response.status_code == 200, response.text
        stats = response.json()
        assert stats["shape"] == [3, 2]
        assert abs(stats["mean"]) < 1e-5 and abs(stats["std"] - 1.0) < 1e-5  # float32
        names = {c.labels["infra-chains.chainlet"] for c in client.containers.list(filters=labelled)}
        assert names == {"BatchStats", "Normalizer"}
    finally:
        target.down(chain)
    try:
        assert client.containers.list(all=True, filters=labelled) == []
        assert client.networks.list(names=[f"infra-chains-{chain}"]) == []
        assert chain not in target.chains()
    finally:
        client.close()
