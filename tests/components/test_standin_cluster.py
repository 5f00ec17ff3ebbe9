"""The rendered objects of examples/text_pipeline.py *work*: run on the Docker engine as a
stand-in cluster (standin_cluster.py) and called through the entrypoint's Service.

The images are built locally from `write_build_context` and tagged exactly as the rendered pod
specs reference them (``build_images=False``: ``<registry>/<label>:<image_hash>``), so a pod
spec that names the wrong image, contract path, secret mount, user or DNS name fails here.
"""

from __future__ import annotations

import hashlib
import pathlib
import secrets as secrets_module
import sys
import urllib.parse

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
NAMESPACE = "standin"
REGISTRY = "infra-chains-standin"
RUN = secrets_module.token_hex(3)  # unique: another run may share the engine
CHAIN = f"tp-standin-{RUN}"
SENTINEL = f"sentinel-{secrets_module.token_hex(12)}"


def test_rendered_text_pipeline_runs_on_a_standin_cluster() -> None:
    import docker

    from infra_chains.components.settings import StackSettings
    from infra_chains.deploy import plan_chain
    from infra_chains.framework.loading import load_entrypoint
    from infra_chains.testing import render

    engine = standin_cluster.docker_engine()
    settings = StackSettings(namespace=NAMESPACE, build_images=False, registry=REGISTRY,
                             user_env={"mode": "standin"})
    rendered = render(EXAMPLE, settings=settings, secrets={"pipeline_token": SENTINEL}, chain_name=CHAIN)
    manifests = rendered.manifests
    pods = standin_cluster.pods(manifests)
    assert len(pods) == 3 and all(pod.aliases for pod in pods)
    entry_url = rendered.outputs["entrypoint_url"]
    entry_host = urllib.parse.urlsplit(entry_url).hostname
    assert entry_host is not None and entry_host.endswith(f".{NAMESPACE}.svc.cluster.local")
    image_refs = dict(rendered.outputs["image_refs"])
    assert all(reference.startswith(f"{REGISTRY}/") for reference in image_refs.values())
    plan = plan_chain(load_entrypoint(EXAMPLE), CHAIN, user_env=settings.user_env,
                      environment=settings.environment or "dev")
    tagged: list[str] = []
    try:
        tagged = standin_cluster.build_images(engine, plan, image_refs)
        assert sorted(pod.container["image"] for pod in pods) == sorted(tagged)
        result = standin_cluster.run_and_call(manifests, entry_url, standin_cluster.TEXT_PIPELINE_DOCUMENT, run=RUN, never_shown=SENTINEL)
        # The entrypoint reached Chunker and Summarizer by their Service DNS names; user_env came
        # from the ConfigMap's contract, and the secret from the Secret mounted at its path.
        assert result["mode"] == "standin" and result["total_words"] == 6 and result["chunks"] == 3
        expected_tag = hashlib.sha256(SENTINEL.encode()).hexdigest()[:8]
        assert {s["tag"] for s in result["summaries"]} == {expected_tag}
    finally:
        client = docker.from_env()
        for reference in tagged:
            try:
                client.api.remove_image(reference, noprune=True)
            except docker.errors.APIError:
                pass
        client.close()
