"""The rendered objects of examples/text_pipeline.py *work*: run on the Docker engine as a
stand-in cluster (standin_cluster.py) and called through the entrypoint's Service.

The images are built locally from `write_build_context` and tagged exactly as the rendered pod
specs reference them (``build_images=False``: ``<registry>/<label>:<image_hash>``), so a pod
spec that names the wrong image, contract path, secret mount, user or DNS name fails here.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import secrets as secrets_module
import sys
import tempfile
import urllib.parse
import urllib.request
from typing import Any

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))  # standin_cluster, beside this file

import standin_cluster  # noqa: E402

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    # The docker SDK leaves pooled unix-socket connections to the garbage collector.
    pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "text_pipeline.py"
BASE_IMAGE = "python:3.11-slim"
NAMESPACE = "standin"
REGISTRY = "infra-chains-standin"
RUN = secrets_module.token_hex(3)  # unique: another run may share the engine
CHAIN = f"tp-standin-{RUN}"
SENTINEL = f"sentinel-{secrets_module.token_hex(12)}"
DOCUMENT = {"document": {"text": "One two. Three four five. Six.", "max_chunk_chars": 12}}
BUILD_NETWORK_ENV = "INFRA_CHAINS_DOCKER_BUILD_NETWORK"
#: The network the builds' pip reaches PyPI through: the engine scripts/ci-docker starts has no
#: default bridge (as the docker target's tests, host unless the environment names another).
BUILD_NETWORK = os.environ.get(BUILD_NETWORK_ENV) or "host"


def _engine() -> Any:
    from infra_chains.targets.docker.engine import DockerEngine, EngineUnavailableError

    try:
        engine = DockerEngine()
    except EngineUnavailableError as exc:
        pytest.skip(f"no usable Docker engine ({str(exc).splitlines()[0]})")
    if engine.image_id(BASE_IMAGE) is None:
        pytest.skip(f"no usable Docker engine (base image {BASE_IMAGE} is missing)")
    return engine


def _build_images(engine: Any, settings: Any, image_refs: dict[str, str]) -> list[str]:
    """Build every chainlet's image as CI would and tag it with the reference the pods run."""
    from infra_chains.build.context import write_build_context
    from infra_chains.deploy import plan_chain
    from infra_chains.framework.loading import load_entrypoint

    plan = plan_chain(load_entrypoint(EXAMPLE), CHAIN, user_env=settings.user_env,
                      environment=settings.environment or "dev")
    tagged: list[str] = []
    for spec in plan.chainlets:
        reference = image_refs[spec.name]
        assert reference.startswith(f"{REGISTRY}/") and reference.endswith(f":{spec.image_hash}")
        engine.ensure_base_image(spec.image.base_image)
        with tempfile.TemporaryDirectory(prefix="infra-chains-standin-") as tmp:
            context = write_build_context(plan, spec, pathlib.Path(tmp) / "context")
            tagged.append(reference)
            engine.build(str(context.directory), reference, network=BUILD_NETWORK,
                         build_args={})
    return tagged


def test_rendered_text_pipeline_runs_on_a_standin_cluster() -> None:
    import docker

    from infra_chains.components.settings import StackSettings
    from infra_chains.testing import render

    engine = _engine()
    settings = StackSettings(namespace=NAMESPACE, build_images=False, registry=REGISTRY,
                             user_env={"mode": "standin"})
    rendered = render(EXAMPLE, settings=settings, secrets={"pipeline_token": SENTINEL}, chain_name=CHAIN)
    manifests = rendered.manifests
    pods = standin_cluster.pods(manifests)
    assert len(pods) == 3 and all(pod.aliases for pod in pods)
    entry_host = urllib.parse.urlsplit(rendered.outputs["entrypoint_url"]).hostname
    assert entry_host is not None and entry_host.endswith(f".{NAMESPACE}.svc.cluster.local")
    entry_pod = next(pod for pod in pods if entry_host in pod.aliases)

    client = docker.from_env()
    network = f"infra-chains-standin-{RUN}"
    labels = {"infra-chains.standin": RUN}
    containers: dict[str, str] = {}
    tagged: list[str] = []
    try:
        tagged = _build_images(engine, settings, dict(rendered.outputs["image_refs"]))
        assert sorted(pod.container["image"] for pod in pods) == sorted(tagged)
        client.networks.create(network, driver="bridge", labels=labels, check_duplicate=True)
        for pod in pods:
            containers[pod.deployment] = standin_cluster.create_container(
                client, pod, name=f"{pod.deployment}-{RUN}", network=network, labels=labels,
                manifests=manifests, publish=pod is entry_pod)
        for pod in pods:
            client.api.start(containers[pod.deployment])
        for pod in pods:
            standin_cluster.wait_probes(client, pod, containers[pod.deployment], network, deadline_sec=120)

        entry_port = entry_pod.port(entry_pod.container["ports"][0]["containerPort"])
        binding = client.api.inspect_container(containers[entry_pod.deployment])["NetworkSettings"]["Ports"]
        host_port = int(binding[f"{entry_port}/tcp"][0]["HostPort"])
        request = urllib.request.Request(
            f"http://127.0.0.1:{host_port}/run_remote", data=json.dumps(DOCUMENT).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (http only)
            result = json.loads(response.read())
        # The entrypoint reached Chunker and Summarizer by their Service DNS names; user_env came
        # from the ConfigMap's contract, and the secret from the Secret mounted at its path.
        assert result["mode"] == "standin" and result["total_words"] == 6 and result["chunks"] == 3
        expected_tag = hashlib.sha256(SENTINEL.encode()).hexdigest()[:8]
        assert {s["tag"] for s in result["summaries"]} == {expected_tag}
        for container_id in containers.values():  # no secret on any command line or in any env
            assert SENTINEL not in json.dumps(client.api.inspect_container(container_id))
    finally:
        for container_id in containers.values():
            try:
                client.api.remove_container(container_id, force=True)
            except docker.errors.NotFound:
                pass
        for found in client.networks.list(names=[network]):
            found.remove()
        for reference in tagged:
            try:
                client.api.remove_image(reference, noprune=True)
            except docker.errors.APIError:
                pass
        client.close()
