"""The hf source against a fake hub (`FakeHub`) reached through ``HF_ENDPOINT`` or endpoint_url."""

import functools
import pathlib

import pytest

from infra_chains.fetch import AssetFetchError, FetchItem, fetch_all
from tests.fetch.fake_hub import FakeHub, Repo

pytestmark = pytest.mark.servers

fetch = functools.partial(fetch_all, backoff_sec=0)
FILES = {
    "config.json": b'{"hidden": 8}',
    "tokenizer.json": b'{"vocab": []}',
    "weights/model.safetensors": b"\x07" * 20000,
    "weights/extra.bin": b"\x08" * 3000,
}


@pytest.fixture
def repo(hub: FakeHub) -> Repo:
    hub.repos["org/m"] = Repo(files=dict(FILES), lfs={"weights/model.safetensors", "weights/extra.bin"})
    return hub.repos["org/m"]


def item(hub: FakeHub, **fields: object) -> FetchItem:
    return FetchItem(name="ModelRepo 'org/m'", kind="hf", source="org/m", endpoint_url=hub.url, **fields)  # type: ignore[arg-type]


def tree(directory: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_the_snapshot_lands_without_the_clients_bookkeeping_and_a_restart_downloads_nothing(
    hub: FakeHub, repo: Repo, cache: pathlib.Path
) -> None:
    path = fetch([item(hub)], cache)["ModelRepo 'org/m'"]
    assert path == cache / item(hub).cache_key()
    assert tree(path) == FILES  # no .cache/huggingface inside
    assert hub.downloads() == 4
    calls = sum(hub.calls.values())
    assert fetch([item(hub)], cache) == {"ModelRepo 'org/m'": path}
    assert sum(hub.calls.values()) == calls  # not even a metadata request
    marker = (cache / f"{item(hub).cache_key()}.complete.json").read_text()
    assert repo.commit in marker


def test_hf_endpoint_is_honoured(hub: FakeHub, repo: Repo, cache: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    plain = FetchItem(name="m", kind="hf", source="org/m")
    assert tree(fetch([plain], cache)["m"]) == FILES


def test_patterns_and_revision_are_passed_through(hub: FakeHub, repo: Repo, cache: pathlib.Path) -> None:
    chosen = item(hub, revision=repo.commit, allow_patterns=["*.json", "weights/*"], ignore_patterns=["*.bin"])
    path = fetch([chosen], cache)["ModelRepo 'org/m'"]
    assert sorted(tree(path)) == ["config.json", "tokenizer.json", "weights/model.safetensors"]
    assert hub.downloads() == 3


def test_the_token_comes_from_the_secret_never_hf_token(
    hub: FakeHub, repo: Repo, cache: pathlib.Path, secrets_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.private_token = "hf_secret_token"
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token")  # right value, wrong place: not used
    with pytest.raises(AssetFetchError, match=r"repository not found \(or private"):
        fetch([item(hub)], cache, secrets_dir=secrets_dir)
    assert set(hub.authorization) == {None}
    path = fetch([item(hub, secret_name="hf-token")], cache, secrets_dir=secrets_dir)["ModelRepo 'org/m'"]
    assert tree(path) == FILES


def test_an_unknown_revision_fails_at_once(hub: FakeHub, repo: Repo, cache: pathlib.Path) -> None:
    with pytest.raises(AssetFetchError, match="org/m@v9: revision not found"):
        fetch([item(hub, revision="v9")], cache)
    assert sum(hub.calls.values()) == 1


def test_a_server_error_is_retried(hub: FakeHub, repo: Repo, cache: pathlib.Path) -> None:
    hub.fail_next = [500, 503]
    assert tree(fetch([item(hub)], cache)["ModelRepo 'org/m'"]) == FILES
    assert hub.fail_next == []


def test_a_file_that_does_not_match_the_hubs_sha256_is_rejected(hub: FakeHub, repo: Repo, cache: pathlib.Path) -> None:
    hub.corrupt.add("weights/extra.bin")
    with pytest.raises(AssetFetchError, match=r"weights/extra.bin: SHA-256 mismatch: the hub says .*gave up after 2 attempts"):
        fetch([item(hub)], cache, retries=1)
    assert not list(cache.glob("*.complete.json"))
    assert not (cache / item(hub).cache_key()).exists()
    downloads = hub.downloads()
    hub.corrupt.clear()
    assert tree(fetch([item(hub)], cache)["ModelRepo 'org/m'"]) == FILES
    assert hub.downloads() == downloads + 1  # the rest was kept in staging: only the bad file again


def test_patterns_that_match_nothing_are_an_error(hub: FakeHub, repo: Repo, cache: pathlib.Path) -> None:
    with pytest.raises(AssetFetchError, match=r"no files in model org/m@default branch .* match allow_patterns=\['\*.onnx'\]"):
        fetch([item(hub, allow_patterns=["*.onnx"])], cache)
