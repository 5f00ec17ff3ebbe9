"""The repo's own Pulumi program under mocks, configured exactly as ``pulumi preview -s <stack>``
configures it: the stack file's ``config:`` (objects and numbers passed as JSON, keys in the
project's namespace), secure values given as the CLI would decrypt them; no CLI, no cluster."""

from __future__ import annotations

import asyncio
import gc
import json
import pathlib
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import pulumi
import pytest
import yaml

from infra_chains.components.program import program_from_config
from infra_chains.errors import ConfigError
from infra_chains.targets.secrets import MissingSecretsError

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
TOKEN = "sentinel-token-7f3a"  # what `pulumi config set --secret pipeline_token` would hold


def stack_config(stack: str, secure: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The config the CLI hands the program for ``stacks/Pulumi.<stack>.yaml``: namespaced keys,
    strings as written, everything else as JSON; ``secure`` values as if decrypted."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    path = ROOT / project["stackConfigDir"] / f"Pulumi.{stack}.yaml"
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in (yaml.safe_load(path.read_text()).get("config") or {}).items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            bare = full.split(":", 1)[1]
            assert bare in secure, f"{path} has a secure value for {key}; give it to the test"
            config[full], secret_keys = secure[bare], [*secret_keys, full]
        else:
            config[full] = value if isinstance(value, str) else json.dumps(value)
    for bare, value in secure.items():  # `pulumi config set --secret` adds them to the file
        full = f"{PROJECT}:{bare}"
        if full not in config:
            config[full], secret_keys = value, [*secret_keys, full]
    return config, secret_keys


class Recorder(pulumi.runtime.Mocks):
    """Inputs as state, plus what a provider would compute (names, digests); ids always set."""

    def __init__(self) -> None:
        self.resources: list[tuple[str, str, dict[str, Any]]] = []
        self.providers: dict[str, str | None] = {}  # resource name -> its provider reference

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ.startswith("kubernetes:"):
            metadata = dict(state.get("metadata") or {})
            metadata.setdefault("name", f"{args.name}-0a1b2c3d")
            state["metadata"] = metadata
        if args.typ == "docker:index/image:Image":
            state["repoDigest"] = f"{state.get('imageName', args.name)}@sha256:{'ab' * 32}"
        self.resources.append((args.typ, args.name, state))
        self.providers[args.name] = args.provider
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        found = {name: state for typ, name, state in self.resources if typ == f"kubernetes:{kind}"}
        names = [name for typ, name, _ in self.resources]
        assert len(names) == len(set(names)), f"duplicate resource names: {sorted(names)}"
        return found


@pytest.fixture
def mocks() -> Iterator[Recorder]:
    recorder = Recorder()
    loop = asyncio.new_event_loop()  # Python >= 3.12 has no implicit one
    asyncio.set_event_loop(loop)
    try:
        yield recorder
    finally:
        pulumi.runtime.set_all_config({}, [])  # config is process-global
        asyncio.set_event_loop(None)
        loop.close()
        # Pulumi's `_sync_await` gives each executor thread its own event loop and never closes
        # it; collect those here, so they are not reported inside a later test.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


def run(mocks: Recorder, stack: str, config: dict[str, str], secret_keys: list[str], tmp: pathlib.Path) -> dict[str, Any]:
    """Run the program for ``stack`` and return its stack outputs, resolved."""
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=True)
    pulumi.runtime.set_all_config(config, secret_keys)
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        program_from_config(ROOT, context_root=tmp / "contexts")
        exported = pulumi.runtime.get_root_resource().outputs  # type: ignore[union-attr]
        return pulumi.Output.all(**exported).apply(outputs.update)

    program()
    return outputs


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_repo_program_deploys_the_stack_files_chain(mocks: Recorder, stack: str, tmp_path: pathlib.Path) -> None:
    config, secret_keys = stack_config(stack, {"pipeline_token": TOKEN})
    file_config = {k.split(":", 1)[1]: v for k, v in config.items()}
    namespace = file_config["namespace"]
    outputs = run(mocks, stack, config, secret_keys, tmp_path)

    names = {"TextPipeline", "Chunker", "Summarizer"}
    assert set(outputs["chainlet_urls"]) == names
    assert set(outputs["image_hashes"]) == names == set(outputs["deployment_hashes"])
    # What the chain-aware preview reads to say which input of a chainlet changed, whether the
    # stack was last updated by `pulumi up` from the repo or by `infra-chains push`.
    fingerprints = outputs["chainlet_fingerprints"]
    assert set(fingerprints) == names
    assert all(fingerprints[n]["image_hash"] == outputs["image_hashes"][n] for n in names)
    assert outputs["chain_name"] == "text-pipeline"
    if file_config.get("exposure") == "ingress":  # reached through the Ingress's host
        assert file_config["ingressHost"] in outputs["entrypoint_url"]
    else:
        assert outputs["entrypoint_url"] == outputs["chainlet_urls"]["TextPipeline"]
    for url in outputs["chainlet_urls"].values():
        assert f".{namespace}.svc.cluster.local" in url

    deployments = mocks.of_type("apps/v1:Deployment")
    assert len(deployments) == 3
    for state in deployments.values():
        assert state["metadata"]["namespace"] == namespace
    # user_env from the stack file reaches every chainlet's contract, not the other stack's.
    rendered = json.dumps([state for _, _, state in mocks.resources])
    mode = json.loads(file_config["userEnv"])["mode"]
    assert f'\\"mode\\": \\"{mode}\\"' in rendered or f'"mode": "{mode}"' in rendered
    # The secret is only in a Secret, never in a Deployment, ConfigMap or an output.
    assert TOKEN in json.dumps(mocks.of_type("core/v1:Secret"))
    for kind in ("apps/v1:Deployment", "core/v1:ConfigMap", "core/v1:Service"):
        assert TOKEN not in json.dumps(mocks.of_type(kind)), kind
    assert TOKEN not in json.dumps(outputs)

    if stack == "prod":
        hpas = mocks.of_type("autoscaling/v2:HorizontalPodAutoscaler")
        assert [s["spec"]["maxReplicas"] for s in hpas.values()] == [8]  # numbers arrive as floats
        ingresses = mocks.of_type("networking.k8s.io/v1:Ingress")
        assert [s["spec"]["rules"][0]["host"] for s in ingresses.values()] == ["text-pipeline.example.com"]
    else:
        assert not mocks.of_type("autoscaling/v2:HorizontalPodAutoscaler")
        assert not mocks.of_type("networking.k8s.io/v1:Ingress")


