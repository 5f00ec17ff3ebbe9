"""Plan -> container specs, without an engine: names, labels, limits, GPUs, secret mounts."""

from __future__ import annotations

import json
import pathlib

import pytest

from infra_chains.framework.graph import build_graph
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan.models import ChainPlan
from infra_chains.plan.planner import make_plan
from infra_chains.targets.docker import containers as names
from infra_chains.remote_config import HealthChecks
from infra_chains.targets.docker.engine import ContainerSpec, Healthcheck

CHAIN = '''
import infra_chains as chains


class HelperStep(chains.ChainletBase):
    remote_config = chains.RemoteConfig(
        assets=chains.Assets(secret_keys=["api_token"]),
        compute=chains.Compute(cpu_count=2, memory="512Mi"),
    )

    def run_remote(self, x: int) -> int:
        return x + 1


class GpuStep(chains.ChainletBase):
    remote_config = chains.RemoteConfig(
        compute=chains.Compute(gpu="T4", gpu_count=2),
        options=chains.ChainletOptions(health_checks={
            "restart_threshold_seconds": 31, "startup_threshold_seconds": 600}),
    )

    def run_remote(self, x: int) -> int:
        return x


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    def __init__(self, helper: HelperStep = chains.depends(HelperStep),
                 gpu: GpuStep = chains.depends(GpuStep)) -> None:
        self._helper, self._gpu = helper, gpu

    def run_remote(self, x: int) -> int:
        return self._gpu.run_remote(self._helper.run_remote(x))
'''


@pytest.fixture
def plan(tmp_path: pathlib.Path) -> ChainPlan:
    path = tmp_path / "chain_mod.py"
    path.write_text(CHAIN)
    return make_plan(build_graph(load_entrypoint(path)), "shop")


def _spec_of(plan: ChainPlan, name: str, entry_port: int = 41000) -> tuple[ContainerSpec, dict[str, str]]:
    spec = next(s for s in plan.chainlets if s.name == name)
    labels = names.labels_of(plan)
    contract = names.contract(plan, spec, labels, entrypoint_port=entry_port)
    container = names.container_spec(
        plan, spec, labels, image=names.image_reference(labels[name], spec), contract_=contract,
        fingerprint_="f" * 32, run_dir="/host/run/dir",
        host_port=entry_port if name == plan.entrypoint else None,
    )
    return container, labels


def test_names_are_dns_labels_and_urls_use_them(plan: ChainPlan) -> None:
    container, labels = _spec_of(plan, "Entry")
    assert labels == {"HelperStep": "shop-helper-step", "GpuStep": "shop-gpu-step", "Entry": "shop-entry"}
    assert container.name == "shop-entry" and container.aliases == ["shop-entry"]
    assert container.network == "infra-chains-shop"
    contract = json.loads(container.environment["INFRA_CHAINS_RUNTIME_JSON"])
    assert contract["chainlet_to_service"]["HelperStep"]["predict_url"] == "http://shop-helper-step:8080/run_remote"
    assert contract["host"] == "0.0.0.0" and contract["port"] == 8080
    assert contract["workspace_dir"] == "/app/workspace"  # the image's layout, no host path
    assert contract["entrypoint"] is True
    assert contract["allowed_hosts"] == ["127.0.0.1:41000", "localhost:41000", "[::1]:41000"]
    spec = next(s for s in plan.chainlets if s.name == "Entry")
    assert container.image == f"infra-chains/shop-entry:{spec.image_hash[:20]}"


def test_labels_limits_and_published_port(plan: ChainPlan) -> None:
    container, _ = _spec_of(plan, "HelperStep")
    spec = next(s for s in plan.chainlets if s.name == "HelperStep")
    assert container.labels[names.LABEL_CHAIN] == "shop"
    assert container.labels[names.LABEL_CHAINLET] == "HelperStep"
    assert container.labels[names.LABEL_HASH] == spec.content_hash
    assert container.labels[names.LABEL_ENTRYPOINT] == "false"
    assert container.nano_cpus == 2_000_000_000
    assert container.mem_limit_bytes == 512 * 1024 * 1024
    assert container.gpu_count == 0
    assert container.host_ip == "127.0.0.1" and container.host_port is None
    assert container.restart_policy == "unless-stopped"
    contract = json.loads(container.environment["INFRA_CHAINS_RUNTIME_JSON"])
    assert contract["entrypoint"] is False and contract["allowed_hosts"] == ["shop-helper-step"]


def test_gpu_device_request(plan: ChainPlan) -> None:
    container, _ = _spec_of(plan, "GpuStep")
    assert container.gpu_count == 2


def test_secrets_are_a_read_only_mount_never_env(plan: ChainPlan) -> None:
    container, _ = _spec_of(plan, "HelperStep")
    [mount] = container.mounts
    assert (mount.source, mount.target, mount.read_only) == ("/host/run/dir", "/run/infra-chains", True)
    assert list(container.environment) == ["INFRA_CHAINS_RUNTIME_JSON"]
    contract = json.loads(container.environment["INFRA_CHAINS_RUNTIME_JSON"])
    assert contract["secrets_dir"] == "/run/infra-chains/secrets"
    assert contract["chain_token_file"] == "/run/infra-chains/chain-token"


def test_fingerprint_follows_image_contract_and_secrets(plan: ChainPlan) -> None:
    spec = next(s for s in plan.chainlets if s.name == "HelperStep")
    labels = names.labels_of(plan)
    contract = names.contract(plan, spec, labels, entrypoint_port=1)
    key = b"k" * 32

    def fp(**change: object) -> str:
        args: dict[str, object] = dict(image_id="sha256:a", contract_=contract,
                                       secrets={"api_token": "v1"}, token="t", owner=(0, 0))
        args.update(change)
        return names.fingerprint(key, **args)  # type: ignore[arg-type]

    base = fp()
    assert fp(contract_=contract.model_copy(update={"instance_id": "other"})) == base
    assert fp(image_id="sha256:b") != base
    assert fp(secrets={"api_token": "v2"}) != base
    assert fp(contract_=contract.model_copy(update={"user_env": {"a": "b"}})) != base
    assert fp(healthcheck_=None) == base  # unset health checks: fingerprints as before
    assert fp(healthcheck_=names.healthcheck(HealthChecks(restart_threshold_seconds=30))) != base
    assert "v1" not in base


def test_health_checks_set_the_containers_healthcheck_numbers(plan: ChainPlan) -> None:
    # Unset: no override, the image's HEALTHCHECK (5 s interval, 3 s timeout, 3 retries, 60 s).
    assert _spec_of(plan, "HelperStep")[0].healthcheck is None
    check = _spec_of(plan, "GpuStep")[0].healthcheck
    assert check == Healthcheck(interval_sec=5.0, timeout_sec=3.0, retries=7, start_period_sec=600.0)


def test_a_restart_check_delay_lengthens_the_start_period() -> None:
    check = names.healthcheck(HealthChecks(restart_check_delay_seconds=90))
    assert check == Healthcheck(interval_sec=5.0, timeout_sec=3.0, retries=3, start_period_sec=90.0)
    # A shorter startup threshold never shortens the image's start period.
    check = names.healthcheck(HealthChecks(startup_threshold_seconds=10))
    assert check is not None and check.start_period_sec == 60.0
