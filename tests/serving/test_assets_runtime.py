"""The serving runtime fetches a chainlet's assets before ``__init__`` (`serving/assets.py`), shows
them at their paths, is not ready meanwhile, and on failure names the asset and exits 1.

Real ``python -m infra_chains.serve`` processes against a local HTTP file server."""

from __future__ import annotations

import json
import pathlib
import time

import pytest

from infra_chains.fetch.items import FetchItem
from infra_chains.serving.contract import AssetMount, RuntimeContract
from infra_chains.serving.testing import ChainletProcess, make_contract
from tests.serving.asset_server import AssetServer
from tests.serving.conftest import WORKSPACE

pytestmark = pytest.mark.servers

FILES = {"/files/weights.bin": b"data-weights", "/files/model.bin": b"model-bytes"}


def assets_contract(server: AssetServer, tmp: pathlib.Path, data_url: str = "/files/weights.bin",
                    **fields: object) -> RuntimeContract:
    shipped = tmp / "shipped"
    shipped.mkdir(exist_ok=True)
    (shipped / "shipped.txt").write_text("shipped")
    (shipped / "w").mkdir(exist_ok=True)
    (shipped / "w" / "other.txt").write_text("kept beside the asset")
    view, mount = tmp / "view" / "data", tmp / "mnt" / "weights"
    mounts = [
        AssetMount(item=FetchItem(name="ExternalDataItem 'w/weights.bin'", kind="http",
                                  source=server.url(data_url)),
                   path=view / "w" / "weights.bin", expose="file"),
        AssetMount(item=FetchItem(name="WeightsSource 'model.bin'", kind="http",
                                  source=server.url("/files/model.bin")),
                   path=mount, expose="directory"),
    ]
    return make_contract(
        "assets_chain:ReadsAssets", WORKSPACE, assets=mounts, asset_cache_dir=tmp / "cache",
        data_dir=view, image_data_dir=shipped, model_cache_dir=tmp / "view" / "model_cache",
        user_env={"mount": str(mount)}, **fields,
    )


def call(process: ChainletProcess) -> dict[str, str]:
    import urllib.request

    request = urllib.request.Request(process.predict_url, data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def test_assets_are_in_place_when_init_runs_and_a_restart_downloads_nothing(tmp_path: pathlib.Path) -> None:
    with AssetServer(FILES) as server:
        contract = assets_contract(server, tmp_path)
        with ChainletProcess(contract) as process:
            assert call(process) == {"data": "data-weights", "shipped": "shipped",
                                     "mounted": "model-bytes",
                                     "model_cache": str(tmp_path / "view" / "model_cache")}
        assert (tmp_path / "view" / "data" / "w" / "other.txt").read_text() == "kept beside the asset"
        assert (tmp_path / "mnt" / "weights").is_symlink()
        assert server.hits == {"/files/weights.bin": 1, "/files/model.bin": 1}
        with ChainletProcess(contract.model_copy(update={"instance_id": None})) as again:
            assert call(again)["mounted"] == "model-bytes"
        assert server.hits == {"/files/weights.bin": 1, "/files/model.bin": 1}
    # The shipped data was never written to.
    assert sorted(p.name for p in (tmp_path / "shipped").rglob("*")) == ["other.txt", "shipped.txt", "w"]


def test_not_ready_while_fetching(tmp_path: pathlib.Path) -> None:
    with AssetServer(FILES) as server:
        server.gate.clear()
        with ChainletProcess(assets_contract(server, tmp_path), wait_ready=False) as process:
            deadline = time.monotonic() + 10
            while not server.hits and time.monotonic() < deadline:
                time.sleep(0.02)
            assert server.hits, process.logs()
            assert process.get("/healthz")[0] == 200
            status, body = process.get("/readyz")
            assert status == 503 and b"initialising" in body
            server.gate.set()
            process.wait_ready()
            assert call(process)["data"] == "data-weights"


def test_a_failed_fetch_names_the_asset_and_the_answer_and_exits_1(tmp_path: pathlib.Path) -> None:
    with AssetServer(FILES) as server:
        contract = assets_contract(server, tmp_path, data_url="/files/missing.bin")
        with ChainletProcess(contract, wait_ready=False) as process:
            assert process.process is not None
            assert process.process.wait(timeout=30) == 1
            logs = process.logs()
    assert "not ready: asset ExternalDataItem 'w/weights.bin'" in logs, logs
    assert "404" in logs, logs


def test_assets_placed_by_the_target_are_only_checked(tmp_path: pathlib.Path) -> None:
    contract = make_contract(
        "assets_chain:ReadsAssets", WORKSPACE, assets_in_place=True,
        assets=[AssetMount(item=FetchItem(name="WeightsSource 'x'", kind="http", source="https://h/x"),
                           path=tmp_path / "absent", expose="directory")],
    )
    with ChainletProcess(contract, wait_ready=False) as process:
        assert process.process is not None
        assert process.process.wait(timeout=30) == 1
        logs = process.logs()
    assert f"asset WeightsSource 'x': expected at {tmp_path / 'absent'}" in logs, logs
