"""The binary codec over real servers: a numpy array and bytes through two hops."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from infra_chains.serving import codec
from infra_chains.serving.testing import ChainletProcess

from .conftest import Serve

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def array_chain(serve_module: Serve) -> ChainletProcess:
    leaf = serve_module("binary_chain:ArrayLeaf", name="ArrayLeaf")
    return serve_module("binary_chain:ArrayEntry", name="ArrayEntry", dependencies={"ArrayLeaf": leaf.url})


def test_numpy_array_and_bytes_round_trip_as_msgpack(array_chain: ChainletProcess) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    blob = bytes(range(256))
    response = httpx.post(array_chain.predict_url, content=codec.encode({"array": array, "blob": blob}, True),
                          headers={"Content-Type": codec.MSGPACK_CONTENT_TYPE})
    assert response.status_code == 200, response.text
    doubled, reversed_blob = codec.decode(response.content, True)
    assert isinstance(doubled, np.ndarray) and doubled.dtype == np.float32 and doubled.shape == (3, 4)
    np.testing.assert_array_equal(doubled, array * 2 + 1)
    assert reversed_blob == blob[::-1]


def test_large_array_round_trip(array_chain: ChainletProcess) -> None:
    array = np.random.default_rng(0).random(256 * 1024, dtype=np.float32)  # 1 MiB
    response = httpx.post(array_chain.predict_url, content=codec.encode({"array": array, "blob": b""}, True),
                          headers={"Content-Type": codec.MSGPACK_CONTENT_TYPE}, timeout=10)
    np.testing.assert_array_equal(codec.decode(response.content, True)[0], array * 2 + 1)


def test_json_callers_still_work(array_chain: ChainletProcess) -> None:
    # JSON at the edge (lists, base64 bytes); the hop between chainlets stays binary.
    response = httpx.post(array_chain.predict_url, json={"array": [1.0, 2.0], "blob": "AAEC"})
    assert response.status_code == 200, response.text
    assert response.json() == [[3.0, 5.0], "AgEA"]