def test_dev_and_prod_differ_in_user_env_and_sizes() -> None:
    dev, _ = stack_config("dev", {})
    prod, _ = stack_config("prod", {})
    for key in ("userEnv", "replicas"):
        assert dev[f"{PROJECT}:{key}"] != prod[f"{PROJECT}:{key}"], key
    assert dev[f"{PROJECT}:chainFile"] == prod[f"{PROJECT}:chainFile"] == "examples/text_pipeline.py"


def test_missing_secret_names_the_pulumi_command(mocks: Recorder, tmp_path: pathlib.Path) -> None:
    config, secret_keys = stack_config("dev", {})
    with pytest.raises(MissingSecretsError, match=r"pipeline_token(.|\n)*pulumi config set --secret"):
        run(mocks, "dev", config, secret_keys, tmp_path)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "is not set"),
        ("examples/text_pipeline", "does not end in .py"),
        ("/abs/chain.py", "absolute path"),
        ("../outside.py", "leads outside"),
        ("examples/missing.py", "does not exist"),
    ],
)
def test_invalid_chain_file_is_named_with_the_fix(
    mocks: Recorder, tmp_path: pathlib.Path, value: str | None, message: str
) -> None:
    config, secret_keys = stack_config("dev", {"pipeline_token": TOKEN})
    config.pop(f"{PROJECT}:chainFile")
    if value is not None:
        config[f"{PROJECT}:chainFile"] = value
    with pytest.raises(ConfigError, match=rf"infra-chains:chainFile(.|\n)*{message}(.|\n)*pulumi config set"):
        run(mocks, "dev", config, secret_keys, tmp_path)


def test_unknown_entrypoint_names_the_chainlets_there(mocks: Recorder, tmp_path: pathlib.Path) -> None:
    config, secret_keys = stack_config("dev", {"pipeline_token": TOKEN})
    config[f"{PROJECT}:entrypoint"] = "Nope"
    with pytest.raises(ConfigError, match=r"infra-chains:entrypoint is 'Nope'(.|\n)*Chunker"):
        run(mocks, "dev", config, secret_keys, tmp_path)


def test_render_yaml_to_directory_sends_every_kubernetes_object_to_a_rendering_provider(
    mocks: Recorder, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    config, secret_keys = stack_config("dev", {"pipeline_token": TOKEN})
    config[f"{PROJECT}:renderYamlToDirectory"] = "rendered/dev"  # relative to the project root
    run(mocks, "dev", config, secret_keys, tmp_path)

    providers = {name: state for typ, name, state in mocks.resources if typ == "pulumi:providers:kubernetes"}
    assert [state["renderYamlToDirectory"] for state in providers.values()] == [str(ROOT / "rendered" / "dev")]
    assert [state["kubeconfig"] for state in providers.values()] == [""]  # not $KUBECONFIG: refused there
    (renderer,) = providers
    objects = [name for typ, name, _ in mocks.resources if typ.startswith("kubernetes:")]
    assert len(objects) >= 9  # three chainlets' Deployments, Services, ConfigMaps...
    for name in objects:
        assert (mocks.providers[name] or "").endswith(f"pulumi:providers:kubernetes::{renderer}::{renderer}-id"), name


def test_without_render_directory_objects_use_the_default_provider(mocks: Recorder, tmp_path: pathlib.Path) -> None:
    config, secret_keys = stack_config("dev", {"pipeline_token": TOKEN})
    run(mocks, "dev", config, secret_keys, tmp_path)
    assert not [typ for typ, _, _ in mocks.resources if typ.startswith("pulumi:providers:")]
