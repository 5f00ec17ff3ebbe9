"""The docker target on a real engine: examples/text_pipeline.py built, run and called.

One chain is pushed once per module (cold builds take minutes on CI's vfs storage) and the tests
run in order on it: call it, look for a sentinel secret in every image layer and every inspect
output, SIGKILL a chainlet, re-push with the entrypoint edited, take it down.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import secrets as secrets_module
import shutil
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

import infra_chains as chains
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.docker.target import DockerTarget

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    # The docker SDK leaves some pooled unix-socket connections (image export, inspect) to the
    # garbage collector; with warnings as errors that would fail whichever test the GC ran in.
    pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

EXAMPLE = pathlib.Path(__file__).parents[3] / "examples" / "text_pipeline.py"
CHAIN = f"tp-docker-{secrets_module.token_hex(3)}"  # unique: another run may share the engine
SENTINEL = f"sentinel-{secrets_module.token_hex(12)}"
DOCUMENT = {"document": {"text": "One two. Three four five. Six.", "max_chunk_chars": 12}}


class Pushed:
    def __init__(self, target: DockerTarget, chain_file: pathlib.Path, client: Any) -> None:
        self.target, self.chain_file, self.client = target, chain_file, client

    def push(self) -> chains.ChainService:
        service = chains.push(load_entrypoint(self.chain_file), chain_name=CHAIN, remote=self.target,
                              secrets={"pipeline_token": SENTINEL}, user_env={"mode": "docker"},
                              ready_timeout_sec=120)
        assert service is not None
        return service

    def containers(self) -> dict[str, Any]:
        found = self.client.containers.list(all=True, filters={"label": f"infra-chains.chain={CHAIN}"})
        return {c.labels["infra-chains.chainlet"]: c for c in found}


@pytest.fixture(scope="module")
def pushed(docker_engine: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    import docker

    workspace = tmp_path_factory.mktemp("docker-ws")
    chain_file = workspace / "text_pipeline.py"
    shutil.copy(EXAMPLE, chain_file)
    target = DockerTarget(tmp_path_factory.mktemp("docker-state"), build_network="host")
    client = docker.from_env()
    state = Pushed(target, chain_file, client)
    try:
        state.push()
        yield state
    finally:
        target.down(CHAIN)
        client.close()


def _answer_ok(service: chains.ChainService) -> None:
    result = service.run_remote(DOCUMENT)
    assert result["mode"] == "docker" and result["total_words"] == 6 and result["chunks"] == 3
    expected_tag = hashlib.sha256(SENTINEL.encode()).hexdigest()[:8]
    assert {s["tag"] for s in result["summaries"]} == {expected_tag}  # the secret reached it


def test_chain_answers_through_its_published_entrypoint(pushed: Pushed) -> None:
    service = pushed.target.service(CHAIN)
    assert service.run_remote_url.startswith("http://127.0.0.1:")
    _answer_ok(service)
    status = pushed.target.status(CHAIN)
    assert status.ready and status.entrypoint == "TextPipeline"
    containers = pushed.containers()
    assert sorted(containers) == ["Chunker", "Summarizer", "TextPipeline"]
    assert containers["Summarizer"].name == f"{CHAIN}-summarizer"
    assert pushed.client.networks.list(names=[f"infra-chains-{CHAIN}"])
    assert any(line.chainlet == "Summarizer" for line in pushed.target.logs(CHAIN, lines=5))


def test_the_secret_is_in_no_inspect_output_and_no_image_layer(pushed: Pushed) -> None:
    sentinel = SENTINEL.encode()
    for container in pushed.containers().values():
        assert SENTINEL not in json.dumps(pushed.client.api.inspect_container(container.id))
        image = container.attrs["Config"]["Image"]
        assert SENTINEL not in json.dumps(pushed.client.api.inspect_image(image))
        tail = b""
        for chunk in pushed.client.api.get_image(image):  # `docker save`: every layer, uncompressed
            assert sentinel not in tail + chunk, f"secret found in a layer of {image}"
            tail = chunk[-len(sentinel):]


def test_a_sigkilled_chainlet_comes_back(pushed: Pushed) -> None:
    summarizer = pushed.containers()["Summarizer"]
    os.kill(summarizer.attrs["State"]["Pid"], signal.SIGKILL)  # a crash, not an API stop
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        summarizer.reload()
        info = next(c for c in pushed.target.status(CHAIN).chainlets if c.name == "Summarizer")
        if summarizer.attrs["RestartCount"] >= 1 and info.status == "ready":
            break
        time.sleep(0.5)
    assert summarizer.attrs["RestartCount"] >= 1 and info.status == "ready", info
    _answer_ok(pushed.target.service(CHAIN))


def test_a_repush_with_one_chainlet_edited_replaces_only_it(pushed: Pushed) -> None:
    before = {name: (c.id, c.image.id) for name, c in pushed.containers().items()}
    url = pushed.target.service(CHAIN).run_remote_url
    source = pushed.chain_file.read_text()
    pushed.chain_file.write_text(source.replace(
        "        self._chunker, self._summarizer = chunker, summarizer",
        "        self._chunker, self._summarizer = chunker, summarizer\n        self._edited = True"))
    service = pushed.push()
    after = {name: (c.id, c.image.id) for name, c in pushed.containers().items()}
    assert after["Chunker"] == before["Chunker"] and after["Summarizer"] == before["Summarizer"]
    assert after["TextPipeline"][0] != before["TextPipeline"][0]  # a new container
    assert after["TextPipeline"][1] != before["TextPipeline"][1]  # from a new image
    assert service.run_remote_url == url  # the entrypoint's port is kept
    _answer_ok(service)


def test_down_leaves_no_container_network_or_secret_file(pushed: Pushed) -> None:
    run_dirs = [m["Source"] for c in pushed.containers().values() for m in c.attrs["Mounts"]]
    assert run_dirs and all(pathlib.Path(d).exists() for d in run_dirs)
    assert pushed.target.down(CHAIN) is True
    assert pushed.containers() == {}
    assert not pushed.client.networks.list(names=[f"infra-chains-{CHAIN}"])
    assert not any(pathlib.Path(d).exists() for d in run_dirs)
    assert CHAIN not in pushed.target.chains()
