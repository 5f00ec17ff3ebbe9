"""Endpoint validators: built once from run_remote's signature, strict about unknown fields."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pydantic
import pytest

import infra_chains as chains
from infra_chains.framework.chainlet import definition_of
from infra_chains.serving.endpoint import EndpointCodec


class Query(pydantic.BaseModel):
    words: list[str]


class Answer(pydantic.BaseModel):
    score: float


class Scorer(chains.ChainletBase):
    def run_remote(self, query: Query, weights: npt.NDArray[np.float32] | None = None,
                   data: bytes = b"", limit: int = 3) -> Answer:
        return Answer(score=1.0)


@pytest.fixture(scope="module")
def endpoint() -> EndpointCodec:
    return EndpointCodec(definition_of(Scorer))


def test_json_arguments_are_validated_and_defaults_filled(endpoint: EndpointCodec) -> None:
    kwargs = endpoint.parse_arguments(b'{"query": {"words": ["a"]}, "weights": [1, 2]}', False)
    assert kwargs["query"] == Query(words=["a"]) and kwargs["limit"] == 3 and kwargs["data"] == b""
    assert kwargs["weights"].dtype == np.float32


def test_unknown_and_missing_fields_are_errors(endpoint: EndpointCodec) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        endpoint.parse_arguments(b'{"limit": "x", "extra": 1}', False)
    errors = {(tuple(e["loc"]), e["type"]) for e in info.value.errors()}
    assert errors == {(("query",), "missing"), (("limit",), "int_parsing"), (("extra",), "extra_forbidden")}


def test_nested_error_paths(endpoint: EndpointCodec) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        endpoint.parse_arguments(b'{"query": {"words": ["a", 2]}}', False)
    assert info.value.errors()[0]["loc"] == ("query", "words", 1)


def test_binary_round_trip_of_arguments_and_result(endpoint: EndpointCodec) -> None:
    arguments = {"query": Query(words=["w"]), "weights": np.ones(3, np.float32), "data": b"\x01"}
    kwargs = endpoint.parse_arguments(endpoint.dump_arguments(arguments, True), True)
    np.testing.assert_array_equal(kwargs["weights"], np.ones(3))
    assert kwargs["data"] == b"\x01" and kwargs["query"].words == ["w"]
    assert endpoint.load_result(endpoint.dump_result(Answer(score=2), True), True) == Answer(score=2)


def test_json_round_trip_of_bytes_and_arrays(endpoint: EndpointCodec) -> None:
    arguments = {"query": Query(words=[]), "weights": np.array([0.5], np.float32), "data": b"\xff\x00"}
    body = endpoint.dump_arguments(arguments, False)
    kwargs = endpoint.parse_arguments(body, False)
    assert kwargs["data"] == b"\xff\x00" and kwargs["weights"].tolist() == [0.5]


def test_result_comes_back_as_the_model(endpoint: EndpointCodec) -> None:
    assert endpoint.load_result(b'{"score": 0.5}', False) == Answer(score=0.5)


def test_openapi_has_input_and_output_schemas(endpoint: EndpointCodec) -> None:
    document = endpoint.openapi("t")
    schemas = document["components"]["schemas"]
    assert {"Query", "Answer", "ScorerRunRemoteInput"} <= set(schemas)
    assert schemas["ScorerRunRemoteInput"]["required"] == ["query"]
