"""`infra_chains.deploy.push`: the one path from an entrypoint to a target, for the API and CLI."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

import pytest

from infra_chains import deploy
from infra_chains.errors import ChainsUsageError
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.local import LocalTarget
from infra_chains.targets.secrets import MissingSecretsError
from tests.targets.kubernetes.conftest import FakePulumi, fake_pulumi  # noqa: F401 - the fixture
from tests.targets.kubernetes.test_target import EXAMPLE, SENTINEL, _outputs

CHAIN = '''
import infra_chains as chains


@chains.mark_entrypoint
class WhereAmI(chains.ChainletBase):
    remote_config = chains.RemoteConfig(assets=chains.Assets(secret_keys=["where_token"]))

    def __init__(self, context: chains.DeploymentContext = chains.depends_context()) -> None:
        self._environment = context.environment.name if context.environment else None

    def run_remote(self) -> str | None:
        return self._environment
'''


@pytest.fixture
def entry(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> type:
    monkeypatch.delenv("where_token", raising=False)
    monkeypatch.delenv("WHERE_TOKEN", raising=False)
    path = tmp_path / "src" / "deploy_where_chain.py"
    path.parent.mkdir()
    path.write_text(CHAIN)
    return load_entrypoint(path)


@pytest.fixture
def target(tmp_path: pathlib.Path) -> Iterator[LocalTarget]:
    local = LocalTarget(root=tmp_path / "state")
    yield local
    for chain in local.chains():
        local.down(chain)


def test_environment_is_written_into_the_plan(entry: type, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "generated"
    assert deploy.push(entry, "where", only_generate_trusses=True, environment="dev", generated_dir=out) is None
    assert json.loads((out / "where" / "plan.json").read_text())["environment"] == "dev"


def test_invalid_environment_is_refused(entry: type, tmp_path: pathlib.Path) -> None:
    with pytest.raises(ChainsUsageError, match="Environment name 'Prod' is invalid"):
        deploy.push(entry, "where", only_generate_trusses=True, environment="Prod",
                    generated_dir=tmp_path / "generated")


def test_invalid_chain_name_is_refused(entry: type, target: LocalTarget, tmp_path: pathlib.Path) -> None:
    with pytest.raises(ChainsUsageError, match="Chain name '../x' is invalid"):
        deploy.push(entry, "../x", remote=target, secrets={"where_token": "t"})
    assert not (tmp_path / "x").exists()


def test_missing_secrets_speak_the_library_language(entry: type, target: LocalTarget) -> None:
    with pytest.raises(MissingSecretsError) as info:
        deploy.push(entry, "where", remote=target)
    message = str(info.value)
    assert "'where_token' (used by WhereAmI)" in message and "secrets=" in message
    assert "--secret" not in message
    assert target.chains() == []  # nothing was started


def test_unknown_target_name(entry: type) -> None:
    with pytest.raises(ChainsUsageError, match="Unknown target 'moon'"):
        deploy.push(entry, "where", remote="moon", secrets={"where_token": "t"})


@pytest.mark.servers
def test_push_to_a_target_instance_with_an_environment(entry: type, target: LocalTarget) -> None:
    service = deploy.push(entry, "where", remote=target, environment="prod",
                          secrets={"where_token": "t"})
    assert service is not None
    assert service.run_remote({}) == "prod"
    assert target.chains() == ["where"]
    assert target.status("where").environment == "prod"
    # A re-push without an environment restarts the chainlet, which then sees none.
    service = deploy.push(entry, "where", remote=target, secrets={"where_token": "t"})
    assert service is not None and service.run_remote({}) is None


def test_the_environment_names_the_stack_of_a_target_given_by_name(
    fake_pulumi: FakePulumi, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setenv("pipeline_token", SENTINEL)
    entry = load_entrypoint(EXAMPLE)
    fake_pulumi.set_outputs(_outputs(deploy.plan_chain(entry, "text-pipeline", environment="prod")))
    deploy.push(entry, "text-pipeline", remote="kubernetes", environment="prod")
    up = next(c["argv"] for c in fake_pulumi.calls() if "up" in c["argv"])
    assert up[up.index("--stack") + 1] == "prod"
    assert set(fake_pulumi.state()["stacks"]) == {"prod"}
    # An explicit stack wins: environment "prod" deployed to stack "dev" (a staging copy, say).
    deploy.push(entry, "text-pipeline", remote="kubernetes", environment="prod", stack="dev")
    assert set(fake_pulumi.state()["stacks"]) == {"prod", "dev"}
