"""The s3 source against moto's S3 server (a real local server), through a recording proxy."""

import functools
import json
import pathlib
from typing import Any

import pytest

from infra_chains.fetch import AssetFetchError, FetchItem, fetch_all
from tests.fetch.conftest import S3_CREDENTIALS
from tests.fetch.s3_proxy import S3Proxy

pytestmark = pytest.mark.servers

fetch = functools.partial(fetch_all, backoff_sec=0)
OBJECTS = {
    "models/m1/config.json": b'{"layers": 2}',
    "models/m1/weights/part-0.bin": b"\x00\x01" * 5000,
    "models/m1/weights/part-1.bin": b"\x02\x03" * 7000,
    "models/m1/README.md": b"# m1",
    "models/m10/other.bin": b"not under models/m1/",
}


@pytest.fixture
def objects(bucket: Any) -> Any:
    for key, body in OBJECTS.items():
        bucket.put_object(Key=key, Body=body)
    return bucket


def item(s3: S3Proxy, bucket: Any, key: str, **fields: Any) -> FetchItem:
    return FetchItem(
        name=f"s3 {key}", kind="s3", source=f"s3://{bucket.name}/{key}", endpoint_url=s3.url, secret_name="s3-creds", **fields
    )


def tree(directory: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_the_objects_under_a_prefix_land_and_a_second_start_downloads_nothing(
    s3: S3Proxy, objects: Any, cache: pathlib.Path, secrets_dir: pathlib.Path
) -> None:
    wanted = item(s3, objects, "models/m1")
    path = fetch([wanted], cache, secrets_dir=secrets_dir)["s3 models/m1"]
    assert path == cache / wanted.cache_key()
    assert tree(path) == {k.removeprefix("models/m1/"): v for k, v in OBJECTS.items() if k.startswith("models/m1/")}
    assert s3.object_gets() == 4
    assert fetch([wanted], cache, secrets_dir=secrets_dir) == {"s3 models/m1": path}
    assert s3.object_gets() == 4


def test_patterns_select_the_objects(s3: S3Proxy, objects: Any, cache: pathlib.Path, secrets_dir: pathlib.Path) -> None:
    wanted = item(s3, objects, "models/m1/", allow_patterns=["weights/*", "*.json"], ignore_patterns=["*-1.bin"])
    path = fetch([wanted], cache, secrets_dir=secrets_dir)["s3 models/m1/"]
    assert sorted(tree(path)) == ["config.json", "weights/part-0.bin"]


def test_a_single_key_lands_under_its_base_name(s3: S3Proxy, objects: Any, cache: pathlib.Path, secrets_dir: pathlib.Path) -> None:
    path = fetch([item(s3, objects, "models/m1/config.json")], cache, secrets_dir=secrets_dir)["s3 models/m1/config.json"]
    assert tree(path) == {"config.json": b'{"layers": 2}'}


def test_a_missing_bucket_names_it_and_the_s3_error_code(s3: S3Proxy, cache: pathlib.Path, secrets_dir: pathlib.Path) -> None:
    missing = FetchItem(name="w", kind="s3", source="s3://no-such-bucket/m", endpoint_url=s3.url, secret_name="s3-creds")
    with pytest.raises(AssetFetchError) as caught:
        fetch([missing], cache, secrets_dir=secrets_dir)
    assert "S3 error NoSuchBucket (HTTP 404)" in str(caught.value)
    assert "the bucket 'no-such-bucket' does not exist" in str(caught.value)


def test_a_missing_key_names_it_and_the_bucket(s3: S3Proxy, objects: Any, cache: pathlib.Path, secrets_dir: pathlib.Path) -> None:
    with pytest.raises(AssetFetchError) as caught:
        fetch([item(s3, objects, "models/m2")], cache, secrets_dir=secrets_dir)
    message = str(caught.value)
    assert f"no object 'models/m2' in bucket '{objects.name}' (HeadObject: S3 error 404, HTTP 404)" in message
    assert f"no objects under s3://{objects.name}/models/m2/" in message
    assert not list(cache.glob("*.complete.json"))


def test_an_interrupted_download_leaves_no_complete_looking_file_and_is_fetched_next_time(
    s3: S3Proxy, objects: Any, cache: pathlib.Path, secrets_dir: pathlib.Path
) -> None:
    wanted = item(s3, objects, "models/m1/weights/part-1.bin")
    s3.cut_gets = -1  # every download stops after 10 bytes
    with pytest.raises(AssetFetchError, match=r"IncompleteReadError.*gave up after 3 attempts"):
        fetch([wanted], cache, secrets_dir=secrets_dir, retries=2)
    assert not (cache / wanted.cache_key()).exists()
    assert not list(cache.glob("*.complete.json"))
    assert not list(cache.rglob("part-1.bin"))  # no file by its final name, anywhere
    s3.cut_gets = 0
    path = fetch([wanted], cache, secrets_dir=secrets_dir)[wanted.name]
    assert (path / "part-1.bin").read_bytes() == OBJECTS["models/m1/weights/part-1.bin"]


@pytest.mark.parametrize(
    ("checksum", "message"),
    [("when_supported", "FlexibleChecksumError: Expected checksum"), ("when_required", "MD5 mismatch against the ETag")],
)
def test_a_damaged_body_is_rejected_by_the_objects_checksum_or_else_its_etag(
    s3: S3Proxy, moto_port: int, objects: Any, cache: pathlib.Path, secrets_dir: pathlib.Path, checksum: str, message: str
) -> None:
    # Uploaded "when_required", an object has no S3 checksum: only its ETag (an MD5) checks it.
    import boto3
    import botocore.config

    uploader = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{moto_port}",
        config=botocore.config.Config(request_checksum_calculation=checksum),
        **S3_CREDENTIALS,
    )
    uploader.put_object(Bucket=objects.name, Key="checked/w.bin", Body=b"weights" * 100)
    s3.corrupt_gets = True
    with pytest.raises(AssetFetchError, match=f"{message}.*gave up after 2 attempts"):
        fetch([item(s3, objects, "checked/w.bin")], cache, secrets_dir=secrets_dir, retries=1)
    assert not list(cache.glob("*.complete.json"))


