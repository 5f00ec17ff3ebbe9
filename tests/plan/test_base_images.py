"""The base-image map: slim Pythons, the CUDA base with a Python, the rejected old Pythons."""

from __future__ import annotations

import pytest

from infra_chains.plan.base_images import (
    CUDA_IMAGE,
    VENV_PYTHON,
    BaseImage,
    UnsupportedBaseImage,
    resolve_base_image,
)
from infra_chains.remote_config import BasetenImage, CustomImage


@pytest.mark.parametrize(("image", "version"), [
    (BasetenImage.PY311, "3.11"), (BasetenImage.PY312, "3.12"), (BasetenImage.PY313, "3.13"),
])
def test_cpu_chainlets_get_the_official_slim_image(image: BasetenImage, version: str) -> None:
    assert resolve_base_image(image, gpu=False) == BaseImage(
        f"python:{version}-slim", "python3", version, "image"
    )


@pytest.mark.parametrize("image", [BasetenImage.PY311, BasetenImage.PY312])
def test_gpu_chainlets_get_cuda_with_the_distributions_python_in_a_venv(image: BasetenImage) -> None:
    base = resolve_base_image(image, gpu=True)
    assert base == BaseImage(CUDA_IMAGE, VENV_PYTHON, "3.12", "apt-venv")
    assert "ubuntu24.04" in base.image and "runtime" in base.image


def test_gpu_with_a_python_the_cuda_base_lacks_is_rejected() -> None:
    with pytest.raises(UnsupportedBaseImage, match="BasetenImage.PY313 with a GPU.*CustomImage"):
        resolve_base_image(BasetenImage.PY313, gpu=True)


@pytest.mark.parametrize("image", [BasetenImage.PY39, BasetenImage.PY310])
@pytest.mark.parametrize("gpu", [False, True])
def test_pythons_older_than_the_runtime_are_rejected(image: BasetenImage, gpu: bool) -> None:
    with pytest.raises(UnsupportedBaseImage) as error:
        resolve_base_image(image, gpu=gpu)
    assert f"BasetenImage.{image.name} gives Python {image.python_version}" in str(error.value)
    assert "needs Python 3.11 or newer; use BasetenImage.PY311 or newer, or a CustomImage" in str(
        error.value
    )


@pytest.mark.parametrize("gpu", [False, True])
def test_a_custom_image_overrides_the_map(gpu: bool) -> None:
    custom = CustomImage(image="registry.example.com/cuda-py:3.13", python_executable_path="/opt/py/bin/python")
    assert resolve_base_image(custom, gpu=gpu) == BaseImage(
        "registry.example.com/cuda-py:3.13", "/opt/py/bin/python", None, "image"
    )
    assert resolve_base_image(CustomImage(image="x"), gpu=gpu).python_executable == "python3"
