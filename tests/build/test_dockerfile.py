"""Dockerfiles: made from the image part alone, with a Python that can run the runtime."""

from __future__ import annotations

from infra_chains.build.dockerfile import DOCKERIGNORE, dockerfile
from infra_chains.plan import ChainPlan, ImageSpec, RuntimeVersion, SourceDigests
from infra_chains.plan.base_images import CUDA_IMAGE, VENV_PYTHON


def image(**fields: object) -> ImageSpec:
    base: dict[str, object] = dict(
        base_image="python:3.12-slim", python_version="3.12", sources=SourceDigests(code="c"),
        runtime=RuntimeVersion(version="0.1.0", digest="r"), template_version=1,
    )
    return ImageSpec.model_validate({**base, **fields})


def test_default_image_installs_requirements_then_copies_the_source() -> None:
    text = dockerfile(image())
    lines = text.splitlines()
    assert lines[0] == "FROM python:3.12-slim"
    assert "apt-get" not in text
    order = [next(i for i, line in enumerate(lines) if line.startswith(prefix)) for prefix in (
        "RUN python3 -m pip install --no-cache-dir -r /app/requirements.txt",
        "COPY runtime /app/runtime", "COPY workspace /app/workspace",
    )]
    assert order == sorted(order)
    assert "ENV PYTHONPATH=/app/runtime" in lines
    assert lines[-1] == 'CMD ["python3", "-m", "infra_chains.serve"]'


def test_gpu_image_installs_the_distributions_python_into_a_venv() -> None:
    text = dockerfile(image(
        base_image=CUDA_IMAGE, python_executable=VENV_PYTHON, python_setup="apt-venv",
        apt_requirements=["libgomp1"],
    ))
    install = next(line for line in text.splitlines() if "apt-get install" in line)
    assert "libgomp1 python3 python3-venv" in install
    assert install.endswith("python3 -m venv /opt/venv")
    assert f"RUN {VENV_PYTHON} -m pip install" in text
    assert text.rstrip().endswith(f'CMD ["{VENV_PYTHON}", "-m", "infra_chains.serve"]')


def test_custom_image_uses_its_python() -> None:
    text = dockerfile(image(base_image="my/base:1", python_executable="/py/bin/python3",
                            python_version=None))
    assert text.startswith("FROM my/base:1\n")
    assert "RUN /py/bin/python3 -m pip install" in text
    assert "python3 -m venv" not in text


def test_the_dockerfile_depends_on_the_image_part_only(plan: ChainPlan) -> None:
    for spec in plan.chainlets:
        text = dockerfile(spec.image)
        assert spec.name not in text and spec.content_hash not in text
        assert plan.workspace_dir not in text


def test_dockerignore_keeps_vcs_venvs_caches_and_env_files_out() -> None:
    for pattern in ("**/.git", "**/.venv", "**/venv", "**/__pycache__", "**/.env", "**/.env.*"):
        assert pattern in DOCKERIGNORE.splitlines()
