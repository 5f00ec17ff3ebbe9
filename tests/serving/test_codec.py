"""The wire codecs: JSON and msgpack round trips, numpy without pickle."""

from __future__ import annotations

import datetime
import enum

import msgpack
import numpy as np
import pydantic
import pytest

from infra_chains.serving import codec


class Colour(enum.Enum):
    RED = "red"


class Point(pydantic.BaseModel):
    x: int
    when: datetime.date


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "uint16", "complex64", "bool"])
def test_numpy_round_trip_keeps_dtype_shape_and_values(dtype: str) -> None:
    array = (np.arange(24) % 3).astype(dtype).reshape(2, 3, 4)
    back = codec.decode(codec.encode({"a": array}, True), True)["a"]
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    back[0, 0, 0] = 1  # writable: the receiver owns it


def test_non_contiguous_arrays_are_sent_in_c_order() -> None:
    array = np.arange(12, dtype=np.int32).reshape(3, 4).T
    np.testing.assert_array_equal(codec.decode(codec.encode(array, True), True), array)


def test_object_arrays_are_refused_not_pickled() -> None:
    with pytest.raises(codec.CodecError, match="pickle"):
        codec.encode(np.array([object()]), True)
    payload = msgpack.packb(["|O", [1]], use_bin_type=True) + b"\x80\x04N."  # a pickled None
    forged = msgpack.packb(msgpack.ExtType(codec.NDARRAY_EXT_CODE, payload))
    with pytest.raises(codec.CodecError, match="dtype object"):
        codec.decode(forged, True)


def test_msgpack_knows_models_bytes_and_scalars() -> None:
    value = {"p": Point(x=1, when=datetime.date(2024, 1, 2)), "b": b"\x00\xff", "c": Colour.RED,
             "n": np.float32(1.5), "s": {3}}
    assert codec.decode(codec.encode(value, True), True) == {
        "p": {"x": 1, "when": "2024-01-02"}, "b": b"\x00\xff", "c": "red", "n": 1.5, "s": [3],
    }


def test_json_uses_base64_bytes_and_lists_for_arrays() -> None:
    assert codec.encode({"b": b"\x00\xff", "a": np.array([1, 2])}, False) == b'{"b":"AP8=","a":[1,2]}'


def test_invalid_bodies_raise_codec_error() -> None:
    with pytest.raises(codec.CodecError):
        codec.decode(b"{nope", False)
    with pytest.raises(codec.CodecError):
        codec.decode(b"\xc1", True)


def test_content_types() -> None:
    assert codec.content_type(True) == "application/x-msgpack"
    assert codec.is_msgpack("application/msgpack") and not codec.is_msgpack("application/json")


@pytest.mark.parametrize(
    "header",
    [
        [ "no-such-dtype", [2]],  # numpy raises TypeError
        ["<f4", [3, 3]],  # shape does not match the bytes
    ],
)
def test_malformed_array_extension_is_a_codec_error(header: list[object]) -> None:
    payload = msgpack.packb(header, use_bin_type=True) + b"\x00" * 8
    body = msgpack.packb({"data": msgpack.ExtType(codec.NDARRAY_EXT_CODE, payload)}, use_bin_type=True)
    with pytest.raises(codec.CodecError, match="invalid msgpack body"):
        codec.decode(body, binary=True)


def test_arrays_travel_beside_the_document_in_a_frame() -> None:
    array = np.arange(1000, dtype=np.float32)
    body = codec.encode({"a": array, "b": np.zeros((0, 3)), "n": 1}, True)
    assert body.startswith(codec.FRAME_MAGIC)
    assert array.tobytes() in body  # raw bytes, not a JSON or msgpack list
    back = codec.decode(bytearray(body), True)
    np.testing.assert_array_equal(back["a"], array)
    assert back["b"].shape == (0, 3) and back["n"] == 1


def test_frame_arrays_are_views_of_a_bytearray_body_and_copies_of_bytes() -> None:
    body = codec.encode([np.arange(64, dtype=np.int64)], True)
    buffer = bytearray(body)
    view = codec.decode(buffer, True)[0]
    view[0] = 7  # writable, and shares the body's memory: no copy was made
    assert codec.decode(buffer, True)[0][0] == 7
    copied = codec.decode(bytes(body), True)[0]
    copied[1] = 9  # writable too, as a copy
    assert copied[1] == 9 and codec.decode(bytes(body), True)[0][1] == 1


def test_bodies_without_arrays_stay_plain_msgpack() -> None:
    body = codec.encode({"x": [1, 2], "b": b"raw"}, True)
    assert msgpack.unpackb(body, raw=False) == {"x": [1, 2], "b": b"raw"}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda body: body[:20],  # cut inside the buffers
        lambda body: body[:4] + (10**6).to_bytes(4, "big") + body[8:],  # document past the end
    ],
)
def test_truncated_or_lying_frames_are_codec_errors(mutate: object) -> None:
    body = codec.encode({"a": np.arange(100, dtype=np.float64)}, True)
    with pytest.raises(codec.CodecError, match="invalid msgpack body"):
        codec.decode(mutate(body), True)  # type: ignore[operator]
