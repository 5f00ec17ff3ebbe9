"""`infra-chains push/preview/status/down` with the kubernetes target, against the fake pulumi."""

from __future__ import annotations

import json
import pathlib

import pytest

from infra_chains.cli.app import main
from infra_chains.deploy import plan_chain
from infra_chains.framework.loading import load_entrypoint
from tests.targets.kubernetes.conftest import FakePulumi
from tests.targets.kubernetes.test_target import EXAMPLE, SENTINEL, _outputs


@pytest.fixture
def deployed_outputs(fake_pulumi: FakePulumi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("pipeline_token", SENTINEL)
    plan = plan_chain(load_entrypoint(EXAMPLE), "text-pipeline", environment="dev")
    fake_pulumi.set_outputs(_outputs(plan))


def test_preview_prints_per_chainlet_then_pulumis_summary(
        deployed_outputs: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", str(EXAMPLE), "--name", "text-pipeline", "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert "stack dev" in out and "Summarizer" in out and "new" in out
    assert "Pulumi: create 3" in out


def test_push_status_preview_down(fake_pulumi: FakePulumi, deployed_outputs: None,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["push", str(EXAMPLE), "--name", "text-pipeline", "--target", "kubernetes",
                 "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert "text-pipeline-textpipeline.ml.svc.cluster.local:8080/run_remote" in out
    assert "--target kubernetes --stack dev" in out
    assert main(["preview", str(EXAMPLE), "--name", "text-pipeline", "--stack", "dev", "--json"]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert {c["action"] for c in preview["chainlets"]} == {"unchanged"}
    assert main(["status", "text-pipeline", "--target", "kubernetes", "--stack", "dev", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["target"] == "kubernetes" and {c["status"] for c in status["chainlets"]} == {"ready"}
    assert main(["down", "text-pipeline", "--target", "kubernetes", "--stack", "dev"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert ["destroy"] not in fake_pulumi.commands()
    assert main(["down", "text-pipeline", "--target", "kubernetes", "--stack", "dev", "--yes"]) == 0
    assert ["destroy"] in fake_pulumi.commands()
    for call in fake_pulumi.calls():
        assert not any(SENTINEL in arg for arg in call["argv"])


def test_missing_cli_is_one_clear_error(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("INFRA_CHAINS_PULUMI", raising=False)
    monkeypatch.setenv("pipeline_token", SENTINEL)
    assert main(["preview", str(EXAMPLE), "--stack", "dev"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no `pulumi` executable was found" in err and "INFRA_CHAINS_PULUMI" in err


def test_push_and_preview_take_a_stack_file_for_the_settings(
        fake_pulumi: FakePulumi, deployed_outputs: None, capsys: pytest.CaptureFixture[str]) -> None:
    """`--stack-config stacks/Pulumi.prod.yaml`: namespace, registry, replicas, exposure and
    userEnv as `pulumi up -s prod` from the repo would have them; --user-env wins over userEnv."""
    stack_file = EXAMPLE.parents[1] / "stacks" / "Pulumi.prod.yaml"
    assert main(["push", str(EXAMPLE), "--name", "text-pipeline", "--target", "kubernetes", "--stack", "prod",
                 "--stack-config", str(stack_file), "--user-env", "extra=1"]) == 0
    config = fake_pulumi.state()["stacks"]["prod"]["config"]
    assert config["infra-chains:namespace"] == "infra-chains"
    assert config["infra-chains:registry"] == "ghcr.io/acme/infra-chains"
    assert config["infra-chains:exposure"] == "ingress"
    assert json.loads(config["infra-chains:replicas"]) == {"Chunker": 2, "TextPipeline": 2}
    assert json.loads(config["infra-chains:userEnv"]) == {"mode": "prod", "extra": "1"}
    assert config["infra-chains:environment"] == "prod"
    capsys.readouterr()
    assert main(["preview", str(EXAMPLE), "--name", "text-pipeline", "--stack", "prod",
                 "--stack-config", str(stack_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stack"] == "prod"
    assert json.loads(fake_pulumi.state()["stacks"]["prod"]["config"]["infra-chains:userEnv"]) == {"mode": "prod"}


def test_stack_config_needs_the_kubernetes_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["push", str(EXAMPLE), "--stack-config", "stacks/Pulumi.dev.yaml"]) == 2
    assert "--target kubernetes" in " ".join(capsys.readouterr().err.split())
