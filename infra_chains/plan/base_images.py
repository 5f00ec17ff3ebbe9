"""The base-image map: which image (and which Python in it) a chainlet's `docker_image` gives.

| `base_image`                     | no GPU                | GPU (`Compute(gpu=...)`)                          |
|----------------------------------|-----------------------|---------------------------------------------------|
| `BasetenImage.PY311`             | `python:3.11-slim`    | `CUDA_IMAGE`, Ubuntu 24.04's Python 3.12 in a venv |
| `BasetenImage.PY312`             | `python:3.12-slim`    | `CUDA_IMAGE`, Ubuntu 24.04's Python 3.12 in a venv |
| `BasetenImage.PY313`             | `python:3.13-slim`    | rejected (no CUDA base with Python 3.13): use a `CustomImage` |
| `BasetenImage.PY39` / `PY310`    | rejected: the runtime needs Python >= 3.11                                 |
| `CustomImage(image=..., python_executable_path=...)` | used as given, GPU or not (the override)      |

NVIDIA's CUDA images have no Python; Ubuntu 24.04's distribution Python is 3.12, which runs code
written for 3.11, so both map to it and the build installs it (`python_setup="apt-venv"`).

Every image runs the runtime from a venv at `VENV_DIR` made from the base's Python
(`python_executable` for `python_setup="image"`, the distribution's ``python3`` for `apt-venv`),
so a base whose system Python is marked externally managed (PEP 668) works too.

This lives in ``plan`` (not ``build``) because the resolved base image is part of the image's
identity, which the planner hashes; ``build`` only renders it. `IMAGE_TEMPLATE_VERSION` is the
version of the image recipe (this map and `build/dockerfile.py`): bump it when either changes what
an image holds, so no stale image is reused (the runtime digest covers edits in development).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from infra_chains.remote_config import BasetenImage, CustomImage

#: 2: every image runs from a venv at VENV_DIR, non-root user 10001, HEALTHCHECK, compiled
#: runtime, build args for the requirements install. 3: the requirements install in a stage of
#: its own (build args out of the image's history), the source COPYs after USER, last.
IMAGE_TEMPLATE_VERSION = 3
#: The runtime's own floor (pyproject's requires-python).
MIN_PYTHON = (3, 11)
CUDA_IMAGE = "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04"
CUDA_PYTHON_VERSION = "3.12"
#: The venv every image runs the runtime from (build/dockerfile.py makes it).
VENV_DIR = "/opt/venv"
VENV_PYTHON = f"{VENV_DIR}/bin/python"


class BaseImage(NamedTuple):
    """A resolved base: the image, its Python and how that Python gets there."""

    image: str
    python_executable: str
    python_version: str | None
    python_setup: Literal["image", "apt-venv"]


class UnsupportedBaseImage(ValueError):
    """The choice cannot run the runtime; the message says what to choose instead."""


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def resolve_base_image(base: BasetenImage | CustomImage, *, gpu: bool) -> BaseImage:
    """The base image for ``base``; raises `UnsupportedBaseImage` for a choice that cannot work."""
    if isinstance(base, CustomImage):
        return BaseImage(base.image, base.python_executable_path or "python3", None, "image")
    version = base.python_version
    if _version_tuple(version) < MIN_PYTHON:
        floor = ".".join(map(str, MIN_PYTHON))
        raise UnsupportedBaseImage(
            f"BasetenImage.{base.name} gives Python {version}, but the infra_chains runtime needs "
            f"Python {floor} or newer; use BasetenImage.PY311 or newer, or a CustomImage whose "
            f"Python is {floor} or newer"
        )
    if not gpu:
        return BaseImage(f"python:{version}-slim", "python3", version, "image")
    if _version_tuple(version) > _version_tuple(CUDA_PYTHON_VERSION):
        raise UnsupportedBaseImage(
            f"BasetenImage.{base.name} with a GPU: the CUDA base ({CUDA_IMAGE}) has Python "
            f"{CUDA_PYTHON_VERSION}, not {version}; use BasetenImage.PY312, or a CustomImage "
            f"with CUDA and Python {version} (python_executable_path=...)"
        )
    return BaseImage(CUDA_IMAGE, VENV_PYTHON, CUDA_PYTHON_VERSION, "apt-venv")
