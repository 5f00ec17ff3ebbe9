"""numpy arrays as fields of pydantic models: truss-chains' ``pydantic_numpy.NumpyArrayField``.

A field typed ``NumpyArrayField`` holds the array in ``.array`` and travels as:

- JSON: ``{"data_b64": <base64 of the C-order bytes>, "shape": [...], "dtype": "<numpy dtype>"}``,
  the shape truss-chains writes, so a client of a truss-chains chain needs no change;
- the binary codec (``chains.depends(..., use_binary=True)``, or a caller sending
  ``application/x-msgpack``): the array itself, which `serving.codec` frames as raw bytes beside
  the msgpack document (no base64, no copy on the way in);
- inside one process (``run_local``, ``model_dump()``): the ``numpy.ndarray``.

numpy is an optional dependency (``pip install 'infra-chains[numpy]'``); importing this module
without it says so.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar

import pydantic
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from infra_chains._optional import MissingExtraError

try:
    import numpy as np
    import numpy.typing as npt
except ModuleNotFoundError as _exc:
    if _exc.name != "numpy":
        raise
    raise MissingExtraError(
        "numpy", "numpy", "chains.pydantic_numpy (numpy arrays as pydantic fields)"
    ) from None

__all__ = ["NumpyArrayField"]


class NumpyArrayField:
    """A numpy array as a pydantic field, in JSON (base64 data, shape, dtype) and binary.

    Example::

        class Frame(pydantic.BaseModel):
            pixels: pydantic_numpy.NumpyArrayField

        frame = Frame(pixels=np.zeros((2, 2), dtype=np.uint8))
        frame.pixels.array += 1                     # work with the array
        wire = frame.model_dump_json()              # {"pixels":{"data_b64":"AQEBAQ==",...}}
        assert Frame.model_validate_json(wire) == frame

    Validation accepts an ``ndarray``, a ``NumpyArrayField`` or the JSON object above. An array of
    ``dtype=object`` is refused: its bytes are pointers, which mean nothing in another process.
    """

    data_key: ClassVar[str] = "data_b64"
    shape_key: ClassVar[str] = "shape"
    dtype_key: ClassVar[str] = "dtype"

    __hash__ = None  # type: ignore[assignment]  # mutable, like the array it holds

    def __init__(self, array: npt.NDArray[Any]) -> None:
        self.array = array

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(shape={self.array.shape}, dtype={self.array.dtype}, "
            f"data={self.array})"
        )

    def __eq__(self, other: object) -> bool:
        # Value equality, so that pydantic models holding arrays compare as their data does.
        if not isinstance(other, NumpyArrayField):
            return NotImplemented
        mine, theirs = self.array, other.array
        return mine.dtype == theirs.dtype and mine.shape == theirs.shape and bool(
            np.array_equal(mine, theirs)
        )

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source_type: Any, handler: pydantic.GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.validate_numpy_array,
            serialization=core_schema.plain_serializer_function_ser_schema(
                cls.serialize_numpy_array, info_arg=True
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: pydantic.GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "object",
            "description": "A numpy array: its C-order bytes in base64, its shape and dtype.",
            "properties": {
                cls.data_key: {"type": "string", "contentEncoding": "base64"},
                cls.shape_key: {"type": "array", "items": {"type": "integer", "minimum": 0}},
                cls.dtype_key: {"type": "string", "examples": ["float32", "int64", "<u2"]},
            },
            "required": [cls.data_key, cls.shape_key, cls.dtype_key],
        }

    @classmethod
    def validate_numpy_array(cls, value: Any) -> NumpyArrayField:
        """The field from an array, a field, or the JSON object (raises ``ValueError``)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, np.ndarray):
            _refuse_object_dtype(value.dtype)
            return cls(value)
        if isinstance(value, dict):
            return cls(cls._from_json_object(value))
        raise ValueError(
            "expected a numpy array, or an object with keys "
            f"{cls.data_key!r}, {cls.shape_key!r} and {cls.dtype_key!r} (its JSON form); got "
            f"{type(value).__name__}"
        )

    @classmethod
    def _from_json_object(cls, value: dict[Any, Any]) -> npt.NDArray[Any]:
        missing = [k for k in (cls.data_key, cls.shape_key, cls.dtype_key) if k not in value]
        if missing:
            raise ValueError(
                f"a numpy array in JSON needs the keys {cls.data_key!r}, {cls.shape_key!r} and "
                f"{cls.dtype_key!r}; missing {', '.join(repr(k) for k in missing)}"
            )
        try:
            dtype = np.dtype(value[cls.dtype_key])
        except TypeError as exc:
            raise ValueError(f"{cls.dtype_key!r} {value[cls.dtype_key]!r} is not a numpy dtype") from exc
        _refuse_object_dtype(dtype)
        shape = value[cls.shape_key]
        if not isinstance(shape, (list, tuple)) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
        ):
            raise ValueError(f"{cls.shape_key!r} must be a list of non-negative integers, got {shape!r}")
        data = value[cls.data_key]
        if not isinstance(data, (str, bytes)):
            raise ValueError(f"{cls.data_key!r} must be a base64 string, got {type(data).__name__}")
        try:
            raw = base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"{cls.data_key!r} is not valid base64: {exc}") from exc
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if len(raw) != expected:
            raise ValueError(
                f"{cls.data_key!r} holds {len(raw)} bytes, but shape {list(shape)} of {dtype} "
                f"needs {expected}"
            )
        # A bytearray, so the array is writable (``field.array += 1``), as a local one would be.
        return np.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)

    @classmethod
    def serialize_numpy_array(
        cls, obj: NumpyArrayField, info: core_schema.SerializationInfo
    ) -> Any:
        """The JSON object in JSON mode; the array itself otherwise (the binary codec frames it)."""
        if info.mode_is_json():
            array = obj.array
            return {
                cls.data_key: base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii"),
                cls.shape_key: list(array.shape),
                cls.dtype_key: str(array.dtype),
            }
        return obj.array


def _refuse_object_dtype(dtype: np.dtype[Any]) -> None:
    if dtype.hasobject:
        raise ValueError(
            f"numpy arrays of dtype {dtype} cannot be sent: they hold Python objects, not data. "
            "Convert to a numeric, bool or fixed-width string dtype first"
        )
