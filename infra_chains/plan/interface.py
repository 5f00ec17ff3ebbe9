"""A chainlet's interface as its callers see it, as a digest.

A dependent's stubs are generated from its dependency's ``run_remote`` signature (see
`infra_chains.serving.stub`), and requests and answers cross the wire as the JSON (or msgpack) of
its argument and return types. That, and not the dependency's implementation, is what a
dependent's image and restarts depend on: editing a dependency's body restarts the dependency
alone, while changing its signature or the fields of a model it exchanges restarts its callers
too.

The digest covers the chainlet's name, each parameter's name, annotation and default, the return
annotation, whether the endpoint speaks binary, and the JSON schemas (validation and
serialisation) of every annotation. Types are named by ``module.QualName`` (module names are
workspace-relative, see `infra_chains.framework.loading`), so the digest is the same on every
machine.
"""

from __future__ import annotations

import hashlib
import json
import re
import typing
from typing import Any

import pydantic
import pydantic_core

from infra_chains.framework.definition import ChainletDefinition

#: ``<object at 0x7f...>`` in a repr differs between processes; it is left out.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def interface_digest(definition: ChainletDefinition) -> str:
    """sha256 of `interface_document` (sorted-key JSON)."""
    text = json.dumps(interface_document(definition), sort_keys=True, default=_value_text)
    return hashlib.sha256(text.encode()).hexdigest()


def interface_document(definition: ChainletDefinition) -> dict[str, Any]:
    """What a caller's stub is made from, as plain data."""
    endpoint = definition.endpoint
    return {
        "name": definition.name,
        "params": [
            {
                "name": param.name,
                "annotation": type_text(param.annotation),
                "default": _value_text(param.default) if param.has_default else None,
                "has_default": param.has_default,
                "schema": _schema(param.annotation),
            }
            for param in endpoint.params
        ],
        "returns": type_text(endpoint.return_annotation),
        "returns_schema": _schema(endpoint.return_annotation),
        "uses_binary": endpoint.uses_binary,
    }


def type_text(annotation: Any) -> str:
    """``annotation`` spelled with ``module.QualName`` for classes, the same in every process."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is not None and args:
        if origin is typing.Annotated:
            base, *metadata = args
            return f"Annotated[{type_text(base)}, {', '.join(_value_text(m) for m in metadata)}]"
        if origin is typing.Literal:
            return f"Literal[{', '.join(_value_text(a) for a in args)}]"
        return f"{type_text(origin)}[{', '.join(type_text(a) for a in args)}]"
    if isinstance(annotation, type):
        return f"{annotation.__module__}.{annotation.__qualname__}"
    if isinstance(annotation, list):  # Callable[[...], R]'s argument list
        return f"[{', '.join(type_text(a) for a in annotation)}]"
    return _ADDRESS.sub("", repr(annotation))


def _value_text(value: Any) -> str:
    """A default or metadata value as JSON when it has one, else its repr without addresses."""
    try:
        return json.dumps(pydantic_core.to_jsonable_python(value), sort_keys=True)
    except (pydantic_core.PydanticSerializationError, TypeError, ValueError):
        return _ADDRESS.sub("", repr(value))


def _schema(annotation: Any) -> Any:
    """The JSON schemas of ``annotation`` (what crosses the wire), or its models' fields.

    Types pydantic cannot describe as JSON (``numpy.ndarray``, a model with an array field)
    fall back to the fields of every pydantic model reachable from the annotation.
    """
    try:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(annotation)
        return {
            "validation": adapter.json_schema(mode="validation"),
            "serialization": adapter.json_schema(mode="serialization"),
        }
    except pydantic.PydanticUserError:
        models: dict[str, Any] = {}
        _collect_fields(annotation, models)
        return {"fields": models}


def _collect_fields(annotation: Any, models: dict[str, Any]) -> None:
    """Every pydantic model reachable from ``annotation``: field name -> annotation, default, alias."""
    for arg in typing.get_args(annotation):
        _collect_fields(arg, models)
    if not (isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)):
        return
    name = type_text(annotation)
    if name in models:
        return
    models[name] = fields = {}
    for field_name, field in annotation.model_fields.items():
        fields[field_name] = {
            "annotation": type_text(field.annotation),
            "required": field.is_required(),
            "default": _value_text(field.default),
            "default_factory": type_text(field.default_factory),
            "alias": field.alias,
        }
        _collect_fields(field.annotation, models)
