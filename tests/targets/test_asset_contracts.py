"""`targets/contracts.py` places each planned asset: an image's contract at ``/app/data``,
``/app/model_cache`` and the absolute mount location, checked in place; a host's in its own view
directory beside the shipped data, fetched by the runtime; a plan with assets needs AssetDirs."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from infra_chains.build.layout import ChainletLayout
from infra_chains.framework.graph import build_graph
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan import ChainPlan, make_plan
from infra_chains.targets.contracts import AssetDirs, asset_sub_path, runtime_contract

CHAIN = '''
import infra_chains as chains

@chains.mark_entrypoint
class Model(chains.ChainletBase):
    remote_config = chains.RemoteConfig(
        docker_image=chains.DockerImage(data_dir=chains.make_abs_path_here("data")),
        assets=chains.Assets(
            cached=[chains.ModelRepo(repo_id="org/tiny", volume_folder="tiny")],
            external_data=[chains.ExternalDataItem(url="https://h/v/vocab.txt", local_data_path="tok/vocab.txt")],
            weights=[chains.WeightsSource(source="s3://b/w", mount_location="/opt/weights")],
        ),
    )

    def run_remote(self) -> int:
        return 1
'''


@pytest.fixture
def plan(tmp_path: pathlib.Path) -> ChainPlan:
    (tmp_path / "ws" / "data").mkdir(parents=True)
    path = tmp_path / "ws" / "chain.py"
    path.write_text(textwrap.dedent(CHAIN))
    return make_plan(build_graph(load_entrypoint(path)), "assets")


def test_an_image_contract_has_image_paths_and_assets_in_place(plan: ChainPlan) -> None:
    spec = plan.entrypoint_spec
    contract = runtime_contract(plan, spec, ChainletLayout.in_image(spec.image), base_urls={}, port=8080,
                                assets=AssetDirs(pathlib.Path("/cache"), in_place=True))
    assert [str(m.path) for m in contract.assets] == [
        "/app/model_cache/tiny", "/app/data/tok/vocab.txt", "/opt/weights"]
    assert contract.assets_in_place and contract.asset_cache_dir == pathlib.Path("/cache")
    assert contract.data_dir == pathlib.Path("/app/data") and contract.image_data_dir is None
    assert contract.model_cache_dir == pathlib.Path("/app/model_cache")
    vocab = contract.assets[1]
    assert asset_sub_path(vocab) == f"{vocab.item.cache_key()}/vocab.txt"
    assert asset_sub_path(contract.assets[2]) == contract.assets[2].item.cache_key()


def test_a_host_contract_uses_its_view_dir_and_keeps_the_shipped_data_apart(
    plan: ChainPlan, tmp_path: pathlib.Path
) -> None:
    spec = plan.entrypoint_spec
    host = ChainletLayout.on_host(plan, spec)
    view = tmp_path / "view"
    contract = runtime_contract(plan, spec, host, base_urls={}, port=1,
                                assets=AssetDirs(tmp_path / "cache", view))
    assert [m.path for m in contract.assets] == [
        view / "model_cache" / "tiny", view / "data" / "tok" / "vocab.txt", pathlib.Path("/opt/weights")]
    assert contract.data_dir == view / "data"
    assert contract.image_data_dir == pathlib.Path(host.data_dir or "")
    assert not contract.assets_in_place and contract.asset_cache_dir == tmp_path / "cache"


def test_assets_need_asset_dirs(plan: ChainPlan) -> None:
    spec = plan.entrypoint_spec
    with pytest.raises(ValueError, match="needs assets=AssetDirs"):
        runtime_contract(plan, spec, ChainletLayout.in_image(spec.image), base_urls={}, port=8080)
