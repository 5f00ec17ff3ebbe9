"""Assets on the local target: examples/weights_chain.py pushed end to end against a local HTTP
server; one per-user cache shared by chains; a failed fetch named in the push error; a
mount_location this user cannot create refused before anything starts."""

from __future__ import annotations

import json
import os
import pathlib
import textwrap

import pytest

import infra_chains as chains
from infra_chains.errors import DeploymentError
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan.planner import make_plan
from infra_chains.framework.graph import build_graph
from infra_chains.targets.assets import CACHE_DIR_ENV, check_mount_locations, default_asset_cache_dir
from infra_chains.targets.local import LocalTarget
from tests.serving.asset_server import AssetServer

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "weights_chain.py"
CONFIG = json.dumps({"model_type": "tiny", "n_embd": 8}).encode()


@pytest.fixture
def cache_dir(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    cache = tmp_path / "asset-cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(cache))
    return cache


def load_example(monkeypatch: pytest.MonkeyPatch, url: str, copy_to: pathlib.Path) -> type:
    """The example loaded with ``WEIGHTS_CHAIN_URL=url``, from its own copy (a module is imported
    once per path)."""
    monkeypatch.setenv("WEIGHTS_CHAIN_URL", url)
    copy_to.mkdir(parents=True, exist_ok=True)
    path = copy_to / "weights_chain.py"
    path.write_text(EXAMPLE.read_text())
    return load_entrypoint(path)


@pytest.mark.servers
def test_weights_chain_end_to_end_and_two_chains_share_one_download(
    tmp_path: pathlib.Path, local_target: LocalTarget, cache_dir: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with AssetServer({"/m/config.json": CONFIG}) as server:
        entry = load_example(monkeypatch, server.url("/m/config.json"), tmp_path / "a")
        service = chains.push(entry, chain_name="weights")
        assert service is not None
        assert service.run_remote({"text": "three small words"}) == "tiny (8-dim) would read 3 words"
        other = chains.push(load_example(monkeypatch, server.url("/m/config.json"), tmp_path / "b"),
                            chain_name="weights-two")
        assert other is not None
        assert other.run_remote({"text": "x"}) == "tiny (8-dim) would read 1 words"
        assert server.hits == {"/m/config.json": 1}
    assert [p.name for p in cache_dir.iterdir() if not p.name.startswith(".")]  # the shared cache


@pytest.mark.servers
def test_a_failed_fetch_fails_the_push_naming_the_asset(
    tmp_path: pathlib.Path, local_target: LocalTarget, cache_dir: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with AssetServer({}) as server:
        entry = load_example(monkeypatch, server.url("/missing/config.json"), tmp_path / "c")
        with pytest.raises(DeploymentError) as info:
            chains.push(entry, chain_name="weights-missing", ready_timeout_sec=30)
    message = str(info.value)
    assert "asset ExternalDataItem 'model/config.json'" in message, message
    assert "404" in message, message


WEIGHTS_AT = '''
import infra_chains as chains

@chains.mark_entrypoint
class Model(chains.ChainletBase):
    remote_config = chains.RemoteConfig(assets=chains.Assets(weights=[
        chains.WeightsSource(source="https://example.com/w.bin", mount_location="{path}"),
    ]))

    def run_remote(self) -> int:
        return 1
'''


def test_a_mount_location_this_user_cannot_create_is_refused_before_anything_starts(
    tmp_path: pathlib.Path,
) -> None:
    blocker = tmp_path / "a-file"  # under a file: no user (root included) can create it
    blocker.write_text("")
    path = tmp_path / "chain.py"
    path.write_text(textwrap.dedent(WEIGHTS_AT).replace("{path}", str(blocker / "weights")))
    plan = make_plan(build_graph(load_entrypoint(path)), "weights-at")
    with pytest.raises(DeploymentError) as info:
        check_mount_locations(plan)
    message = str(info.value)
    assert "chainlet 'Model'" in message and "WeightsSource 'https://example.com/w.bin'" in message
    assert f"{blocker} is not a directory" in message and "choose a mount_location" in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any directory")
def test_a_mount_location_under_a_read_only_directory_is_refused(tmp_path: pathlib.Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        path = tmp_path / "chain.py"
        path.write_text(textwrap.dedent(WEIGHTS_AT).replace("{path}", str(locked / "weights")))
        with pytest.raises(DeploymentError, match="is not writable by this user"):
            check_mount_locations(make_plan(build_graph(load_entrypoint(path)), "weights-ro"))
    finally:
        locked.chmod(0o700)


def test_the_cache_is_per_user_and_configurable() -> None:
    assert default_asset_cache_dir({CACHE_DIR_ENV: "/c"}) == pathlib.Path("/c")
    assert default_asset_cache_dir({"XDG_CACHE_HOME": "/x"}) == pathlib.Path("/x/infra-chains/assets")
    assert default_asset_cache_dir({}).parts[-3:] == (".cache", "infra-chains", "assets")
