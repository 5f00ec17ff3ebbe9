"""Assets in the Kubernetes render: examples/weights_chain.py gets an init container fetching on
the chainlet's own image into the `assets` volume (emptyDir, or a claim when the stack names a
storage class), the serving container mounts the file where the chainlet reads it, the items file
rides in the contract ConfigMap, and the rollout's deadlines grow by the fetch allowance. Every
object passes the Kubernetes schema (strict)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import kubernetes_validate
import pytest

from infra_chains.components import pod
from infra_chains.components.settings import StackSettings
from infra_chains.serving.contract import RuntimeContract
from infra_chains.testing import render

from .conftest import DEV, EXAMPLES

WEIGHTS = EXAMPLES / "weights_chain.py"
URL = "https://weights.example.com/models/tiny/config.json"
WITH_CLAIM = DEV.model_copy(update={"assets_storage_class": "fast-ssd", "assets_volume_size": "5Gi"})
S3_CHAIN = '''
import infra_chains as chains

@chains.mark_entrypoint
class Model(chains.ChainletBase):
    remote_config = chains.RemoteConfig(assets=chains.Assets(weights=[
        chains.WeightsSource(source="s3://bucket/models/x", mount_location="/models/x",
                             auth_secret_name="aws", endpoint_url="http://minio:9000"),
    ]))

    def run_remote(self) -> int:
        return 1
'''


def manifests_of(settings: StackSettings, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
                 path: pathlib.Path = WEIGHTS, secrets: dict[str, str] | None = None) -> list[dict[str, Any]]:
    monkeypatch.setenv("WEIGHTS_CHAIN_URL", URL)
    if path == WEIGHTS:  # a copy of its own: a module is imported once per path, URL and all
        copy = tmp_path / "ws" / WEIGHTS.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(WEIGHTS.read_text())
        path = copy
    rendered = render(path, settings=settings, secrets=secrets, context_root=tmp_path / "ctx")
    for manifest in rendered.manifests:
        kubernetes_validate.validate(manifest, "1.33.0", strict=True)
    return rendered.manifests


def one(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [m for m in manifests if m["kind"] == kind]
    return found


def test_init_container_volume_and_mount(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifests = manifests_of(DEV, tmp_path, monkeypatch)
    deployment = one(manifests, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    (serving,) = spec["containers"]
    assert init["image"] == serving["image"]
    assert init["command"][1:] == ["-m", "infra_chains.fetch", "--items",
                                   f"{pod.CONTRACT_DIR}/{pod.ASSET_ITEMS_KEY}", "--cache-root",
                                   pod.ASSET_CACHE_DIR]
    assert init["securityContext"] == serving["securityContext"]
    assert init["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert {"name": "assets", "mountPath": pod.ASSET_CACHE_DIR} in init["volumeMounts"]
    assert {"name": "assets", "emptyDir": {"sizeLimit": "50Gi"}} in spec["volumes"]

    contract = RuntimeContract.model_validate_json(one(manifests, "ConfigMap")["data"][pod.CONTRACT_KEY])
    assert contract.assets_in_place and contract.data_dir == pathlib.Path("/app/data")
    (mount,) = contract.assets
    assert mount.path == pathlib.Path("/app/data/model/config.json") and mount.item.source == URL
    key = mount.item.cache_key()
    assert {"name": "assets", "mountPath": "/app/data/model/config.json",
            "subPath": f"{key}/config.json", "readOnly": True} in serving["volumeMounts"]
    items = json.loads(one(manifests, "ConfigMap")["data"][pod.ASSET_ITEMS_KEY])
    assert [item["source"] for item in items] == [URL]

    allowance = DEV.startup_timeout_sec + DEV.assets_fetch_timeout_sec
    assert deployment["spec"]["progressDeadlineSeconds"] == allowance + 300


def test_a_storage_class_gives_a_claim(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifests = manifests_of(WITH_CLAIM, tmp_path, monkeypatch)
    claim = one(manifests, "PersistentVolumeClaim")
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast-ssd",
                             "resources": {"requests": {"storage": "5Gi"}}}
    volumes = one(manifests, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "assets", "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}} in volumes


def test_credentials_come_from_the_chainlets_secret(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s3_chain.py"
    path.write_text(S3_CHAIN)
    manifests = manifests_of(DEV, tmp_path, monkeypatch, path, secrets={"aws": "{}"})
    assert [m for m in manifests if m["kind"] == "Secret" and "aws" in m.get("stringData", {})]
    spec = one(manifests, "Deployment")["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    assert init["command"][-2:] == ["--secrets-dir", pod.SECRETS_DIR]
    assert {"name": "secrets", "mountPath": pod.SECRETS_DIR, "readOnly": True} in init["volumeMounts"]
    serving = spec["containers"][0]
    assert [m["mountPath"] for m in serving["volumeMounts"] if m["name"] == "assets"] == ["/models/x"]


def test_a_chainlet_without_assets_has_no_init_container(tmp_path: pathlib.Path) -> None:
    rendered = render(EXAMPLES / "hello.py", settings=WITH_CLAIM, context_root=tmp_path)
    for deployment in (m for m in rendered.manifests if m["kind"] == "Deployment"):
        assert "initContainers" not in deployment["spec"]["template"]["spec"]
    assert not [m for m in rendered.manifests if m["kind"] == "PersistentVolumeClaim"]
