"""`plan/assets.py` and its place in the plan: the fetch items are in the deployment part (and its
hash), the client libraries in the image's requirements, explicitly named secrets in secret_keys."""

import pathlib
import textwrap

import pytest

import infra_chains as chains
from infra_chains.framework.graph import build_graph
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan.assets import plan_assets, with_auth_secrets
from infra_chains.plan.models import ChainletSpec
from infra_chains.plan.planner import make_plan
from infra_chains.plan.runtime import ASSET_REQUIREMENTS, RUNTIME_REQUIREMENTS

CHAIN = '''
import os
import infra_chains as chains

@chains.mark_entrypoint
class Model(chains.ChainletBase):
    remote_config = chains.RemoteConfig(assets=chains.Assets(
        {assets}
    ))

    def run_remote(self, x: int) -> int:
        return x
'''


def plan_with(tmp_path: pathlib.Path, assets: str, name: str = "chain") -> ChainletSpec:
    path = tmp_path / name / "chain.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(CHAIN).replace("{assets}", assets))
    return make_plan(build_graph(load_entrypoint(path)), "assets-demo").chainlet("Model")


def test_each_model_becomes_a_fetch_item_with_its_place() -> None:
    assets = chains.Assets(
        cached=[chains.ModelRepo(repo_id="org/m", revision="v1.0", volume_folder="m"),
                chains.ModelRepo(repo_id="s3://bucket/models/x", kind="s3", endpoint_url="http://minio:9000")],
        external_data=[chains.ExternalDataItem(url="https://h/files/tok.json", local_data_path="t/tok.json")],
        weights=[chains.WeightsSource(source="hf://org/w@main", mount_location="/app/w",
                                      auth_secret_name="hf_token", allow_patterns=["*.safetensors"]),
                 chains.WeightsSource(source="https://h/model.bin", mount_location="/app/bin")],
    )
    planned = plan_assets(assets)
    summary = [(p.item.kind, p.item.source, p.item.revision, p.root, p.path, p.expose) for p in planned]
    assert summary == [
        ("hf", "org/m", "v1.0", "model_cache", "m", "directory"),
        ("s3", "s3://bucket/models/x/", None, "model_cache", "bucket--models--x", "directory"),
        ("http", "https://h/files/tok.json", None, "data_dir", "t/tok.json", "file"),
        ("hf", "org/w", "main", "absolute", "/app/w", "directory"),
        ("http", "https://h/model.bin", None, "absolute", "/app/bin", "directory"),
    ]
    assert planned[1].item.endpoint_url == "http://minio:9000"
    assert planned[3].item.secret_name == "hf_token"
    assert planned[3].item.allow_patterns == ["*.safetensors"]
    assert "ModelRepo 'org/m'" == planned[0].item.name


def test_the_default_hf_token_is_used_only_when_declared_an_explicit_one_is_added() -> None:
    public = chains.Assets(cached=[chains.ModelRepo(repo_id="org/m")])
    assert plan_assets(public)[0].item.secret_name is None
    assert with_auth_secrets(public).secret_keys == []
    declared = chains.Assets(cached=[chains.ModelRepo(repo_id="org/m")], secret_keys=["hf_access_token"])
    assert plan_assets(declared)[0].item.secret_name == "hf_access_token"
    explicit = chains.Assets(
        cached=[chains.ModelRepo(repo_id="org/m", runtime_secret_name="my_hf")],
        weights=[chains.WeightsSource(source="s3://b/p", mount_location="/w", auth_secret_name="aws")],
        secret_keys=["other"],
    )
    assert with_auth_secrets(explicit).secret_keys == ["other", "my_hf", "aws"]


def test_fetch_items_are_in_the_deployment_hash_and_clients_in_the_image(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The URL comes from the environment: the same source, so only the deployment part differs.
    external = 'external_data=[chains.ExternalDataItem(url=os.environ["URL"], local_data_path="a.bin")]'
    monkeypatch.setenv("URL", "https://h/a.bin")
    http = plan_with(tmp_path, external, "a")
    monkeypatch.setenv("URL", "https://h/b.bin")
    other_url = plan_with(tmp_path, external, "b")
    assert [p.item.source for p in http.deployment.fetch] == ["https://h/a.bin"]
    assert http.deployment_hash != other_url.deployment_hash
    assert http.image_hash == other_url.image_hash
    assert http.image.pip_requirements == list(RUNTIME_REQUIREMENTS)  # http needs no client

    s3 = plan_with(tmp_path, 'weights=[chains.WeightsSource(source="s3://b/p", mount_location="/w", auth_secret_name="aws")]', "c")
    assert [*ASSET_REQUIREMENTS["s3"]] == [r for r in s3.image.pip_requirements if r.startswith("boto3")]
    assert not any(r.startswith("huggingface") for r in s3.image.pip_requirements)
    assert s3.secret_keys == ["aws"]
    hf = plan_with(tmp_path, 'cached=[chains.ModelRepo(repo_id="org/m")]', "d")
    assert [*ASSET_REQUIREMENTS["hf"]] == [r for r in hf.image.pip_requirements if r.startswith("huggingface")]


def test_asset_pins_are_exact_and_inside_the_assets_extra() -> None:
    import tomllib

    from packaging.requirements import Requirement

    pyproject = pathlib.Path(__file__).resolve().parents[2] / "pyproject.toml"
    extra = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["assets"]
    declared = {Requirement(line).name.lower(): Requirement(line) for line in extra}
    for pins in ASSET_REQUIREMENTS.values():
        for pin in pins:
            requirement = Requirement(pin)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", pin
            assert declared[requirement.name.lower()].specifier.contains(specifier.version), pin
