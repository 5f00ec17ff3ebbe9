"""Runtime contracts made from a layout: image paths for an image, host paths for the host."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from infra_chains.build.layout import ChainletLayout
from infra_chains.framework.graph import build_graph
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan import ChainPlan, make_plan
from infra_chains.targets.contracts import runtime_contract

CHAIN = '''
import infra_chains as chains


class Leaf(chains.ChainletBase):
    def run_remote(self, text: str) -> str:
        return text


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    remote_config = chains.RemoteConfig(
        docker_image=chains.DockerImage(
            external_package_dirs=[chains.make_abs_path_here("../lib")],
            data_dir=chains.make_abs_path_here("data"),
        ),
        assets=chains.Assets(secret_keys=["token"]),
        compute=chains.Compute(predict_concurrency=4),
    )

    def __init__(self, leaf: Leaf = chains.depends(Leaf, retries=2)) -> None:
        self._leaf = leaf

    def run_remote(self, text: str) -> str:
        return self._leaf.run_remote(text=text)
'''


@pytest.fixture
def plan(tmp_path: pathlib.Path) -> ChainPlan:
    (tmp_path / "lib").mkdir()
    (tmp_path / "chain" / "data").mkdir(parents=True)
    path = tmp_path / "chain" / "contracts_chain.py"
    path.write_text(textwrap.dedent(CHAIN))
    return make_plan(build_graph(load_entrypoint(path)), "contracts", user_env={"k": "v"},
                     environment="dev")


def test_an_image_contract_holds_only_paths_inside_the_image(plan: ChainPlan) -> None:
    spec = plan.chainlet("Entry")
    contract = runtime_contract(
        plan, spec, ChainletLayout.in_image(spec.image), base_urls={"Leaf": "http://leaf:8080"},
        port=8080, host="0.0.0.0", secrets_dir=pathlib.Path("/run/secrets/chainlet"),
    )
    assert contract.workspace_dir == pathlib.Path("/app/workspace")
    assert contract.extra_python_paths == [pathlib.Path("/app/packages/0")]
    assert contract.data_dir == pathlib.Path("/app/data")
    assert contract.secrets_dir == pathlib.Path("/run/secrets/chainlet")
    assert plan.workspace_dir not in contract.model_dump_json()
    assert contract.chainlet_to_service["Leaf"].predict_url == "http://leaf:8080/run_remote"
    assert contract.chainlet_to_service["Leaf"].options.retries == 2
    assert (contract.user_env, contract.environment, contract.predict_concurrency) == ({"k": "v"}, "dev", 4)


def test_a_host_contract_holds_the_planning_machines_paths(plan: ChainPlan, tmp_path: pathlib.Path) -> None:
    spec = plan.chainlet("Entry")
    contract = runtime_contract(plan, spec, ChainletLayout.on_host(plan, spec),
                                base_urls={"Leaf": "http://127.0.0.1:9"}, port=0)
    assert contract.workspace_dir == tmp_path / "chain"
    assert contract.extra_python_paths == [tmp_path / "lib"]
    assert contract.data_dir == tmp_path / "chain" / "data"


def test_no_secrets_dir_for_a_chainlet_without_secrets(plan: ChainPlan) -> None:
    spec = plan.chainlet("Leaf")
    contract = runtime_contract(plan, spec, ChainletLayout.in_image(spec.image), base_urls={},
                                port=1, secrets_dir=pathlib.Path("/run/secrets/chainlet"))
    assert contract.secrets_dir is None and contract.data_dir is None
