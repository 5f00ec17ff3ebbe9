"""The http source against a real local server (`FileServer`)."""

import functools
import hashlib
import logging
import pathlib

import pytest

from infra_chains.fetch import AssetFetchError, FetchItem, fetch_all
from tests.fetch.file_server import FileServer, Reply

pytestmark = pytest.mark.servers

BODY = b"weights " * 1000
fetch = functools.partial(fetch_all, backoff_sec=0)


def item(server: FileServer, path: str = "/files/model.bin", **fields: object) -> FetchItem:
    return FetchItem(name=f"file {path}", kind="http", source=server.url(path), **fields)  # type: ignore[arg-type]


def test_the_file_lands_in_its_directory_and_a_second_fetch_downloads_nothing(
    file_server: FileServer, cache: pathlib.Path
) -> None:
    file_server.routes["/files/model.bin"] = [Reply(200, BODY)]
    paths = fetch([item(file_server)], cache)
    path = paths["file /files/model.bin"]
    assert path.read_bytes() == BODY
    assert path.name == "model.bin" and path.parent == cache / item(file_server).cache_key()
    assert fetch([item(file_server)], cache) == paths
    assert file_server.calls["/files/model.bin"] == 1


def test_a_500_then_200_is_retried(file_server: FileServer, cache: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    file_server.routes["/files/model.bin"] = [Reply(500, b"oops"), Reply(503, b"busy"), Reply(200, BODY)]
    with caplog.at_level(logging.WARNING):
        path = fetch([item(file_server)], cache)["file /files/model.bin"]
    assert path.read_bytes() == BODY
    assert file_server.calls["/files/model.bin"] == 3
    assert "answered HTTP 500" in caplog.text and "retrying" in caplog.text


def test_429_is_retried(file_server: FileServer, cache: pathlib.Path) -> None:
    file_server.routes["/files/model.bin"] = [Reply(429, b"slow down", {"Retry-After": "0"}), Reply(200, BODY)]
    assert fetch([item(file_server)], cache)["file /files/model.bin"].read_bytes() == BODY


@pytest.mark.parametrize(("status", "hint"), [(404, "check the URL"), (403, "needs credentials")])
def test_a_4xx_fails_at_once_naming_the_status_and_the_url(
    file_server: FileServer, cache: pathlib.Path, status: int, hint: str
) -> None:
    file_server.routes["/files/model.bin"] = [Reply(status, b"no")]
    with pytest.raises(AssetFetchError) as caught:
        fetch([item(file_server)], cache)
    assert f"answered HTTP {status}" in str(caught.value) and hint in str(caught.value)
    assert file_server.url("/files/model.bin") in str(caught.value)
    assert str(caught.value).startswith("asset file /files/model.bin: ")
    assert file_server.calls["/files/model.bin"] == 1


def test_a_body_shorter_than_its_content_length_is_retried_then_rejected(
    file_server: FileServer, cache: pathlib.Path
) -> None:
    file_server.routes["/files/model.bin"] = [Reply(200, BODY, send=100)]
    with pytest.raises(AssetFetchError, match="gave up after 3 attempts"):
        fetch([item(file_server)], cache, retries=2)
    assert file_server.calls["/files/model.bin"] == 3
    assert not (cache / item(file_server).cache_key()).exists()


def test_a_size_other_than_the_declared_one_is_rejected_at_once(file_server: FileServer, cache: pathlib.Path) -> None:
    file_server.routes["/files/model.bin"] = [Reply(200, BODY)]
    with pytest.raises(AssetFetchError, match=f"says the file has {len(BODY)} bytes .Content-Length., the item expects 10"):
        fetch([item(file_server, size=10)], cache)
    assert file_server.calls["/files/model.bin"] == 1


def test_a_body_longer_than_the_declared_size_without_content_length_is_rejected(
    file_server: FileServer, cache: pathlib.Path
) -> None:
    # No Content-Length to compare with before the bytes arrive.
    file_server.routes["/files/model.bin"] = [Reply(200, BODY, content_length=-1)]
    with pytest.raises(AssetFetchError, match=f"got {len(BODY)} bytes, the item's size is {len(BODY) - 1}"):
        fetch([item(file_server, size=len(BODY) - 1)], cache)


def test_a_sha256_mismatch_is_rejected_and_a_match_accepted(file_server: FileServer, cache: pathlib.Path) -> None:
    file_server.routes["/files/model.bin"] = [Reply(200, BODY)]
    with pytest.raises(AssetFetchError, match="SHA-256 mismatch: expected 0000"):
        fetch([item(file_server, sha256="0" * 64)], cache)
    assert file_server.calls["/files/model.bin"] == 1
    digest = hashlib.sha256(BODY).hexdigest()
    assert fetch([item(file_server, sha256=digest)], cache)["file /files/model.bin"].read_bytes() == BODY


def test_a_cached_file_that_no_longer_matches_the_expected_sha256_is_fetched_again(
    file_server: FileServer, cache: pathlib.Path
) -> None:
    file_server.routes["/files/model.bin"] = [Reply(200, b"old"), Reply(200, BODY)]
    fetch([item(file_server)], cache)
    path = fetch([item(file_server, sha256=hashlib.sha256(BODY).hexdigest())], cache)["file /files/model.bin"]
    assert path.read_bytes() == BODY


def test_the_token_comes_from_the_secret_file_only(
    file_server: FileServer, cache: pathlib.Path, secrets_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "from-the-environment")
    file_server.routes["/files/model.bin"] = [Reply(200, BODY)]
    fetch([item(file_server, secret_name="hf-token")], cache, secrets_dir=secrets_dir)
    assert file_server.request_headers[-1]["authorization"] == "Bearer hf_secret_token"
    file_server.routes["/other.bin"] = [Reply(200, BODY)]
    fetch([item(file_server, "/other.bin")], cache, secrets_dir=secrets_dir)
    assert "authorization" not in file_server.request_headers[-1]


def test_a_missing_secret_is_named(file_server: FileServer, cache: pathlib.Path, secrets_dir: pathlib.Path) -> None:
    with pytest.raises(AssetFetchError, match="the secret 'nope' is not in .*secrets"):
        fetch([item(file_server, secret_name="nope")], cache, secrets_dir=secrets_dir)


def test_the_file_name_comes_from_the_url_path_or_the_item(file_server: FileServer, cache: pathlib.Path) -> None:
    file_server.routes["/dl/my%20model.bin?token=x"] = [Reply(200, BODY)]
    file_server.routes["/dl/"] = [Reply(200, BODY)]
    paths = fetch([item(file_server, "/dl/my%20model.bin?token=x"), item(file_server, "/dl/", filename="w.bin")], cache)
    assert [p.name for p in paths.values()] == ["my model.bin", "w.bin"]


def test_a_refused_connection_is_retried_then_reported(cache: pathlib.Path) -> None:
    with FileServer() as server:
        url = server.url("/x.bin")
    with pytest.raises(AssetFetchError, match=r"GET http://127.0.0.1:\d+/x.bin failed: ConnectError.*gave up after 2 attempts"):
        fetch([FetchItem(name="x", kind="http", source=url)], cache, retries=1)


def test_a_download_cut_short_continues_where_it_stopped(file_server: FileServer, cache: pathlib.Path) -> None:
    etag = {"ETag": '"v1"'}
    file_server.routes["/files/model.bin"] = [Reply(200, BODY, etag, send=3000), Reply(200, BODY, etag, ranges=True)]
    digest = hashlib.sha256(BODY).hexdigest()  # the resumed file is verified whole
    path = fetch([item(file_server, sha256=digest)], cache)["file /files/model.bin"]
    assert path.read_bytes() == BODY
    assert file_server.request_headers[1]["range"] == "bytes=3000-"
    assert file_server.request_headers[1]["if-range"] == '"v1"'
    assert not list(path.parent.glob("*.part*"))


def test_a_file_that_changed_meanwhile_is_fetched_whole(file_server: FileServer, cache: pathlib.Path) -> None:
    new = b"new weights " * 1000
    file_server.routes["/files/model.bin"] = [
        Reply(200, BODY, {"ETag": '"v1"'}, send=3000),
        Reply(200, new, {"ETag": '"v2"'}, ranges=True),
    ]
    assert fetch([item(file_server)], cache)["file /files/model.bin"].read_bytes() == new


def test_without_a_strong_etag_a_retry_starts_over(file_server: FileServer, cache: pathlib.Path) -> None:
    weak = {"ETag": 'W/"v1"'}
    file_server.routes["/files/model.bin"] = [Reply(200, BODY, weak, send=3000), Reply(200, BODY, weak, ranges=True)]
    assert fetch([item(file_server)], cache)["file /files/model.bin"].read_bytes() == BODY
    assert "range" not in file_server.request_headers[1]
