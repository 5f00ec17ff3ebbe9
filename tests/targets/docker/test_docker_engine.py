"""The docker target on a real engine: examples/text_pipeline.py built, run and called.

One chain is pushed once per module (cold builds take minutes on CI's vfs storage) and the tests
run in order on it: call it, look for a sentinel secret (and a build argument's value) in every
image layer, image history and inspect output, check the chainlets' images share their dependency
layers, SIGKILL a chainlet, re-push with the entrypoint edited, follow the logs and take it down.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import secrets as secrets_module
import shutil
import signal
import tarfile
import threading
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
#: A private index's credentials in a build argument: pip skips a file:// index that does not
#: exist, and a fixed value keeps the engine's build cache warm from one run to the next.
BUILD_ARG_SENTINEL = "build-arg-sentinel-3c9e"
BUILD_ARGS = {"PIP_EXTRA_INDEX_URL": f"file:///nonexistent/user:{BUILD_ARG_SENTINEL}@index/simple"}
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
    target = DockerTarget(tmp_path_factory.mktemp("docker-state"), build_network="host",
                          build_args=BUILD_ARGS)
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
    for container in containers.values():  # published on loopback only
        bindings = [b for found in container.attrs["NetworkSettings"]["Ports"].values() for b in found or []]
        assert bindings and {b["HostIp"] for b in bindings} == {"127.0.0.1"}, container.name


def test_chainlets_with_equal_requirements_share_their_dependency_layers(pushed: Pushed) -> None:
    """Base, user and installed venv: the same layers (built once) under every chainlet's image."""
    base = pushed.client.images.get("python:3.11-slim").attrs["RootFS"]["Layers"]
    layers = [c.image.attrs["RootFS"]["Layers"] for c in pushed.containers().values()]
    shared = len(os.path.commonprefix(layers))
    assert shared >= len(base) + 2, (len(base), [len(x) for x in layers])


def test_chainlets_run_as_the_images_user_over_root_owned_source(pushed: Pushed) -> None:
    for container in pushed.containers().values():
        assert container.attrs["Config"]["User"] == "10001:10001"
        assert container.attrs["Config"]["Healthcheck"]["Test"][0] == "CMD"  # the image's HEALTHCHECK
        stream, _ = container.get_archive("/app/workspace/text_pipeline.py")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.getmembers()[0]
        assert (member.uid, member.mode & 0o777) == (0, 0o644), container.name


def test_the_secret_is_in_no_inspect_output_and_no_image_layer(pushed: Pushed) -> None:
    """Nor is the build argument's value: the engine records build args in the history of each
    RUN of their stage, so the image must not be the stage that declares them."""
    for container in pushed.containers().values():
        assert SENTINEL not in json.dumps(pushed.client.api.inspect_container(container.id))
        image = container.attrs["Config"]["Image"]
        for value in (SENTINEL, BUILD_ARG_SENTINEL):
            assert value not in json.dumps(pushed.client.api.inspect_image(image))
            assert value not in json.dumps(pushed.client.api.history(image))
        tails = {SENTINEL: b"", BUILD_ARG_SENTINEL: b""}
        # `docker save`: every layer, uncompressed, and the image config.
        for chunk in pushed.client.api.get_image(image):
            for value, tail in tails.items():
                assert value.encode() not in tail + chunk, f"{value} found in {image}'s saved image"
                tails[value] = chunk[-len(value):]


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
    followed: list[str] = []
    stream = pushed.target.logs(CHAIN, "Summarizer", follow=True, lines=1)
    followed.append(next(stream).text)  # `logs -f`: the last line, then waits for more...
    reader = threading.Thread(target=lambda: followed.extend(line.text for line in stream), daemon=True)
    reader.start()
    assert pushed.target.down(CHAIN) is True
    reader.join(timeout=30)
    assert not reader.is_alive(), "logs --follow did not end when the chain was taken down"
    # ...and gets the lines the chainlet writes as it drains (SIGTERM), then ends.
    assert any("chainlet Summarizer stopped" in line for line in followed[1:]), followed
    assert pushed.containers() == {}
    assert not pushed.client.networks.list(names=[f"infra-chains-{CHAIN}"])
    assert not any(pathlib.Path(d).exists() for d in run_dirs)
    assert CHAIN not in pushed.target.chains()
