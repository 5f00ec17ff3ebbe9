"""The Kubernetes target through the Automation API, against a fake `pulumi` on PATH: the
commands run in order, the stack config, no secret value on any command line, stack outputs →
ChainService, status and down."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

import infra_chains as chains
from infra_chains.components.settings import StackSettings
from infra_chains.errors import DeploymentError
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan.models import ChainPlan
from infra_chains.deploy import plan_chain
from infra_chains.targets.base import ChainletProgress
from infra_chains.targets.kubernetes import KubernetesTarget, PulumiCommandError, PulumiNotFoundError
from infra_chains.plan.fingerprints import fingerprints_output, plan_fingerprints
from infra_chains.targets.registry import get_target
from tests.targets.kubernetes.conftest import FakePulumi

EXAMPLE = pathlib.Path(__file__).parents[3] / "examples" / "text_pipeline.py"
SENTINEL = "s3cr3t-sentinel-value-0451"
BASE = "http://text-pipeline-{}.ml.svc.cluster.local:8080"


def _plan(environment: str = "dev") -> ChainPlan:
    return plan_chain(load_entrypoint(EXAMPLE), "text-pipeline", environment=environment)


def _outputs(plan: ChainPlan) -> dict[str, Any]:
    urls = {spec.name: BASE.format(spec.name.lower()) for spec in plan.chainlets}
    return {
        "chain_name": plan.chain_name,
        "entrypoint_url": urls[plan.entrypoint],
        "chainlet_urls": urls,
        "image_hashes": {s.name: s.image_hash for s in plan.chainlets},
        "deployment_hashes": {s.name: s.deployment_hash for s in plan.chainlets},
        "chainlet_fingerprints": fingerprints_output(plan_fingerprints(plan)),
        "entrypoint": plan.entrypoint,
    }


def _push(fake: FakePulumi, target: KubernetesTarget, **kwargs: Any) -> chains.ChainService | None:
    fake.set_outputs(_outputs(_plan()))
    return chains.push(load_entrypoint(EXAMPLE), "text-pipeline", remote=target,
                       environment="dev", secrets={"pipeline_token": SENTINEL}, **kwargs)


def _target() -> KubernetesTarget:
    return KubernetesTarget("dev", settings=StackSettings(namespace="ml", registry="ghcr.io/acme"))


def test_push_runs_stack_config_up_outputs_in_order(fake_pulumi: FakePulumi) -> None:
    _push(fake_pulumi, _target())
    commands = fake_pulumi.commands()
    order = [c for c in commands if c in (["version"], ["stack", "ls"], ["stack", "init"],
                                          ["config", "set-all"], ["up"], ["stack", "output"])]
    assert order[:5] == [["version"], ["stack", "ls"], ["stack", "init"], ["config", "set-all"],
                         ["stack", "output"]]
    assert ["up"] in order and order[order.index(["up"]) + 1] == ["stack", "output"]
    up = next(c["argv"] for c in fake_pulumi.calls() if "up" in c["argv"])
    assert up[0] == "--non-interactive" and "--yes" in up
    assert up[up.index("--stack") + 1] == "dev"
    assert any(arg.startswith("--client=127.0.0.1:") for arg in up)  # the inline program


def test_the_stack_config_is_set_from_the_settings(fake_pulumi: FakePulumi) -> None:
    _push(fake_pulumi, _target())
    config = fake_pulumi.state()["stacks"]["dev"]["config"]
    assert config["infra-chains:namespace"] == "ml"
    assert config["infra-chains:registry"] == "ghcr.io/acme"
    assert config["infra-chains:environment"] == "dev"
    assert config["infra-chains:chainName"] == "text-pipeline"
    assert config["infra-chains:exposure"] == "cluster-ip"
    assert config["infra-chains:userEnv"] == "{}"
    assert StackSettings.model_validate(
        {"namespace": "ml", "registry": "ghcr.io/acme"}).namespace == "ml"


def test_no_secret_value_on_any_command_line_or_in_the_engine_environment(fake_pulumi: FakePulumi) -> None:
    target = _target()
    _push(fake_pulumi, target)
    target.status("text-pipeline")
    target.down("text-pipeline")
    calls = fake_pulumi.calls()
    assert calls
    for call in calls:
        assert not any(SENTINEL in arg for arg in call["argv"]), call["argv"]
        assert not any(SENTINEL in value for value in call["env"].values())
    for path in target.work_root.rglob("*"):
        if path.is_file():
            assert SENTINEL.encode() not in path.read_bytes(), path
    assert "pipeline_token" not in str(fake_pulumi.state()["stacks"]["dev"]["config"])


def test_stack_outputs_become_the_chain_service(fake_pulumi: FakePulumi) -> None:
    service = _push(fake_pulumi, _target())
    assert service is not None and service.name == "text-pipeline"
    assert service.run_remote_url == BASE.format("textpipeline") + "/run_remote"
    info = {c.name: c for c in service.get_info()}
    assert set(info) == {"Chunker", "Summarizer", "TextPipeline"}
    assert info["TextPipeline"].is_entrypoint and info["Chunker"].url == BASE.format("chunker")
    again = _target().service("text-pipeline")
    assert again.run_remote_url == service.run_remote_url


def test_engine_events_are_push_progress_per_chainlet(fake_pulumi: FakePulumi) -> None:
    parent = "urn:pulumi:dev::text-pipeline::infra-chains:index:Chain$infra-chains:index:Chainlet::text-pipeline-summarizer"
    deployment = ("urn:pulumi:dev::text-pipeline::infra-chains:index:Chain$infra-chains:index:Chainlet"
                  "$kubernetes:apps/v1:Deployment::text-pipeline-summarizer")
    image = "urn:pulumi:dev::text-pipeline::docker:index/image:Image::text-pipeline-chunker-image"
    fake_pulumi.set_events([
        {"resourcePreEvent": {"metadata": {"op": "create", "urn": image, "type": "docker:index/image:Image"}}},
        {"resourcePreEvent": {"metadata": {"op": "update", "urn": deployment, "type": "kubernetes:apps/v1:Deployment",
                                           "new": {"urn": deployment, "parent": parent}}}},
    ])
    seen: list[list[ChainletProgress]] = []
    _push(fake_pulumi, _target(), on_progress=seen.append)
    statuses = [{row.name: row.status for row in rows} for rows in seen]
    assert statuses[0] == {"Chunker": "waiting", "Summarizer": "waiting", "TextPipeline": "waiting"}
    assert any(s["Chunker"] == "building" for s in statuses)
    assert any(s["Summarizer"] == "updating" for s in statuses)
    messages = [row.message for rows in seen for row in rows if row.name == "Summarizer"]
    assert "update Deployment text-pipeline-summarizer" in messages
    final = {row.name: row for row in seen[-1]}
    assert all(row.status == "ready" for row in final.values())
    assert final["Chunker"].url == BASE.format("chunker")


def test_a_second_push_selects_the_stack_and_changes_nothing(fake_pulumi: FakePulumi) -> None:
    _push(fake_pulumi, _target())
    seen: list[list[ChainletProgress]] = []
    _push(fake_pulumi, _target(), on_progress=seen.append)
    commands = fake_pulumi.commands()
    assert commands.count(["stack", "init"]) == 1 and ["stack", "select"] in commands
    assert [row.changed for row in seen[0]] == [False, False, False]


def test_status_and_down(fake_pulumi: FakePulumi) -> None:
    target = _target()
    with pytest.raises(DeploymentError, match="has no stack 'dev'"):
        target.status("text-pipeline")
    assert target.down("text-pipeline") is False
    _push(fake_pulumi, target)
    assert target.chains() == ["text-pipeline"]
    status = target.status("text-pipeline")
    assert status.target == "kubernetes" and status.environment == "dev" and status.ready
    assert status.entrypoint == "TextPipeline"
    chunker = next(c for c in status.chainlets if c.name == "Chunker")
    assert chunker.url == BASE.format("chunker") and len(chunker.content_hash) == 12
    assert target.down("text-pipeline") is True
    assert ["destroy"] in fake_pulumi.commands()
    after = target.status("text-pipeline")
    assert {c.status for c in after.chainlets} <= {"stopped"}


def test_a_failed_update_raises_with_the_engine_output(fake_pulumi: FakePulumi) -> None:
    fake_pulumi.fail("up")
    with pytest.raises(PulumiCommandError, match="exit code 255") as info:
        _push(fake_pulumi, _target())
    assert "the fake engine failed as told" in str(info.value)


def test_preview_gives_per_chainlet_changes_and_pulumis_summary(fake_pulumi: FakePulumi) -> None:
    target = _target()
    preview = target.preview(_plan(), {"pipeline_token": SENTINEL})
    assert [c.action for c in preview.chainlets] == ["new", "new", "new"]
    assert preview.resource_changes == {"create": 3}
    assert ["up"] not in fake_pulumi.commands()


def test_preview_folds_pulumis_steps_into_unchanged_chainlets(fake_pulumi: FakePulumi) -> None:
    """Same plan as deployed, but a rotated secret value: the hashes see nothing, Pulumi's preview
    would replace the Summarizer's Secret and roll its Deployment."""
    _push(fake_pulumi, _target())
    chainlet = "urn:pulumi:dev::text-pipeline::infra-chains:index:Chain$infra-chains:index:Chainlet"
    parent = f"{chainlet}::text-pipeline-summarizer"
    secret = f"{chainlet}$kubernetes:core/v1:Secret::text-pipeline-summarizer-secrets"
    deployment = f"{chainlet}$kubernetes:apps/v1:Deployment::text-pipeline-summarizer-deployment"
    same = f"{chainlet}$kubernetes:apps/v1:Deployment::text-pipeline-chunker-deployment"
    fake_pulumi.set_events([
        {"resourcePreEvent": {"metadata": {"op": "replace", "urn": secret, "type": "kubernetes:core/v1:Secret",
                                           "new": {"urn": secret, "parent": parent}}}},
        {"resourcePreEvent": {"metadata": {"op": "update", "urn": deployment, "type": "kubernetes:apps/v1:Deployment",
                                           "new": {"urn": deployment, "parent": parent}}}},
        {"resourcePreEvent": {"metadata": {"op": "same", "urn": same, "type": "kubernetes:apps/v1:Deployment"}}},
    ])
    preview = _target().preview(_plan(), {"pipeline_token": "rotated"})
    actions = {c.name: c.action for c in preview.chainlets}
    assert actions == {"Chunker": "unchanged", "Summarizer": "restart", "TextPipeline": "unchanged"}
    assert preview.chainlet("Summarizer").engine_changes == ["Deployment", "Secret"]
    assert "secret values (Pulumi's diff)" in preview.chainlet("Summarizer").reasons


def test_by_name_with_a_stack_and_missing_cli(fake_pulumi: FakePulumi, tmp_path: pathlib.Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    target = get_target("kubernetes", stack="prod")
    assert isinstance(target, KubernetesTarget) and target.stack == "prod"
    empty = tmp_path / "no-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(PulumiNotFoundError, match="INFRA_CHAINS_PULUMI"):
        chains.push(load_entrypoint(EXAMPLE), remote="kubernetes", stack="dev",
                    secrets={"pipeline_token": SENTINEL})
    assert not (tmp_path / "state" / "kubernetes").exists()  # no workspace was made
