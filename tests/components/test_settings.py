"""StackSettings from stack config: camelCase keys, JSON values, errors naming key and value."""

from __future__ import annotations

import asyncio
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from infra_chains.components.settings import AutoscalingSettings, StackSettings
from infra_chains.errors import ConfigError


class NoResources(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


@pytest.fixture
def stack_config() -> Iterator[None]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        pulumi.runtime.set_all_config({}, [])
        asyncio.set_event_loop(None)
        loop.close()


def settings(config: dict[str, Any]) -> StackSettings:
    pulumi.runtime.set_all_config(
        {f"infra-chains:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    )
    pulumi.runtime.set_mocks(NoResources(), project="infra-chains", stack="staging")
    read: list[StackSettings] = []

    @pulumi.runtime.test
    def program() -> None:  # inside a program, as the CLI runs it (its stack registered)
        read.append(StackSettings.from_pulumi_config(pulumi.Config("infra-chains")))

    program()
    return read[0]


def test_defaults_and_environment_from_the_stack(stack_config: None) -> None:
    assert settings({}) == StackSettings(environment="staging")


def test_every_key_read_in_camel_case(stack_config: None) -> None:
    got = settings({
        "namespace": "ns", "registry": "ghcr.io/acme", "userEnv": {"mode": "prod"},
        "replicas": {"Entry": 3}, "autoscaling": {"Mid": {"minReplicas": 2, "maxReplicas": 5}},
        "exposure": "ingress", "ingressHost": "a.example.com", "ingressClass": "nginx",
        "gpuNodeSelectors": {"L4": {"pool": "l4"}}, "storageClass": "fast",
        "buildImages": False, "startupTimeoutSec": 900, "environment": "blue",
        "renderYamlToDirectory": "rendered/blue",  # text as written, not JSON
    })
    assert got.replicas == {"Entry": 3} and got.user_env == {"mode": "prod"}
    assert got.autoscaling["Mid"] == AutoscalingSettings(min_replicas=2, max_replicas=5)
    assert (got.exposure, got.ingress_host, got.build_images, got.environment) == ("ingress", "a.example.com", False, "blue")
    assert got.startup_timeout_sec == 900 and got.gpu_node_selectors == {"L4": {"pool": "l4"}}
    assert got.render_yaml_to_directory == "rendered/blue"


def test_invalid_values_are_all_named_with_key_and_value(stack_config: None) -> None:
    with pytest.raises(ConfigError) as info:
        settings({"replicas": {"Entry": -1}, "exposure": "nodeport",
                  "autoscaling": {"Mid": {"minReplicas": 4, "maxReplicas": 2}}})
    message = str(info.value)
    assert "infra-chains:replicas" in message and "-1" in message
    assert "infra-chains:exposure" in message and "nodeport" in message
    assert "infra-chains:autoscaling at Mid" in message and "min_replicas (4)" in message


def test_an_object_key_given_as_plain_text_says_how_to_set_it(stack_config: None) -> None:
    with pytest.raises(ConfigError, match=r"infra-chains:replicas is 'three'.*pulumi config set --path"):
        settings({"replicas": "three"})


def test_settings_are_frozen_and_reject_unknown_fields() -> None:
    with pytest.raises(ValueError):
        StackSettings.model_validate({"replica": {}})
    with pytest.raises(ValueError):
        StackSettings().namespace = "x"  # type: ignore[misc]


ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_stack_file_gives_the_settings_the_program_reads(stack_config: None, stack: str) -> None:
    """What `infra-chains push --stack-config stacks/Pulumi.<stack>.yaml` deploys with is what
    `pulumi up -s <stack>` from the repo reads (the stack name aside)."""
    import yaml

    from infra_chains.components.settings import PROGRAM_KEYS, settings_from_stack_file

    path = ROOT / "stacks" / f"Pulumi.{stack}.yaml"
    from_file = settings_from_stack_file(path)
    config = {k.split(":", 1)[1]: v for k, v in yaml.safe_load(path.read_text())["config"].items()}
    from_program = settings({k: v for k, v in config.items() if k not in PROGRAM_KEYS})
    assert from_file == from_program.model_copy(update={"environment": None})
    assert from_file.namespace == config["namespace"] and from_file.user_env == config["userEnv"]


def test_a_stack_file_skips_secrets_program_keys_and_other_namespaces(tmp_path: pathlib.Path) -> None:
    from infra_chains.components.settings import settings_from_stack_file

    path = tmp_path / "Pulumi.edge.yaml"
    path.write_text(
        "config:\n"
        "  infra-chains:chainFile: examples/hello.py\n"
        "  infra-chains:hf_token: {secure: v1:abc}\n"
        "  kubernetes:context: edge\n"
        "  replicas: {Greeter: 3}\n"  # a bare key is the project's (infra-chains) own
        "  infra-chains:startupTimeoutSec: 1200\n"
    )
    loaded = settings_from_stack_file(path)
    assert loaded.replicas == {"Greeter": 3} and loaded.startup_timeout_sec == 1200
    assert loaded.namespace == "default"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("  infra-chains:replica: {A: 2}\n", r"not settings: replica;(.|\n)*replicas"),
        ("  infra-chains:hf_token: plain\n", r"hf_token(.|\n)*pulumi config set --secret"),
        ("  infra-chains:exposure: nodeport\n", r"infra-chains:exposure(.|\n)*'nodeport'"),
    ],
)
def test_a_stack_file_error_names_the_file_and_key(tmp_path: pathlib.Path, config: str, message: str) -> None:
    from infra_chains.components.settings import settings_from_stack_file

    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n" + config)
    with pytest.raises(ConfigError, match=rf"{path.name}(.|\n)*{message}"):
        settings_from_stack_file(path)
    (tmp_path / "empty.yaml").write_text("name: x\n")
    with pytest.raises(ConfigError, match="has no `config:` mapping"):
        settings_from_stack_file(tmp_path / "empty.yaml")
