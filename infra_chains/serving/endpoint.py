"""Validators and serializers of one chainlet's ``run_remote``, built once per endpoint.

The server validates request bodies with a pydantic-core validator built from the endpoint's
parameters (a ``TypedDict`` with ``extra="forbid"``, so an unknown field is a 422, not silently
dropped), straight from the bytes (``validate_json``): PERF.md measured a web framework's own
validation layer at ~0.5 ms per hop. The same object serves the calling stub: it encodes
arguments and validates the result back into the declared return type (a pydantic model comes
back as that model).

numpy arrays are not pydantic types; parameters and return types naming ``numpy.ndarray`` are
rewritten to an annotated type that accepts an array (msgpack) or nested lists (JSON) and
serialises to lists in JSON only.
"""

from __future__ import annotations

import base64
import inspect
import types
import typing
from typing import Annotated, Any

import pydantic
import typing_extensions

from infra_chains.framework.definition import ChainletDefinition, EndpointParam
from infra_chains.framework.types import is_ndarray_type
from infra_chains.serving import codec

# bytes travel as base64 in JSON (raw in msgpack); the framework's own adapters use this config.
_JSON_BYTES = pydantic.ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")


class EndpointCodec:
    """Everything needed to (de)serialise calls to one chainlet's ``run_remote``."""

    def __init__(self, definition: ChainletDefinition) -> None:
        endpoint = definition.endpoint
        self.chainlet_name = definition.name
        self.is_async = endpoint.is_async
        self.uses_binary = endpoint.uses_binary
        self.method_name = endpoint.method_name
        self.is_websocket = endpoint.is_websocket
        self.params: tuple[EndpointParam, ...] = endpoint.params
        self.defaults: dict[str, Any] = {p.name: p.default for p in endpoint.params if p.has_default}
        self.input_adapter: pydantic.TypeAdapter[dict[str, Any]] = pydantic.TypeAdapter(
            _input_typeddict(definition)
        )
        #: ``str``/``bytes`` for a streaming endpoint, whose results are sent by `stream_sender`.
        self.stream_item: type[Any] | None = endpoint.stream_item
        #: Longest pause between two streamed items (`ChainletOptions.streaming_read_timeout`).
        self.stream_read_timeout = float(definition.remote_config.options.streaming_read_timeout)
        self.output_adapter: pydantic.TypeAdapter[Any] = _adapter(
            self.stream_item or _with_numpy(endpoint.return_annotation)
        )
        # The signature stubs show (``self`` first, defaults kept) and bind calls against.
        self.signature = inspect.Signature(
            [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
            + [
                inspect.Parameter(
                    p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default,
                    annotation=p.annotation,
                )
                for p in endpoint.params
            ],
            return_annotation=endpoint.return_annotation,
        )

    # -- server side -----------------------------------------------------------------------
    def parse_arguments(self, body: bytes | bytearray, binary: bool) -> dict[str, Any]:
        """Keyword arguments for ``run_remote`` from a request body; raises `pydantic.ValidationError`.

        A msgpack body that is not even msgpack raises `codec.CodecError`.
        """
        if binary:
            values = self.input_adapter.validate_python(codec.decode(body, True))
        else:
            values = self.input_adapter.validate_json(body or b"{}")
        if self.defaults:
            return {**self.defaults, **values}
        return values

    def dump_result(self, value: Any, binary: bool) -> bytes:
        """The response body for ``run_remote``'s return value."""
        if binary:
            return codec.encode(self.output_adapter.dump_python(value, warnings=False), True)
        return self.output_adapter.dump_json(value, warnings=False, fallback=_json_fallback)

    # -- stub side -------------------------------------------------------------------------
    def dump_arguments(self, arguments: dict[str, Any], binary: bool) -> bytes:
        """The request body for a call with ``arguments`` (already bound to the signature)."""
        if binary:
            return codec.encode(self.input_adapter.dump_python(arguments, warnings=False), True)
        return self.input_adapter.dump_json(arguments, warnings=False, fallback=_json_fallback)

    def load_result(self, body: bytes | bytearray, binary: bool) -> Any:
        """The return value from a response body, validated into the declared return type."""
        if binary:
            return self.output_adapter.validate_python(codec.decode(body, True))
        return self.output_adapter.validate_json(body)

    def openapi(self, title: str) -> dict[str, Any]:
        """An OpenAPI 3.1 document for ``POST /run_remote``, from the endpoint's JSON schemas."""
        schemas, definitions = pydantic.TypeAdapter.json_schemas(
            [("in", "validation", self.input_adapter), ("out", "serialization", self.output_adapter)],
            ref_template="#/components/schemas/{model}",
        )
        request_schema = schemas[("in", "validation")]
        response_schema = schemas[("out", "serialization")]
        response_content: dict[str, Any] = {
            codec.JSON_CONTENT_TYPE: {"schema": response_schema},
            codec.MSGPACK_CONTENT_TYPE: {"schema": response_schema},
        }
        returns = "The return value of `run_remote`."
        if self.stream_item is not None:  # chunked, see serving/streams.py and stream_sender.py
            raw = "text/plain" if self.stream_item is str else "application/octet-stream"
            response_content = {raw: {"schema": {"type": "string"}},
                                "application/vnd.infra-chains.stream": {"schema": {"type": "string"}}}
            returns = ("A stream of the items `run_remote` yields, each sent as it is produced "
                       "(chunked).")
        error = {"description": "`{\"error\": RemoteErrorDetail}`", "content": {
            codec.JSON_CONTENT_TYPE: {"schema": {"type": "object", "properties": {"error": {"type": "object"}}}}
        }}
        return {
            "openapi": "3.1.0",
            "info": {"title": title, "version": "1"},
            "paths": {
                "/run_remote": {
                    "post": {
                        "operationId": "run_remote",
                        "summary": f"Call chainlet `{self.chainlet_name}`",
                        "requestBody": {"required": True, "content": {
                            codec.JSON_CONTENT_TYPE: {"schema": request_schema},
                            codec.MSGPACK_CONTENT_TYPE: {"schema": request_schema},
                        }},
                        "responses": {
                            "200": {"description": returns, "content": response_content},
                            "413": error, "422": error, "500": error, "503": error,
                        },
                    }
                }
            },
            "components": {"schemas": definitions.get("$defs", {})},
        }


def _input_typeddict(definition: ChainletDefinition) -> Any:
    fields: dict[str, Any] = {}
    for param in definition.endpoint.params:
        annotation = _with_numpy(param.annotation)
        fields[param.name] = typing_extensions.NotRequired[annotation] if param.has_default else annotation
    name = f"{definition.name}RunRemoteInput"
    typed_dict: Any = typing_extensions.TypedDict(name, fields)  # type: ignore[misc]
    typed_dict.__pydantic_config__ = pydantic.ConfigDict(extra="forbid", **_JSON_BYTES)  # type: ignore[attr-defined]
    return typed_dict


def _adapter(annotation: Any) -> pydantic.TypeAdapter[Any]:
    try:
        return pydantic.TypeAdapter(annotation, config=_JSON_BYTES)
    except pydantic.PydanticUserError:
        # Models, dataclasses and TypedDicts carry their own config; TypeAdapter refuses another.
        return pydantic.TypeAdapter(annotation)


def _json_fallback(value: Any) -> Any:
    if hasattr(value, "tolist") and type(value).__module__ == "numpy":
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__qualname__} as JSON")


