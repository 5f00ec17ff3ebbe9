"""ImageSpec -> Dockerfile text (and the context's .dockerignore).

The Dockerfile is a function of the `ImageSpec` alone (no chainlet name, no deployment value), so
the image tag can be the spec's hash and chainlets with equal image parts share one image. Layers
go from least to most often changed: system packages, pip requirements, runtime, source.
"""

from __future__ import annotations

import pathlib

from infra_chains.build.layout import APP_DIR, ChainletLayout
from infra_chains.plan.models import ImageSpec

#: Never sent to the engine, even if a copy step let one through (the copier skips them too).
DOCKERIGNORE = "\n".join([
    "**/.git", "**/.hg", "**/.svn", "**/.venv", "**/venv", "**/.env", "**/.env.*",
    "**/__pycache__", "**/*.pyc", "**/*.pyo", "**/.mypy_cache", "**/.pytest_cache",
    "**/.chains_generated", "chainlet.json", "layout.json",
]) + "\n"


def _system_packages(image: ImageSpec) -> list[str]:
    packages = set(image.apt_requirements)
    if image.python_setup == "apt-venv":
        packages |= {"python3", "python3-venv"}
    return sorted(packages)


def dockerfile(image: ImageSpec) -> str:
    layout = ChainletLayout.in_image(image)
    python = layout.python_executable
    lines = [
        f"FROM {image.base_image}",
        "ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
    ]
    if packages := _system_packages(image):
        install = (
            "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
            f"--no-install-recommends {' '.join(packages)} && rm -rf /var/lib/apt/lists/*"
        )
        if image.python_setup == "apt-venv":
            venv = pathlib.PurePosixPath(python).parent.parent
            install += f" && python3 -m venv {venv}"
        lines.append(install)
    lines += [
        f"COPY requirements.txt {APP_DIR}/requirements.txt",
        f"RUN {python} -m pip install --no-cache-dir -r {APP_DIR}/requirements.txt",
        f"COPY runtime {layout.runtime_dir}",
        f"COPY packages {APP_DIR}/packages",
        f"COPY data {APP_DIR}/data",
        f"COPY workspace {layout.workspace_dir}",
        f"ENV PYTHONPATH={layout.runtime_dir}",
        f"WORKDIR {layout.workspace_dir}",
        f'CMD ["{python}", "-m", "infra_chains.serve"]',
    ]
    return "\n".join(lines) + "\n"
