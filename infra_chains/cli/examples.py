"""A placeholder call body of the right JSON shape, for the example `push` prints.

The example must be accepted by the deployed entrypoint as it is (a newcomer pastes it), so each
annotation maps to a value its JSON validation takes: numpy arrays as nested lists of numbers,
``bytes`` as base64 (the endpoint's JSON codec), optional and union types by their first arm.
"""

from __future__ import annotations

import base64
import types
import typing
from collections.abc import Iterable
from typing import Any

import pydantic

from infra_chains.framework.definition import EndpointParam
from infra_chains.framework.types import is_ndarray_type

_EXAMPLE_BYTES = base64.b64encode(b"hello").decode("ascii")


def example_arguments(params: Iterable[EndpointParam]) -> dict[str, Any]:
    """``{name: placeholder}`` for every required parameter of an endpoint."""
    return {p.name: example_value(p.annotation) for p in params if not p.has_default}


def example_value(annotation: Any) -> Any:
    """A JSON value that validates as ``annotation``."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if is_ndarray_type(annotation):
        return [[1.0, 2.0], [3.0, 4.0]]
    if annotation is str:
        return "text"
    if annotation is bool:
        return True
    if annotation is int:
        return 1
    if annotation is float:
        return 1.0
    if annotation is bytes:
        return _EXAMPLE_BYTES
    if origin is typing.Literal:
        return typing.get_args(annotation)[0]
    if origin in (typing.Union, types.UnionType):
        return example_value(args[0]) if args else None
    if origin in (list, set, frozenset):
        return [example_value(args[0] if args else str)]
    if origin is tuple:
        items = args[:-1] if len(args) == 2 and args[1] is Ellipsis else args
        return [example_value(item) for item in items]
    if origin is dict:
        return {}
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return {
            name: example_value(field.annotation)
            for name, field in annotation.model_fields.items()
            if field.is_required()
        }
    return None
