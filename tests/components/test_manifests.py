"""Every rendered object passes the Kubernetes 1.33 OpenAPI schema (strict: no unknown field) and
checkov's Kubernetes checks. The checks a chainlet skips are named, with why, in
`infra_chains.components.chainlet` (`CHECKOV_SKIP_TAG_IMAGE`: annotations on the objects they
concern).

checkov cannot share the test environment (it pins ``packaging<24``): it is found on PATH, beside
this Python, or at ``$INFRA_CHAINS_CHECKOV``, and the test skips saying how to install it.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
from typing import Any

import kubernetes_validate
import pytest
import yaml

from infra_chains.components.settings import StackSettings
from infra_chains.testing import render

from .conftest import EXAMPLE_FILES, GPU_CHAIN, SENTINEL, STACKS

KUBERNETES_VERSION = "1.33.0"
KINDS = {"Deployment", "Service", "Secret", "ConfigMap", "Ingress", "HorizontalPodAutoscaler",
         "PodDisruptionBudget", "NetworkPolicy"}


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Every example under both stacks, the GPU chain, and a load-balancer stack: by case name."""
    root = tmp_path_factory.mktemp("render")
    cases: dict[str, list[dict[str, Any]]] = {}
    secrets = {"pipeline_token": SENTINEL, "hf_token": SENTINEL}
    for path in EXAMPLE_FILES:
        for stack, settings in STACKS.items():
            cases[f"{path.stem}-{stack}"] = render(path, settings=settings, secrets=secrets,
                                                   context_root=root / stack).manifests
    gpu = root / "gpu_search.py"
    gpu.write_text(GPU_CHAIN)
    cases["gpu-search"] = render(gpu, settings=StackSettings(namespace="ml"), secrets=secrets,
                                 context_root=root / "gpu").manifests
    balanced = StackSettings(namespace="edge", exposure="load-balancer", build_images=False,
                             registry="ghcr.io/acme")
    cases["hello-lb"] = render(EXAMPLE_FILES[0].parent / "hello.py", settings=balanced).manifests
    return cases


def test_every_kind_is_covered(manifests: dict[str, list[dict[str, Any]]]) -> None:
    assert {m["kind"] for ms in manifests.values() for m in ms} == KINDS


def test_manifests_pass_the_kubernetes_schema(manifests: dict[str, list[dict[str, Any]]]) -> None:
    problems = []
    for case, objects in manifests.items():
        for manifest in objects:
            try:
                kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{case} {manifest['kind']} {manifest['metadata']['name']}: {exc}")
    assert not problems, "\n".join(problems)


def _checkov() -> str | None:
    if os.environ.get("INFRA_CHAINS_CHECKOV"):
        return os.environ["INFRA_CHAINS_CHECKOV"]
    beside = pathlib.Path(sys.executable).parent / "checkov"
    return str(beside) if beside.is_file() else shutil.which("checkov")


def test_manifests_pass_checkov(manifests: dict[str, list[dict[str, Any]]], tmp_path: pathlib.Path) -> None:
    checkov = _checkov()
    if checkov is None:
        pytest.skip("checkov is not installed; install it in an environment of its own (it pins "
                    "packaging<24, which pytest cannot use), e.g. `pipx install checkov`, or set "
                    "INFRA_CHAINS_CHECKOV to its executable")
    for case, objects in manifests.items():
        (tmp_path / f"{case}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
    result = subprocess.run(
        [checkov, "--directory", str(tmp_path), "--framework", "kubernetes", "--output", "json",
         "--quiet", "--skip-download"],  # --skip-download: no calls to the vendor's API
        capture_output=True, text=True, timeout=600,
    )
    if result.returncode not in (0, 1):  # 1: findings, reported below
        pytest.fail(f"checkov exited {result.returncode}:\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    (kubernetes,) = [r for r in reports if r["check_type"] == "kubernetes"]
    failed = sorted({f"{c['check_id']} {c['check_name']} ({c['resource']})"
                     for c in kubernetes["results"]["failed_checks"]})
    assert not failed, "\n".join(failed)
    assert kubernetes["summary"]["parsing_errors"] == 0
    assert kubernetes["summary"]["passed"] > 0
