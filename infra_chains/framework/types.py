"""Which Python types may cross a chainlet's endpoint, and which need the binary codec."""

from __future__ import annotations

import datetime
import decimal
import enum
import types
import typing
import uuid
from typing import Any

import pydantic

_SCALARS: frozenset[Any] = frozenset(
    {str, int, float, bool, type(None), None, Any, bytes,
     datetime.datetime, datetime.date, datetime.time, datetime.timedelta, uuid.UUID, decimal.Decimal}
)
_BINARY_SCALARS: frozenset[Any] = frozenset({bytes})
_UNIONS: tuple[Any, ...] = (typing.Union, types.UnionType)


def is_ndarray_type(annotation: Any) -> bool:
    """True for ``numpy.ndarray`` (also parametrised, ``npt.NDArray[...]``), without importing numpy."""
    origin = typing.get_origin(annotation) or annotation
    return getattr(origin, "__module__", "") == "numpy" and getattr(origin, "__name__", "") == "ndarray"


def unsupported_parts(annotation: Any) -> list[str]:
    """The parts of ``annotation`` that cannot travel over an endpoint (empty when all can)."""
    if annotation in _SCALARS or is_ndarray_type(annotation):
        return []
    if isinstance(annotation, type):
        if issubclass(annotation, pydantic.BaseModel):
            return []
        if issubclass(annotation, enum.Enum):
            return []
        if annotation in (list, dict, tuple, set, frozenset):
            return []
        return [_name(annotation)]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return unsupported_parts(args[0])
    if origin is typing.Literal:
        return [] if all(isinstance(a, (str, int, bool, type(None), enum.Enum)) for a in args) else [
            _name(annotation)
        ]
    if origin in _UNIONS or origin in (list, tuple, set, frozenset):
        return [part for arg in args if arg is not Ellipsis for part in unsupported_parts(arg)]
    if origin is dict:
        key, value = args if args else (str, Any)
        problems = [] if key in (str, int) or _is_str_enum(key) else [f"dict key {_name(key)}"]
        return problems + unsupported_parts(value)
    return [_name(annotation)]


def is_binary_type(annotation: Any) -> bool:
    """True if ``annotation`` contains ``bytes`` or a numpy array (these call for msgpack)."""
    if annotation in _BINARY_SCALARS or is_ndarray_type(annotation):
        return True
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return any(is_binary_type(f.annotation) for f in annotation.model_fields.values())
    return any(is_binary_type(arg) for arg in typing.get_args(annotation) if arg is not Ellipsis)


def _is_str_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum) and issubclass(tp, str)


def _name(tp: Any) -> str:
    return getattr(tp, "__qualname__", None) or repr(tp)
