"""The whole path a GitOps pipeline takes, on a real Pulumi engine: the repo's Pulumi project
(``Pulumi.yaml``, ``deploy/pulumi``, ``stacks/``) previewed and updated by the ``pulumi`` CLI with a
local file backend and a passphrase secrets provider, the Kubernetes provider rendering the objects
to YAML files (no cluster), and those files run on the Docker stand-in cluster (standin_cluster.py)
and called through the entrypoint. Then the Automation API target (`KubernetesTarget`) previews
and pushes through the same CLI.

The CLI and the Kubernetes provider are built by ``scripts/ci-pulumi-engine`` (it prints
``INFRA_CHAINS_PULUMI_BIN``). Pulumi's Python language host is a Go module the Go module proxy
does not serve; unless that directory has one, standin_language_host.py plays its part.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import secrets as secrets_module
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(pathlib.Path(__file__).parent))  # standin_cluster, beside this file

import standin_cluster  # noqa: E402

pytestmark = [
    pytest.mark.pulumi_engine,
    pytest.mark.slow,
    # The docker SDK leaves pooled unix-socket connections to the garbage collector.
    pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOST = pathlib.Path(__file__).with_name("standin_language_host.py")
BIN_ENV = "INFRA_CHAINS_PULUMI_BIN"
REGISTRY = "infra-chains-engine"
RUN = secrets_module.token_hex(3)  # unique: another run may share the engine
CHAIN = f"tp-engine-{RUN}"
SENTINEL = f"sentinel-{secrets_module.token_hex(12)}"
PASSPHRASE = secrets_module.token_hex(16)
TIMEOUT_SEC = 300


def _engine_bin() -> pathlib.Path:
    value = os.environ.get(BIN_ENV)
    if not value:
        pytest.skip(f"{BIN_ENV} is not set: build the Pulumi CLI and Kubernetes provider with "
                    '`eval "$(./scripts/ci-pulumi-engine)"`')
    directory = pathlib.Path(value)
    missing = [name for name in ("pulumi", "pulumi-resource-kubernetes") if not os.access(directory / name, os.X_OK)]
    if missing:
        pytest.skip(f"{BIN_ENV}={directory} has no {', '.join(missing)}; rebuild with scripts/ci-pulumi-engine")
    return directory


class Cli:
    """The real ``pulumi`` CLI with a file backend, a passphrase and no plugin downloads; every
    command's output is kept, to check no secret ever shows in it."""

    def __init__(self, engine_bin: pathlib.Path, tmp: pathlib.Path) -> None:
        path = [str(engine_bin)]
        if not os.access(engine_bin / "pulumi-language-python", os.X_OK):
            host_bin = tmp / "language-host"
            host_bin.mkdir()
            wrapper = host_bin / "pulumi-language-python"
            wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HOST}" "$@"\n')
            wrapper.chmod(0o755)
            path.append(str(host_bin))
        (tmp / "state").mkdir()
        self.backend = f"file://{tmp / 'state'}"
        self.state = tmp / "state"
        self.env = {
            **os.environ,
            # Set, as on a developer's machine: the rendering provider must not take it (the
            # provider refuses a kubeconfig beside renderYamlToDirectory); nothing is there.
            "KUBECONFIG": str(tmp / "kubeconfig"),
            "PATH": os.pathsep.join([*path, os.environ.get("PATH", "")]),
            "PULUMI_HOME": str(tmp / "pulumi-home"),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }
        self.executable = engine_bin / "pulumi"
        self.outputs: list[str] = []

    def __call__(self, *args: str, cwd: pathlib.Path, stdin: str | None = None) -> str:
        done = subprocess.run(  # noqa: S603 (our own arguments)
            [str(self.executable), *args, "--non-interactive"], cwd=cwd, env=self.env, input=stdin,
            capture_output=True, text=True, timeout=TIMEOUT_SEC, check=False)
        output = done.stdout + done.stderr
        self.outputs.append(output)
        assert done.returncode == 0, f"pulumi {' '.join(args)} exited {done.returncode}:\n{output}"
        return done.stdout


