"""Faults and limits with real servers: retries, unreachable dependencies, timeouts,
predict_concurrency, the bounded queue, readiness and graceful shutdown."""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import pytest

from infra_chains.public_types import RPCOptions
from infra_chains.serving.testing import free_port

from .conftest import Serve

pytestmark = pytest.mark.servers


def test_retries_a_dependency_answering_503(serve: Serve) -> None:
    flaky = serve("behaviour:Flaky", name="Flaky")
    caller = serve("behaviour:FlakyCaller", name="FlakyCaller", dependencies={"Flaky": flaky.url},
                   options={"Flaky": RPCOptions(retries=3)})
    response = httpx.post(caller.predict_url, json={"key": "a", "failures": 2}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == 3  # failed twice with 503, succeeded on the third attempt
    # Out of attempts: the 503 reaches the client, still a 503.
    response = httpx.post(caller.predict_url, json={"key": "b", "failures": 5}, timeout=10)
    assert response.status_code == 503
    assert "flaky: call 3 of key 'b' fails" in response.json()["error"]["exception_message"]


def test_no_retry_with_retries_1(serve: Serve) -> None:
    flaky = serve("behaviour:Flaky", name="Flaky")
    caller = serve("behaviour:FlakyCaller", name="FlakyCaller", dependencies={"Flaky": flaky.url},
                   options={"Flaky": RPCOptions(retries=1)})
    response = httpx.post(caller.predict_url, json={"key": "c", "failures": 1}, timeout=10)
    assert response.status_code == 503
    assert httpx.post(caller.predict_url, json={"key": "c", "failures": 1}).json() == 2


def test_unreachable_dependency_is_503_naming_chainlet_and_url(serve: Serve) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    caller = serve("behaviour:FlakyCaller", name="FlakyCaller", dependencies={"Flaky": url},
                   options={"Flaky": RPCOptions(retries=3, timeout_sec=1.0)})
    started = time.monotonic()
    response = httpx.post(caller.predict_url, json={"key": "a", "failures": 0}, timeout=10)
    # Retryable by the caller's own caller: a gateway error, not a bug (500).
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["exception_cls_name"] == "DependencyUnreachableError"
    message = error["exception_message"]
    assert "`Flaky`" in message and url in message and "attempts" in message
    assert "FlakyCaller" in message
    assert time.monotonic() - started > 0.5  # kept trying for its deadline (timeout_sec)


def test_timeout_names_chainlet_and_url(serve: Serve) -> None:
    slow = serve("behaviour:Slow", name="Slow")
    caller = serve("behaviour:SlowCaller", name="SlowCaller", dependencies={"Slow": slow.url},
                   options={"Slow": RPCOptions(timeout_sec=0.3)})
    response = httpx.post(caller.predict_url, json={"seconds": 2.0}, timeout=10)
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["exception_cls_name"] == "RemoteTimeoutError"
    assert "timed out after 0.3 s" in error["exception_message"] and slow.predict_url in error["exception_message"]


def _post_many(url: str, payloads: list[dict[str, object]]) -> list[httpx.Response]:
    with concurrent.futures.ThreadPoolExecutor(len(payloads)) as pool:
        return list(pool.map(lambda p: httpx.post(url, json=p, timeout=20), payloads))


@pytest.mark.parametrize("chainlet", ["Slow", "SyncSlow"])
def test_predict_concurrency_is_enforced(serve: Serve, chainlet: str) -> None:
    server = serve(f"behaviour:{chainlet}", name=chainlet, predict_concurrency=2)
    responses = _post_many(server.predict_url, [{"seconds": 0.3}] * 6)
    assert [r.status_code for r in responses] == [200] * 6
    assert max(r.json() for r in responses) == 2


def test_full_queue_answers_503_with_retry_after(serve: Serve) -> None:
    server = serve("behaviour:Slow", name="Slow", predict_concurrency=1, max_queued_requests=1)
    responses = _post_many(server.predict_url, [{"seconds": 0.8}] * 4)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 503, 503]
    refused = [r for r in responses if r.status_code == 503]
    assert all(r.headers["retry-after"] == "1" for r in refused)
    assert "predict_concurrency=1" in refused[0].json()["error"]["exception_message"]


def test_readiness_waits_for_a_slow_init(serve: Serve) -> None:
    server = serve("behaviour:SlowInit", name="SlowInit", wait_ready=False)
    server.wait_ready("/healthz")  # alive while __init__ still runs
    assert server.get("/readyz")[0] == 503
    response = httpx.post(server.predict_url, json={})
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    server.wait_ready("/readyz")
    assert httpx.post(server.predict_url, json={}).json() == "initialised"


def test_readiness_follows_is_healthy(serve: Serve) -> None:
    server = serve("behaviour:Moody", name="Moody")
    assert httpx.post(server.predict_url, json={"healthy": False}).json() is False
    assert server.get("/readyz")[0] == 503
    assert server.get("/healthz")[0] == 200
    httpx.post(server.predict_url, json={"healthy": True})
    assert server.get("/readyz")[0] == 200


def test_failing_init_exits_1_with_the_error_in_the_log(serve: Serve) -> None:
    server = serve("behaviour:BrokenInit", name="BrokenInit", wait_ready=False)
    assert server.process is not None
    assert server.process.wait(20) == 1
    assert "cannot load the model" in server.logs()


@pytest.mark.parametrize("chainlet", ["Slow", "SyncSlow"])
def test_graceful_shutdown_finishes_in_flight_requests(serve: Serve, chainlet: str) -> None:
    server = serve(f"behaviour:{chainlet}", name=chainlet, predict_concurrency=4)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(httpx.post, server.predict_url, json={"seconds": 1.0}, timeout=10)
                   for _ in range(3)]
        time.sleep(0.4)
        server.terminate()
        responses = [f.result() for f in futures]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert server.process is not None and server.process.wait(10) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.post(server.predict_url, json={"seconds": 0})
    assert "stopped" in server.logs()


def test_sigterm_during_a_slow_init_exits_0_at_once(serve: Serve) -> None:
    server = serve("behaviour:SlowInit", name="SlowInit", wait_ready=False)
    server.wait_ready("/healthz")
    started = time.monotonic()
    server.terminate()
    assert server.process is not None and server.process.wait(10) == 0
    assert time.monotonic() - started < 1.4  # did not wait for the 1.5 s __init__
