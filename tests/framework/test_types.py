"""`infra_chains/framework/types.py`: which annotations may cross an endpoint."""

import enum
from typing import Annotated, Any, Literal, Optional

import numpy as np
import numpy.typing as npt
import pydantic
import pytest

from infra_chains.framework.types import (
    is_binary_type,
    is_ndarray_type,
    unsupported_parts,
)


class Model(pydantic.BaseModel):
    value: int


class BinaryModel(pydantic.BaseModel):
    payload: bytes


class Mode(str, enum.Enum):
    FAST = "fast"


class Opaque:
    pass


@pytest.mark.parametrize(
    "annotation",
    [str, int, float, bool, None, type(None), Any, bytes, Model, Mode, list, dict, list[Model],
     dict[str, list[int]], dict[int, str], dict[Mode, str], tuple[int, str], tuple[int, ...],
     Optional[Model], Model | None, Literal["a", 1, True], Annotated[int, "meta"], np.ndarray,  # noqa: UP045 - Optional itself is under test
     npt.NDArray[np.float64], set[int]],
)
def test_supported(annotation: Any) -> None:
    assert unsupported_parts(annotation) == []


@pytest.mark.parametrize(
    ("annotation", "part"),
    [(Opaque, "Opaque"), (list[Opaque], "Opaque"), (dict[str, Opaque], "Opaque"),
     (dict[Model, int], "dict key Model"), (Optional[Opaque], "Opaque"),  # noqa: UP045 - Optional itself is under test
     (Literal[1.5], "Literal")],
)
def test_unsupported_parts_are_named(annotation: Any, part: str) -> None:
    parts = unsupported_parts(annotation)
    assert len(parts) == 1 and part in parts[0]


@pytest.mark.parametrize(
    ("annotation", "binary"),
    [(bytes, True), (np.ndarray, True), (npt.NDArray[np.int8], True), (list[bytes], True),
     (BinaryModel, True), (Optional[bytes], True), (str, False), (Model, False),  # noqa: UP045 - Optional itself is under test
     (dict[str, int], False)],
)
def test_is_binary_type(annotation: Any, binary: bool) -> None:
    assert is_binary_type(annotation) is binary


def test_is_ndarray_type() -> None:
    assert is_ndarray_type(np.ndarray) and is_ndarray_type(npt.NDArray[np.float32])
    assert not is_ndarray_type(list) and not is_ndarray_type(bytes)