def _copy_project(tmp: pathlib.Path) -> pathlib.Path:
    """The repo's Pulumi project, its program run by this interpreter's environment."""
    project = tmp / "project"
    project.mkdir()
    for name in ("deploy", "stacks", "examples"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    settings = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    settings["runtime"]["options"]["virtualenv"] = sys.prefix  # `.venv` beside Pulumi.yaml, here
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(settings))
    return project


def _rendered(directory: pathlib.Path) -> list[tuple[pathlib.Path, dict[str, Any]]]:
    found = [(path, doc) for path in sorted(directory.rglob("*.yaml"))
             for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert found, f"no manifests rendered under {directory}"
    return found


def _secret_forms(value: str) -> list[str]:
    return [value, base64.b64encode(value.encode()).decode()]


@pytest.fixture
def images() -> Iterator[list[str]]:
    """Image references a test built; removed afterwards."""
    import docker

    built: list[str] = []
    yield built
    client = docker.from_env()
    for reference in built:
        try:
            client.api.remove_image(reference, noprune=True)
        except docker.errors.APIError:
            pass
    client.close()


@pytest.mark.docker
def test_repo_project_previewed_and_updated_by_the_real_cli_runs_on_a_standin_cluster(
    tmp_path: pathlib.Path, images: list[str]
) -> None:
    engine_bin = _engine_bin()
    engine = standin_cluster.docker_engine()
    pulumi = Cli(engine_bin, tmp_path)
    project = _copy_project(tmp_path)

    pulumi("login", pulumi.backend, cwd=project)
    pulumi("stack", "init", "dev", "--secrets-provider", "passphrase", cwd=project)
    for key, value in {"registry": REGISTRY, "buildImages": "false", "chainName": CHAIN,
                       "renderYamlToDirectory": "rendered"}.items():
        pulumi("config", "set", "-s", "dev", f"infra-chains:{key}", value, cwd=project)
    # As the stack file's comment says: no value on the command line, pulumi reads it from stdin.
    pulumi("config", "set", "--secret", "-s", "dev", "infra-chains:pipeline_token", cwd=project, stdin=SENTINEL)
    stack_file = (project / "stacks" / "Pulumi.dev.yaml").read_text()
    assert "secure: v1:" in stack_file and SENTINEL not in stack_file

    preview = pulumi("preview", "-s", "dev", cwd=project)
    assert "kubernetes:apps/v1:Deployment" in preview and "infra-chains:index:Chainlet" in preview, preview
    assert not (project / "rendered").exists()  # a preview writes nothing
    pulumi("up", "-s", "dev", "--yes", cwd=project)
    # The same program again finds nothing to do (asked at once: image hashes cover infra_chains'
    # own source, which another checkout's edits would change).
    pulumi("preview", "-s", "dev", "--expect-no-changes", "--diff", cwd=project)
    outputs = json.loads(pulumi("stack", "output", "-s", "dev", "--json", cwd=project))
    assert outputs["chain_name"] == CHAIN
    assert outputs["entrypoint_url"] == outputs["chainlet_urls"]["TextPipeline"]
    assert ".infra-chains-dev.svc.cluster.local" in outputs["entrypoint_url"]

    rendered = _rendered(project / "rendered")
    manifests = [doc for _, doc in rendered]
    kinds = sorted(doc["kind"] for doc in manifests)
    assert kinds.count("Deployment") == 3 and kinds.count("Service") == 3, kinds
    # The secret is in the Secret's data only: not in another object, any CLI output or the state.
    for path, doc in rendered:
        if doc["kind"] != "Secret":
            assert not any(form in json.dumps(doc) for form in _secret_forms(SENTINEL)), path
    assert any(form in json.dumps(doc) for _, doc in rendered if doc["kind"] == "Secret"
               for form in _secret_forms(SENTINEL))
    for output in pulumi.outputs:
        assert SENTINEL not in output
    for path in pulumi.state.rglob("*.json"):
        assert SENTINEL not in path.read_text(), path

    from infra_chains.deploy import plan_chain
    from infra_chains.framework.loading import load_entrypoint

    chain_file = project / "examples" / "text_pipeline.py"
    plan = plan_chain(load_entrypoint(chain_file), CHAIN, user_env={"mode": "dev"}, environment="dev")
    pod_images = {m["spec"]["template"]["spec"]["containers"][0]["image"] for m in manifests if m["kind"] == "Deployment"}
    assert all(image.startswith(f"{REGISTRY}/") for image in pod_images)
    references = {spec.name: next(i for i in pod_images if i.endswith(f":{spec.image_hash}")) for spec in plan.chainlets}
    images.extend(standin_cluster.build_images(engine, plan, references))
    assert sorted(images) == sorted(pod_images)
    result = standin_cluster.run_and_call(manifests, outputs["entrypoint_url"], standin_cluster.TEXT_PIPELINE_DOCUMENT, run=RUN, never_shown=SENTINEL)
    # user_env came from stacks/Pulumi.dev.yaml, the secret through the Secret mounted at its path.
    assert result["mode"] == "dev" and result["total_words"] == 6 and result["chunks"] == 3
    assert {s["tag"] for s in result["summaries"]} == {hashlib.sha256(SENTINEL.encode()).hexdigest()[:8]}


def test_automation_api_target_previews_and_pushes_through_the_real_cli(tmp_path: pathlib.Path) -> None:
    from infra_chains.components.settings import StackSettings
    from infra_chains.deploy import plan_chain
    from infra_chains.framework.loading import load_entrypoint
    from infra_chains.targets.kubernetes import KubernetesTarget
    from infra_chains.targets.kubernetes.service import KubernetesChainService

    engine_bin = _engine_bin()
    pulumi = Cli(engine_bin, tmp_path)  # only for its environment: the target runs the CLI
    rendered = tmp_path / "rendered"
    settings = StackSettings(namespace="chains-auto", registry=REGISTRY, build_images=False,
                             render_yaml_to_directory=str(rendered))
    env: Mapping[str, str] = {key: pulumi.env[key] for key in (
        "PATH", "PULUMI_HOME", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_SKIP_UPDATE_CHECK",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "KUBECONFIG")}
    target = KubernetesTarget("dev", settings=settings, pulumi=engine_bin / "pulumi", work_root=tmp_path / "work",
                              backend_url=pulumi.backend, secrets_provider="passphrase", env=env)
    plan = plan_chain(load_entrypoint(ROOT / "examples" / "text_pipeline.py"), CHAIN, user_env={"mode": "auto"})
    secrets = {"pipeline_token": SENTINEL}

    before = target.preview(plan, secrets)
    assert {c.name: c.action for c in before.chainlets} == dict.fromkeys(["TextPipeline", "Chunker", "Summarizer"], "new")
    assert before.resource_changes is not None and before.resource_changes.get("create", 0) >= 9, before
    assert not rendered.exists()

    service = target.deploy(plan, secrets)
    assert isinstance(service, KubernetesChainService)
    assert ".chains-auto.svc.cluster.local" in service.entrypoint_url
    manifests = [doc for _, doc in _rendered(rendered)]
    assert sorted(d["kind"] for d in manifests).count("Deployment") == 3
    after = target.preview(plan, secrets)  # from the stack's real outputs now
    assert {c.action for c in after.chainlets} == {"unchanged"}, after.chainlets
    for path in (tmp_path / "work").rglob("*"):
        if path.is_file():
            assert SENTINEL not in path.read_text(errors="replace"), path
    for path in pulumi.state.rglob("*.json"):
        assert SENTINEL not in path.read_text(), path
