"""The example call `push` prints is accepted by the entrypoint it was printed for."""

import json
import pathlib
import typing

import numpy as np
import pydantic
import pytest

from infra_chains.cli.examples import example_arguments, example_value
from infra_chains.framework.chainlet import definition_of
from infra_chains.framework.loading import load_entrypoint
from infra_chains.serving.endpoint import EndpointCodec

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_printed_body_validates_against_the_entrypoint(example: str) -> None:
    definition = definition_of(load_entrypoint(EXAMPLES / example, None))
    body = json.dumps(example_arguments(definition.endpoint.params))
    arguments = EndpointCodec(definition).parse_arguments(body.encode(), binary=False)
    assert set(arguments) >= {p.name for p in definition.endpoint.params if not p.has_default}


class Item(pydantic.BaseModel):
    name: str
    weight: float
    tags: list[str] = []


@pytest.mark.parametrize(
    "annotation",
    [str, int, float, bool, bytes, np.ndarray, list[int], tuple[int, str], tuple[float, ...],
     dict[str, int], int | None, typing.Optional[str], typing.Literal["a", "b"], Item,
     list[Item]],
)
def test_every_supported_annotation_gets_a_valid_placeholder(annotation: object) -> None:
    value = example_value(annotation)
    if annotation is np.ndarray:
        assert np.asarray(value, dtype=float).shape == (2, 2)
        return
    # Validated as the endpoint validates an argument: inside a model with base64 bytes.
    holder = pydantic.create_model(
        "Holder", __config__=pydantic.ConfigDict(val_json_bytes="base64"), value=(annotation, ...)
    )
    holder.model_validate_json(json.dumps({"value": value}))
