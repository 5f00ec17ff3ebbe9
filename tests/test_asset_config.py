"""Asset models (`infra_chains/asset_config.py`): truss-chains' field names, and each bad value
fails at definition time with a message naming the field and the value."""

from typing import Any

import pytest

import infra_chains as chains
from infra_chains.errors import ConfigValueError


def error_of(model: type, **fields: Any) -> str:
    with pytest.raises(ConfigValueError) as info:
        model(**fields)
    return str(info.value)


def test_weights_source_is_exported_top_level_like_truss_chains() -> None:
    source = chains.WeightsSource(source="hf://org/repo@main", mount_location="/app/weights/")
    assert source.mount_location == "/app/weights"
    assert chains.Assets(weights=[source]).weights == [source]


@pytest.mark.parametrize(("source", "words"), [
    ("gs://bucket/w", ["gs://", "Google Cloud Storage", "not fetched"]),
    ("azure://acct/c/w", ["azure://", "Azure", "not fetched"]),
    ("r2://acct.bucket/w", ["r2://", "endpoint_url"]),
    ("ftp://host/w", ["unknown scheme ftp://"]),
    ("org/repo", ["has no scheme"]),
    ("hf://", ["incomplete", "hf://org/repo"]),
    ("s3://bucket/p@v1", ["'@revision' is for hf://"]),
    ("https://host/dir/", ["must name a file"]),
])
def test_unfetchable_sources_fail_at_definition_naming_the_value(source: str, words: list[str]) -> None:
    message = error_of(chains.WeightsSource, source=source, mount_location="/w")
    assert "source=" in message and "weights-source-value" in message
    for word in words:
        assert word in message


def test_mount_location_must_be_absolute() -> None:
    message = error_of(chains.WeightsSource, source="s3://b/p", mount_location="weights")
    assert "mount_location='weights'" in message and "absolute" in message


def test_patterns_and_endpoint_must_fit_the_scheme() -> None:
    assert "one file" in error_of(chains.WeightsSource, source="https://h/w.bin",
                                  mount_location="/w", allow_patterns=["*.bin"])
    assert "s3:// sources only" in error_of(chains.WeightsSource, source="hf://o/r",
                                            mount_location="/w", endpoint_url="http://x")


@pytest.mark.parametrize("kind", ["gcs", "azure"])
def test_model_repo_kinds_we_do_not_fetch_are_refused(kind: str) -> None:
    message = error_of(chains.ModelRepo, repo_id="bucket/m", kind=kind)
    assert f"kind={kind!r}" in message and "not fetched by infra_chains" in message
    assert "kind='s3'" in message


def test_model_repo_fields_and_folder() -> None:
    repo = chains.ModelRepo(repo_id="org/model", revision="abc123", use_volume=True,
                            allow_patterns=["*.json"])
    assert repo.folder == "org--model" and repo.kind == "hf"
    assert repo.runtime_secret_name == "hf_access_token"
    assert chains.ModelRepo(repo_id="org/m", volume_folder="m").folder == "m"
    s3 = chains.ModelRepo(repo_id="s3://bucket/models/m", kind="s3", endpoint_url="http://minio")
    assert s3.folder == "bucket--models--m"


@pytest.mark.parametrize(("fields", "words"), [
    ({"repo_id": "org/m", "revision": "x"}, ["revision='x'", "at least 2"]),
    ({"repo_id": "org/m", "volume_folder": "../up"}, ["volume_folder='../up'", "relative"]),
    ({"repo_id": "s3://b/m"}, ["repo_id 's3://b/m'", "kind='s3'"]),
    ({"repo_id": "s3://b/m", "kind": "s3", "revision": "v1"}, ["revision 'v1'", "hf"]),
    ({"repo_id": "org/m", "runtime_secret_name": "a b"}, ["runtime_secret_name", "'a b'"]),
])
def test_bad_model_repo_values_name_field_and_value(fields: dict[str, Any], words: list[str]) -> None:
    message = error_of(chains.ModelRepo, **fields)
    assert "model-repo-value" in message
    for word in words:
        assert word in message


def test_external_data_item_needs_an_http_url_and_a_relative_path() -> None:
    assert "url='s3://b/k'" in error_of(chains.ExternalDataItem, url="s3://b/k", local_data_path="k")
    message = error_of(chains.ExternalDataItem, url="https://h/f", local_data_path="/etc/f")
    assert "local_data_path='/etc/f'" in message and "relative" in message
    assert "a/../b" in error_of(chains.ExternalDataItem, url="https://h/f", local_data_path="a/../b")
    item = chains.ExternalDataItem(url="http://127.0.0.1:9/f.bin", local_data_path="w/f.bin")
    assert item.backend == "http_public"


def test_two_assets_in_one_place_are_refused() -> None:
    message = error_of(chains.Assets, weights=[
        chains.WeightsSource(source="hf://a/b", mount_location="/w"),
        chains.WeightsSource(source="s3://c/d", mount_location="/w/"),
    ])
    assert "mount_location '/w' is used twice" in message
