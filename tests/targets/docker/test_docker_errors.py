"""The docker target's clear errors, from a real engine: a failing build step (named, with its last
output lines), a base image that is neither there nor pullable, a port another program holds, a
GPU on an engine without the NVIDIA runtime. (Marked docker; skips with the reason when there is
no engine.) Each builds at most a two-step image, so the module takes seconds.
"""

from __future__ import annotations

import pathlib
import secrets as secrets_module
import socket

import pytest

import infra_chains as chains
from infra_chains.errors import DeploymentError
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.docker.engine import (
    BaseImageMissingError,
    BuildFailedError,
    ContainerSpec,
    DockerEngine,
    PortInUseError,
)
from infra_chains.targets.docker.target import DockerTarget

pytestmark = [
    pytest.mark.docker,
    # As in test_docker_engine: the docker SDK leaves pooled unix sockets to the garbage collector.
    pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

BASE_IMAGE = "python:3.11-slim"


def test_a_failing_build_step_is_named_with_its_last_output_lines(
    docker_engine: DockerEngine, tmp_path: pathlib.Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\n"
        "RUN echo first-words && echo last-words && exit 3\n"
    )
    tag = f"infra-chains/errors-test:{secrets_module.token_hex(4)}"
    with pytest.raises(BuildFailedError) as caught:
        docker_engine.build(str(tmp_path), tag, network=None, build_args={})
    message = str(caught.value)
    assert f"Building image {tag} from {tmp_path} failed at Step 2/2 : RUN echo first-words" in message
    assert "returned a non-zero code: 3" in message
    tail = message.split("Last lines of the build output:\n", 1)[1]
    assert "  | first-words" in tail and "  | last-words" in tail
    assert docker_engine.image_id(tag) is None


def test_a_base_image_neither_there_nor_pullable_says_what_to_do(docker_engine: DockerEngine) -> None:
    missing = f"infra-chains-test/no-such-base:{secrets_module.token_hex(4)}"
    with pytest.raises(BaseImageMissingError, match=f"(?s)Base image '{missing}' is not on the Docker "
                       f"engine and pulling it failed: .*`docker pull {missing}`"):
        docker_engine.ensure_base_image(missing)


def test_publishing_a_port_in_use_is_a_clear_error(docker_engine: DockerEngine) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        name = f"infra-chains-port-test-{secrets_module.token_hex(3)}"
        docker_engine.ensure_network(name, {})  # a user-defined bridge, as the target's
        spec = ContainerSpec(name=name, image=BASE_IMAGE, labels={}, environment={}, network=name,
                             aliases=[], container_port=8080, host_port=port, restart_policy="no",
                             command=["sleep", "30"])
        try:
            with pytest.raises(PortInUseError, match=f"cannot publish 127.0.0.1:{port}: the port is in use"):
                docker_engine.run(spec)
            assert docker_engine.container(name) is None  # nothing left behind
        finally:
            docker_engine.remove(name, stop_timeout_sec=0)
            docker_engine.remove_network(name)


GPU_CHAIN = '''
import infra_chains as chains


@chains.mark_entrypoint
class Gpu(chains.ChainletBase):
    remote_config = chains.RemoteConfig(compute=chains.Compute(gpu="T4"))

    def run_remote(self, x: int) -> int:
        return x
'''


def test_a_gpu_on_an_engine_without_the_nvidia_runtime_fails_before_building(
    docker_engine: DockerEngine, tmp_path: pathlib.Path
) -> None:
    if "nvidia" in docker_engine.runtimes():
        pytest.skip("this engine has the NVIDIA runtime")
    path = tmp_path / "gpu_chain.py"
    path.write_text(GPU_CHAIN)
    target = DockerTarget(tmp_path / "state", engine=docker_engine)
    chain = f"gpu-{secrets_module.token_hex(3)}"
    with pytest.raises(DeploymentError, match="Gpu .*ask for a GPU, but the Docker engine has no NVIDIA "
                       "runtime.*nvidia-ctk runtime configure"):
        chains.push(load_entrypoint(path), chain_name=chain, remote=target)
    assert chain not in target.chains()
