"""Assets on the docker target: a named volume per chain, filled by a one-off fetch container of
the chainlet's image before the chainlet starts, mounted read-only where the chainlet reads each
asset. Unit tests against the fake engine; one end-to-end run of examples/weights_chain.py on a
real engine (marked docker; skips with the reason when there is none)."""

from __future__ import annotations

import json
import pathlib
import secrets as secrets_module

import httpx
import pytest
from fake_engine import FakeEngine

import infra_chains as chains
from infra_chains.errors import DeploymentError
from infra_chains.framework.loading import load_entrypoint
from infra_chains.serving.contract import CONTRACT_JSON_ENV, RuntimeContract
from infra_chains.targets.docker import containers as names
from infra_chains.targets.docker.target import DockerTarget

EXAMPLE = pathlib.Path(__file__).parents[3] / "examples" / "weights_chain.py"
URL = "https://weights.example.com/tiny/config.json"


def load_example(monkeypatch: pytest.MonkeyPatch, url: str, tmp_path: pathlib.Path) -> type:
    monkeypatch.setenv("WEIGHTS_CHAIN_URL", url)
    path = tmp_path / "ws" / "weights_chain.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EXAMPLE.read_text())
    return load_entrypoint(path)


@pytest.mark.servers  # the fake's containers are tiny HTTP servers on 127.0.0.1
def test_fetch_container_runs_before_the_chainlet_and_its_volume_is_mounted(
    fake_target: DockerTarget, fake_engine: FakeEngine, tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = load_example(monkeypatch, URL, tmp_path)
    chains.push(entry, chain_name="weights", remote=fake_target)
    volume = names.assets_volume("weights")
    assert fake_engine.volume_labels == {volume: {names.LABEL_CHAIN: "weights"}}
    chown, fetch = fake_engine.one_offs
    assert chown.user == "0:0" and chown.command is not None and chown.command[0] == "chown"
    assert chown.cap_drop == ["ALL"] and chown.cap_add == ["CHOWN"]
    assert fetch.user == "0:0"  # the fake engine's image user
    assert fetch.command is not None and fetch.command[1:] == [
        "-m", "infra_chains.fetch", "--items", names.ASSET_ITEMS_PATH, "--cache-root", names.ASSET_CACHE_DIR]
    assert fetch.cap_drop == ["ALL"] and fetch.restart_policy == "no" and fetch.container_port is None
    (items_mount,) = [m for m in fetch.mounts if m.target == names.ASSET_ITEMS_PATH]
    assert [item["source"] for item in json.loads(pathlib.Path(items_mount.source).read_text())] == [URL]
    assert fake_engine.runs[-1] == "DescribeModel"  # after the fetch

    (serving,) = fake_engine.specs.values()
    contract = RuntimeContract.model_validate_json(serving.environment[CONTRACT_JSON_ENV])
    (asset,) = contract.assets
    assert contract.assets_in_place and asset.path == pathlib.Path("/app/data/model/config.json")
    (mount,) = [m for m in serving.mounts if m.type == "volume"]
    assert (mount.source, mount.target, mount.read_only) == (volume, str(asset.path), True)
    assert mount.subpath == f"{asset.item.cache_key()}/config.json"

    chains.push(load_example(monkeypatch, URL, tmp_path / "again"), chain_name="weights", remote=fake_target)
    assert len(fake_engine.one_offs) == 2  # unchanged: no new fetch, the volume kept (no chown)
    assert fake_target.down("weights")
    assert fake_engine.volume_labels == {}


@pytest.mark.servers
def test_a_failed_fetch_fails_the_push_with_its_log_and_starts_nothing(
    fake_target: DockerTarget, fake_engine: FakeEngine, tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = load_example(monkeypatch, URL, tmp_path)
    fetch_name = "weights-bad-describe-model-fetch"
    fake_engine.one_off_results[fetch_name] = (1, [
        "error: asset ExternalDataItem 'model/config.json': GET https://... answered HTTP 404 Not Found"])
    with pytest.raises(DeploymentError) as info:
        chains.push(entry, chain_name="weights-bad", remote=fake_target)
    message = str(info.value)
    assert "Chainlet 'DescribeModel' of chain 'weights-bad': fetching its assets failed (exit code 1)" in message
    assert "HTTP 404" in message
    assert "DescribeModel" not in fake_engine.runs
    assert fake_engine.volume_labels == {}  # a failed first push removes what it made


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_weights_chain_on_a_real_engine(
    docker_engine: object, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file server is a container on the chain's network (a container cannot reach the
    host's 127.0.0.1); the target finds the network already made and keeps it."""
    import docker

    from conftest import BASE_IMAGE

    chain = f"weights-docker-{secrets_module.token_hex(3)}"
    files = tmp_path / "files"
    files.mkdir()
    (files / "config.json").write_text(json.dumps({"model_type": "tiny", "n_embd": 8}))
    files.chmod(0o755)
    client = docker.from_env()
    network = client.networks.create(names.network_name(chain), driver="bridge",
                                      labels={names.LABEL_CHAIN: chain})
    server = client.containers.run(
        BASE_IMAGE, ["python3", "-m", "http.server", "8000", "--directory", "/srv"], detach=True,
        name=f"{chain}-files", volumes={str(files): {"bind": "/srv", "mode": "ro"}},
        network=network.name,
    )
    target = DockerTarget(tmp_path / "state", build_network="host")
    try:
        # On a user-defined network a container's name is its DNS name.
        entry = load_example(monkeypatch, f"http://{chain}-files:8000/config.json", tmp_path)
        service = chains.push(entry, chain_name=chain, remote=target, ready_timeout_sec=180)
        assert service is not None
        response = httpx.post(service.run_remote_url, json={"text": "three small words"}, timeout=60)
        assert response.status_code == 200, response.text
        assert response.json() == "tiny (8-dim) would read 3 words"
        assert client.volumes.list(filters={"label": f"{names.LABEL_CHAIN}={chain}"})
    finally:
        server.remove(force=True)
        target.down(chain)
        try:
            assert client.volumes.list(filters={"label": f"{names.LABEL_CHAIN}={chain}"}) == []
        finally:
            client.close()
