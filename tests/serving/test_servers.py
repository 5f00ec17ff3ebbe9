"""A real 3-hop chain over HTTP: results, validation, errors, limits, request ids, metrics."""

from __future__ import annotations

import httpx
import pytest

from infra_chains.serving import codec
from infra_chains.serving.testing import ChainletProcess

pytestmark = pytest.mark.servers


def post(entry: ChainletProcess, payload: object, **kwargs: object) -> httpx.Response:
    return httpx.post(entry.predict_url, json=payload, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_three_hops_end_to_end(text_chain: ChainletProcess) -> None:
    response = post(text_chain, {"text": "abc", "count": 2})
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "HI ABCHI ABC|mid|entry"
    assert response.json()["hops"] == ["leaf", "mid", "entry"]


def test_defaults_are_applied_by_the_server(text_chain: ChainletProcess) -> None:
    assert post(text_chain, {"text": "x"}).json()["text"] == "HI X|mid|entry"


def test_request_id_is_propagated_through_every_hop(text_chain: ChainletProcess) -> None:
    response = post(text_chain, {"text": "x"}, headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["request_ids"] == ["trace-42", "trace-42", "trace-42"]


def test_request_id_is_made_when_missing_and_shared_by_all_hops(text_chain: ChainletProcess) -> None:
    response = post(text_chain, {"text": "x"})
    ids = response.json()["request_ids"]
    assert ids[0] and ids == [response.headers["x-request-id"]] * 3


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"text": 12}, "text", "valid string"),
        ({"text": "a", "count": "many"}, "count", "valid integer"),
        ({}, "text", "Field required"),
        ({"text": "a", "colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({"text": "a", "mode": "explode"}, "mode", "'ok'"),
    ],
    ids=["wrong-type", "wrong-type-int", "missing", "unknown", "literal"],
)
def test_bad_input_is_422_naming_the_field(
    text_chain: ChainletProcess, payload: dict[str, object], field: str, words: str
) -> None:
    response = post(text_chain, payload)
    assert response.status_code == 422
    body = response.json()
    assert [field] in [item["loc"] for item in body["detail"]]
    message = body["error"]["exception_message"]
    assert f"`{field}`" in message and words in message and "Entry.run_remote" in message


def test_invalid_json_is_422(text_chain: ChainletProcess) -> None:
    response = httpx.post(text_chain.predict_url, content=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert "Invalid" in response.json()["error"]["exception_message"]


def test_body_over_the_limit_is_413(text_chain: ChainletProcess) -> None:
    response = post(text_chain, {"text": "x" * (70 * 1024)})
    assert response.status_code == 413
    message = response.json()["error"]["exception_message"]
    assert "max_request_bytes" in message and "Entry" in message
    # The server still works afterwards.
    assert post(text_chain, {"text": "x"}).status_code == 200


def test_remote_error_shows_all_three_tracebacks_root_last(text_chain: ChainletProcess) -> None:
    response = post(text_chain, {"text": "boom", "mode": "raise"})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["remote_name"] == "Entry" and error["exception_cls_name"] == "ValueError"
    message = error["exception_message"]
    # Mid's and Leaf's tracebacks, in order, the root cause last.
    assert message.index("remote chainlet `Mid`") < message.index("remote chainlet `Leaf`")
    assert message.rstrip().endswith("ValueError: leaf cannot handle 'hi boom'")
    assert "in _explode" in message and "text_chain.py" in message
    # Framework frames are trimmed.
    assert "infra_chains/serving" not in message and "concurrent/futures" not in message
    assert [f["name"] for f in error["user_stack_trace"]] == ["run_remote"]


def test_non_builtin_remote_error_names_its_class(text_chain: ChainletProcess) -> None:
    response = post(text_chain, {"text": "boom", "mode": "custom"})
    assert response.status_code == 500
    assert "text_chain.LeafError: custom failure in leaf" in response.json()["error"]["exception_message"]


def test_deliberate_422_keeps_its_status_across_hops(text_chain: ChainletProcess) -> None:
    response = post(text_chain, {"text": "nope", "mode": "http422"})
    assert response.status_code == 422
    assert "leaf rejects 'hi nope'" in response.json()["error"]["exception_message"]


def test_msgpack_request_and_response(text_chain: ChainletProcess) -> None:
    response = httpx.post(text_chain.predict_url, content=codec.encode({"text": "mp"}, True),
                          headers={"Content-Type": codec.MSGPACK_CONTENT_TYPE})
    assert response.status_code == 200
    assert response.headers["content-type"] == codec.MSGPACK_CONTENT_TYPE
    assert codec.decode(response.content, True)["text"] == "HI MP|mid|entry"


def test_accept_header_chooses_the_response_format(text_chain: ChainletProcess) -> None:
    response = post(text_chain, {"text": "a"}, headers={"Accept": codec.MSGPACK_CONTENT_TYPE})
    assert codec.decode(response.content, True)["text"] == "HI A|mid|entry"


def test_health_ready_metrics_openapi(text_chain: ChainletProcess) -> None:
    assert text_chain.get("/healthz")[0] == 200
    assert text_chain.get("/readyz")[0] == 200
    post(text_chain, {"text": "m"})
    status, metrics = text_chain.get("/metrics")
    text = metrics.decode()
    assert status == 200
    assert 'infra_chains_requests_total{chainlet="Entry",code="200"}' in text
    assert 'infra_chains_request_duration_seconds_bucket{chainlet="Entry",le="+Inf"}' in text
    assert 'infra_chains_in_flight_requests{chainlet="Entry"} 0' in text
    assert 'infra_chains_request_body_bytes{chainlet="Entry"} 0' in text  # all given back
    assert 'infra_chains_request_body_budget_bytes{chainlet="Entry"} ' in text
    status, body = text_chain.get("/openapi.json")
    schema = codec.decode(body, False)
    request = schema["paths"]["/run_remote"]["post"]["requestBody"]["content"]["application/json"]
    input_schema = schema["components"]["schemas"][request["schema"]["$ref"].rpartition("/")[2]]
    assert input_schema["required"] == ["text"] and input_schema["additionalProperties"] is False
    assert "Result" in schema["components"]["schemas"]


def test_unknown_path_and_wrong_method(text_chain: ChainletProcess) -> None:
    assert text_chain.get("/nope")[0] == 404
    assert text_chain.get("/run_remote")[0] == 405


def test_errors_are_json_even_for_msgpack_callers(text_chain: ChainletProcess) -> None:
    response = httpx.post(text_chain.predict_url, content=codec.encode({"text": "x", "mode": "raise"}, True),
                          headers={"Content-Type": codec.MSGPACK_CONTENT_TYPE})
    assert response.status_code == 500
    assert response.headers["content-type"] == codec.JSON_CONTENT_TYPE
    assert response.json()["error"]["exception_cls_name"] == "ValueError"