def test_a_retry_fetches_only_the_objects_not_yet_done(
    s3: S3Proxy, objects: Any, cache: pathlib.Path, secrets_dir: pathlib.Path
) -> None:
    s3.cut_gets = 1
    path = fetch([item(s3, objects, "models/m1")], cache, secrets_dir=secrets_dir)["s3 models/m1"]
    assert len(tree(path)) == 4
    assert s3.object_gets() == 5  # four objects, one of them twice


def test_credentials_come_from_the_secret_never_the_environment(
    s3: S3Proxy, objects: Any, cache: pathlib.Path, secrets_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "FROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "FROMENV")
    fetch([item(s3, objects, "models/m1/README.md")], cache, secrets_dir=secrets_dir)
    assert s3.authorization and all(a and "Credential=testing/" in a for a in s3.authorization)
    objects.Object("models/m1/config.json").Acl().put(ACL="public-read")
    anonymous = FetchItem(name="anon", kind="s3", source=f"s3://{objects.name}/models/m1/config.json", endpoint_url=s3.url)
    del s3.authorization[:]
    fetch([anonymous], cache)
    assert s3.authorization and all(a is None for a in s3.authorization)  # unsigned, not FROMENV


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("not json", "must hold a JSON object of strings"),
        (json.dumps({"aws_access_key_id": "a"}), "must give both aws_access_key_id and aws_secret_access_key"),
        (json.dumps({"aws_access_key": "a", "aws_secret_access_key": "b"}), r"unknown fields \['aws_access_key'\]"),
    ],
)
def test_a_malformed_secret_is_explained(
    s3: S3Proxy, objects: Any, cache: pathlib.Path, secrets_dir: pathlib.Path, secret: str, message: str
) -> None:
    (secrets_dir / "s3-creds").write_text(secret)
    with pytest.raises(AssetFetchError, match=message):
        fetch([item(s3, objects, "models/m1")], cache, secrets_dir=secrets_dir)
    assert s3.requests == []


def test_a_private_object_without_credentials_says_the_request_was_anonymous(
    s3: S3Proxy, objects: Any, cache: pathlib.Path
) -> None:
    anonymous = FetchItem(name="anon", kind="s3", source=f"s3://{objects.name}/models/m1/config.json", endpoint_url=s3.url)
    with pytest.raises(AssetFetchError, match=r"S3 error 403 .*the request was anonymous \(the item names no secret\)"):
        fetch([anonymous], cache)


def test_an_unreachable_endpoint_is_retried_then_reported(cache: pathlib.Path, secrets_dir: pathlib.Path) -> None:
    with S3Proxy(1) as dead:
        url = dead.url
    gone = FetchItem(name="w", kind="s3", source="s3://b/k", endpoint_url=url, secret_name="s3-creds")
    with pytest.raises(AssetFetchError, match=r"HeadObject s3://b/k failed: EndpointConnectionError.*gave up after 2 attempts"):
        fetch([gone], cache, secrets_dir=secrets_dir, retries=1)