# -- numpy arrays as a pydantic type ----------------------------------------------------------
_UNIONS = (typing.Union, types.UnionType)


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


# ``ser_json_bytes`` in a TypedDict's own config is not applied when it is serialised (pydantic
# 2.14), so argument bytes say it themselves; validation takes ``val_json_bytes`` from the config.
_BYTES = Annotated[bytes, pydantic.PlainSerializer(_base64, when_used="json")]


def _with_numpy(annotation: Any) -> Any:
    """``annotation`` with ``numpy.ndarray`` (and ``bytes``) replaced by wire-friendly types."""
    if annotation is bytes:
        return _BYTES
    if is_ndarray_type(annotation):
        return _ndarray_annotation(_dtype_of(annotation))
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is None or not args:
        return annotation
    if origin is Annotated:
        inner = _with_numpy(args[0])
        return annotation if inner is args[0] else Annotated[(inner, *annotation.__metadata__)]
    new_args = tuple(a if a is Ellipsis else _with_numpy(a) for a in args)
    if all(new is old for new, old in zip(new_args, args, strict=True)):
        return annotation
    if origin in _UNIONS:
        return typing.Union[new_args]  # noqa: UP007 - built from a runtime tuple
    if origin in (list, set, frozenset, tuple, dict):
        return origin[new_args]
    return annotation


def _dtype_of(annotation: Any) -> Any:
    """The scalar type of ``npt.NDArray[np.float32]`` (None for a bare ``np.ndarray``)."""
    args = typing.get_args(annotation)
    if len(args) == 2:
        scalar = typing.get_args(args[1])
        if scalar and isinstance(scalar[0], type):
            return scalar[0]
    return None


def _ndarray_annotation(dtype: Any) -> Any:
    def validate(value: Any) -> Any:
        import numpy as np

        if isinstance(value, np.ndarray):
            return value if dtype is None or value.dtype == dtype else value.astype(dtype)
        if isinstance(value, (list, tuple, int, float)):
            try:
                return np.asarray(value, dtype=dtype)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"cannot convert to a numpy array: {exc}") from exc
        raise ValueError(
            f"expected a numpy array (a list of numbers in JSON), got {type(value).__name__}"
        )

    def to_list(value: Any) -> Any:
        return value.tolist()

    return Annotated[
        Any,
        pydantic.PlainValidator(validate),
        pydantic.PlainSerializer(to_list, when_used="json"),
        pydantic.WithJsonSchema({"type": "array", "items": {}, "description": "numpy array"}),
    ]
