"""`infra_chains/pydantic_numpy.py`: numpy arrays as pydantic fields, in JSON (truss-chains' wire
shape), in the binary codec and in an endpoint's codec, and the error without numpy."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np
import pydantic
import pytest

import infra_chains as chains
from infra_chains import pydantic_numpy
from infra_chains.framework.chainlet import definition_of
from infra_chains.serving import codec
from infra_chains.serving.endpoint import EndpointCodec


class DataModel(pydantic.BaseModel):
    msg: str
    np_array: pydantic_numpy.NumpyArrayField


def test_json_is_truss_chains_wire_shape() -> None:
    array = np.arange(4, dtype=np.int64).reshape((2, 2))
    dumped = json.loads(DataModel(msg="m", np_array=array).model_dump_json())
    assert dumped == {"msg": "m", "np_array": {
        "data_b64": base64.b64encode(array.tobytes()).decode(), "shape": [2, 2], "dtype": "int64",
    }}


@pytest.mark.parametrize("array", [
    np.ones((3, 2, 1)),
    np.arange(6, dtype=np.uint16).reshape((3, 2)).T,  # not C-contiguous
    np.array([], dtype=np.float32),
    np.array(["ab", "c"]),
    np.array(7, dtype=np.int8),  # 0-d
])
def test_json_round_trip_keeps_values_shape_and_dtype(array: np.ndarray) -> None:
    back = DataModel.model_validate_json(DataModel(msg="m", np_array=array).model_dump_json())
    assert back.np_array.array.dtype == array.dtype
    assert back.np_array.array.shape == array.shape
    np.testing.assert_array_equal(back.np_array.array, array)
    back.np_array.array[...] = 0  # a writable array, as a local one is


def test_python_mode_and_the_binary_codec_carry_the_array_itself() -> None:
    model = DataModel(msg="m", np_array=np.full((2, 2), 3.5, dtype=np.float32))
    dumped = model.model_dump()
    assert isinstance(dumped["np_array"], np.ndarray)
    back = DataModel.model_validate(codec.decode(codec.encode(dumped, True), True))
    assert back == model
    assert back.np_array.array.dtype == np.float32


def test_field_value_equality_and_repr() -> None:
    a = DataModel(msg="m", np_array=np.arange(3))
    assert a == DataModel(msg="m", np_array=np.arange(3))
    assert a != DataModel(msg="m", np_array=np.arange(3).astype(np.int8))
    assert a != DataModel(msg="m", np_array=np.arange(4))
    assert repr(a.np_array).startswith("NumpyArrayField(shape=(3,), dtype=int64")
    assert pydantic_numpy.NumpyArrayField.validate_numpy_array(a.np_array) is a.np_array


@pytest.mark.parametrize(("value", "message"), [
    ({"shape": [1], "dtype": "int8"}, "missing 'data_b64'"),
    ({"data_b64": "AA==", "shape": [2], "dtype": "int8"}, r"holds 1 bytes, but shape \[2\] of int8 needs 2"),
    ({"data_b64": "%%%", "shape": [1], "dtype": "int8"}, "is not valid base64"),
    ({"data_b64": "AA==", "shape": [1], "dtype": "no-such-type"}, "is not a numpy dtype"),
    ({"data_b64": "AA==", "shape": [-1], "dtype": "int8"}, "list of non-negative integers"),
    ({"data_b64": "", "shape": [0], "dtype": "object"}, "hold Python objects"),
    ([1, 2], "expected a numpy array"),
])
def test_bad_input_is_a_validation_error_saying_what_is_wrong(value: object, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        DataModel.model_validate({"msg": "m", "np_array": value})


def test_an_object_array_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="hold Python objects"):
        DataModel(msg="m", np_array=np.array([object()]))


def test_json_schema_names_the_wire_keys() -> None:
    schema = DataModel.model_json_schema()["properties"]["np_array"]
    assert schema["required"] == ["data_b64", "shape", "dtype"]


def test_an_endpoint_carries_the_field_in_json_and_binary() -> None:
    class Echo(chains.ChainletBase):
        def run_remote(self, data: DataModel) -> DataModel:
            return data

    endpoint = EndpointCodec(definition_of(Echo))
    data = DataModel(msg="m", np_array=np.ones((3, 2, 1)))
    for binary in (False, True):
        body = endpoint.dump_arguments({"data": data}, binary)
        arguments = endpoint.parse_arguments(body, binary)
        assert arguments == {"data": data}
        assert endpoint.load_result(endpoint.dump_result(arguments["data"], binary), binary) == data
    assert b"data_b64" in endpoint.dump_arguments({"data": data}, False)
    assert b"data_b64" not in endpoint.dump_arguments({"data": data}, True)


def test_without_numpy_the_import_names_the_extra() -> None:
    # A fresh interpreter in which `import numpy` fails as it does where numpy is not installed.
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "try:\n"
        "    from infra_chains import pydantic_numpy\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    assert out.startswith("MissingExtraError chains.pydantic_numpy")
    assert "pip install 'infra-chains[numpy]'" in out
