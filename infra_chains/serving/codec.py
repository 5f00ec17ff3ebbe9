"""Wire formats of ``/run_remote``: JSON (the default) and msgpack (the binary codec).

JSON goes through pydantic-core (no ``json`` module, no orjson): it already knows pydantic models,
and its Rust encoder is the fastest we have here. msgpack carries ``bytes`` as raw bytes. Nothing
here ever pickles: an array of ``dtype=object`` is refused, since reading it back would need pickle.

numpy arrays travel as raw bytes *beside* the msgpack document, so a MiB-sized array is copied
once on the way out (into the body) and not at all on the way in (the decoded array is a view of
the body), instead of three or four times through a msgpack extension payload (bench/run.py's
1 MiB row). A body holding arrays is a frame::

    0xC1 b"IC" 0x01 | u32 (big endian) document length | msgpack document | zero padding to 64 |
    raw C-order array buffers, each starting at a multiple of 64 (the frame's start = offset 0)

0xC1 is the one byte msgpack never uses, so a frame is never mistaken for plain msgpack. In the
document an array is extension type 2 holding msgpack ``[dtype.str, shape, offset, nbytes]``.
Bodies without arrays are plain msgpack, and extension type 1 (``[dtype, shape]`` followed by the
raw bytes inside the extension) is still read, for clients that build plain msgpack themselves.

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

#: msgpack extension code of an inline numpy array: payload = msgpack ``[dtype.str, shape]``
#: followed by the raw C-order bytes (read, for plain-msgpack clients; never written).
NDARRAY_EXT_CODE = 1
#: msgpack extension code of a numpy array stored beside the document in a frame.
FRAMED_NDARRAY_EXT_CODE = 2
FRAME_MAGIC = b"\xc1IC\x01"
_FRAME_PREFIX = len(FRAME_MAGIC) + 4
_ALIGN = 64
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
            return _encode_msgpack(obj)
        except (TypeError, ValueError, OverflowError) as exc:
            raise CodecError(f"cannot encode {type(obj).__name__} as msgpack: {exc}") from exc
    try:
        return pydantic_core.to_json(obj, bytes_mode="base64", fallback=_json_fallback)
    except pydantic_core.PydanticSerializationError as exc:
        raise CodecError(f"cannot encode {type(obj).__name__} as JSON: {exc}") from exc


def decode(data: bytes | bytearray, binary: bool) -> Any:
    """Parse msgpack or JSON bytes into plain Python data (numpy arrays for the array extension).

    Arrays decoded from a frame are views of ``data``: writable when ``data`` is a
    ``bytearray`` (what the server and the stubs read bodies into), copied when it is ``bytes``.
    """
    if binary:
        try:
            return _decode_msgpack(data)
        except Exception as exc:  # noqa: BLE001 - any failure to parse is the sender's bad body
            # Broad on purpose: a malformed array fails inside numpy (TypeError for a bad dtype,
            # ValueError for a bad shape, OutOfData for a cut header).
            raise CodecError(f"invalid msgpack body: {type(exc).__name__}: {exc}") from exc
    try:
        return pydantic_core.from_json(data)
    except ValueError as exc:
        raise CodecError(f"invalid JSON body: {exc}") from exc


def _encode_msgpack(obj: Any) -> bytes:
    buffers: list[memoryview] = []
    offset = 0

    def default(value: Any) -> Any:
        nonlocal offset
        if type(value).__module__ == "numpy":
            import numpy as np

            if isinstance(value, np.ndarray):
                if value.dtype.hasobject:
                    raise TypeError(
                        "numpy arrays of dtype object cannot be sent (that would need pickle); "
                        "convert to a numeric dtype or a list first"
                    )
                array = np.ascontiguousarray(value)
                raw = memoryview(array.reshape(-1).view(np.uint8).data)  # no copy
                header = [array.dtype.str, list(array.shape), offset, raw.nbytes]
                buffers.append(raw)
                offset += _aligned(raw.nbytes)
                return msgpack.ExtType(
                    FRAMED_NDARRAY_EXT_CODE, msgpack.packb(header, use_bin_type=True)
                )
        return _msgpack_default(value)

    document = msgpack.packb(obj, default=default, use_bin_type=True, datetime=False)
    if not buffers:
        return document  # type: ignore[no-any-return]
    head = FRAME_MAGIC + len(document).to_bytes(4, "big") + document
    parts: list[bytes | memoryview] = [head, bytes(_aligned(len(head)) - len(head))]
    for raw in buffers:
        parts.append(raw)
        parts.append(bytes(_aligned(raw.nbytes) - raw.nbytes))
    return b"".join(parts)  # the one copy of each array


def _decode_msgpack(data: bytes | bytearray) -> Any:
    if not data.startswith(FRAME_MAGIC):
        return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)
    view = memoryview(data)
    length = int.from_bytes(view[len(FRAME_MAGIC):_FRAME_PREFIX], "big")
    end = _FRAME_PREFIX + length
    if end > len(data):
        raise ValueError(f"frame document of {length} bytes runs past the body ({len(data)} bytes)")
    base = _aligned(end)
    writable = isinstance(data, bytearray)

    def ext_hook(code: int, payload: bytes) -> Any:
        if code != FRAMED_NDARRAY_EXT_CODE:
            return _ext_hook(code, payload)
        import numpy as np

        dtype_str, shape, offset, nbytes = msgpack.unpackb(payload, raw=False)
        dtype = _safe_dtype(dtype_str)
        start = base + int(offset)
        if offset < 0 or start + nbytes > len(data):
            raise ValueError(f"array buffer [{start}, {start + nbytes}) lies outside the body")
        array = np.frombuffer(view[start:start + nbytes], dtype=dtype).reshape(shape)
        return array if writable else array.copy()

    return msgpack.unpackb(view[_FRAME_PREFIX:end], ext_hook=ext_hook, raw=False,
                           strict_map_key=False)


def _aligned(size: int) -> int:
    return -(-size // _ALIGN) * _ALIGN


def _safe_dtype(dtype_str: str) -> Any:
    import numpy as np

    dtype = np.dtype(dtype_str)
    if dtype.hasobject:  # never build object arrays from the wire
        raise ValueError("numpy arrays of dtype object are not accepted")
    return dtype


def _msgpack_default(value: Any) -> Any:
    """Turn what msgpack does not know (but arrays, see `_encode_msgpack`) into what it does."""
    if type(value).__module__ == "numpy":
        import numpy as np

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
    # A copy, so the receiver gets a writable array it owns (frombuffer on bytes is read-only).
    return np.frombuffer(raw, dtype=_safe_dtype(dtype_str)).reshape(shape).copy()


def _json_fallback(value: Any) -> Any:
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    raise pydantic_core.PydanticSerializationError(f"unsupported type {type(value).__qualname__}")
