"""Wire formats of ``/run_remote``: JSON (the default) and msgpack (the binary codec).

JSON goes through pydantic-core (no ``json`` module, no orjson): it already knows pydantic models,
and its Rust encoder is the fastest we have here. msgpack carries ``bytes`` as raw bytes and numpy
arrays as an extension type holding ``(dtype, shape, raw bytes)``; that is ~16x faster than a JSON
list for a 1 MiB array (PERF.md). Nothing here ever pickles: an array of ``dtype=object`` is
refused, since reading it back would need pickle.

`encode`/`decode` are public: an external benchmark harness sends msgpack to an entrypoint with
them and ``Content-Type: application/x-msgpack``.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pydantic
import pydantic_core

JSON_CONTENT_TYPE = "application/json"
MSGPACK_CONTENT_TYPE = "application/x-msgpack"

#: msgpack extension code of a numpy array: payload = msgpack ``[dtype.str, shape]`` followed by
#: the raw C-order bytes.
NDARRAY_EXT_CODE = 1
#: Upper bound of the ``[dtype, shape]`` header of an array extension (shape of up to 32 dims).
_MAX_HEADER = 512


class CodecError(ValueError):
    """A value cannot be encoded, or bytes cannot be decoded, in the requested format."""


def content_type(binary: bool) -> str:
    return MSGPACK_CONTENT_TYPE if binary else JSON_CONTENT_TYPE


def is_msgpack(content_type_header: str) -> bool:
    """True if a ``Content-Type``/``Accept`` value names msgpack (``application/msgpack`` too)."""
    return "msgpack" in content_type_header


def encode(obj: Any, binary: bool) -> bytes:
    """Serialise ``obj`` (plain data, pydantic models, bytes, numpy arrays) as msgpack or JSON.

    In JSON, ``bytes`` become base64 strings and numpy arrays nested lists, matching what the
    endpoint validators accept.
    """
    if binary:
        try:
            return msgpack.packb(obj, default=_msgpack_default, use_bin_type=True, datetime=False)  # type: ignore[no-any-return]
        except (TypeError, ValueError, OverflowError) as exc:
            raise CodecError(f"cannot encode {type(obj).__name__} as msgpack: {exc}") from exc
    try:
        return pydantic_core.to_json(obj, bytes_mode="base64", fallback=_json_fallback)
    except pydantic_core.PydanticSerializationError as exc:
        raise CodecError(f"cannot encode {type(obj).__name__} as JSON: {exc}") from exc


def decode(data: bytes, binary: bool) -> Any:
    """Parse msgpack or JSON bytes into plain Python data (numpy arrays for the array extension)."""
    if binary:
        try:
            return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)
        except Exception as exc:  # noqa: BLE001 - any failure to parse is the sender's bad body
            # Broad on purpose: a malformed array extension fails inside numpy (TypeError for a
            # bad dtype, ValueError for a bad shape, OutOfData for a cut header).
            raise CodecError(f"invalid msgpack body: {type(exc).__name__}: {exc}") from exc
    try:
        return pydantic_core.from_json(data)
    except ValueError as exc:
        raise CodecError(f"invalid JSON body: {exc}") from exc


def _msgpack_default(value: Any) -> Any:
    """Turn what msgpack does not know into what it does; arrays become the extension type."""
    if type(value).__module__ == "numpy":
        import numpy as np

        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise TypeError(
                    "numpy arrays of dtype object cannot be sent (that would need pickle); "
                    "convert to a numeric dtype or a list first"
                )
            # Header then raw C-order bytes, joined in one copy (ExtType needs bytes).
            header = msgpack.packb([value.dtype.str, list(value.shape)], use_bin_type=True)
            raw = np.ascontiguousarray(value).reshape(-1).view(np.uint8).data
            return msgpack.ExtType(NDARRAY_EXT_CODE, b"".join((header, raw)))
        if isinstance(value, np.generic):
            return value.item()
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="python")
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"unsupported type {type(value).__qualname__}")


def _ext_hook(code: int, payload: bytes) -> Any:
    if code != NDARRAY_EXT_CODE:
        return msgpack.ExtType(code, payload)
    import numpy as np

    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(payload[:_MAX_HEADER])
    dtype_str, shape = unpacker.unpack()
    raw = memoryview(payload)[unpacker.tell():]
    dtype = np.dtype(dtype_str)
    if dtype.hasobject:  # never build object arrays from the wire
        raise ValueError("numpy arrays of dtype object are not accepted")
    # A copy, so the receiver gets a writable array it owns (frombuffer on bytes is read-only).
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _json_fallback(value: Any) -> Any:
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    raise pydantic_core.PydanticSerializationError(f"unsupported type {type(value).__qualname__}")
