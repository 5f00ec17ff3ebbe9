import pydantic
import pytest

from infra_chains.fetch import FetchItem

HF = {"name": "ModelRepo 'org/m'", "kind": "hf", "source": "org/m"}


def test_the_cache_key_ignores_the_label_the_secret_and_the_expected_checksum() -> None:
    base = FetchItem(name="a", kind="http", source="https://example.com/w/model.bin")
    same = FetchItem(name="b", kind="http", source="https://example.com/w/model.bin", secret_name="tok", sha256="0" * 64)
    assert base.cache_key() == same.cache_key()
    assert base.cache_key().startswith("http-model.bin-")


@pytest.mark.parametrize(
    "change",
    [{"revision": "v2"}, {"allow_patterns": ["*.json"]}, {"ignore_patterns": ["*.bin"]}, {"endpoint_url": "http://hub.local"},
     {"source": "org/other"}, {"repo_type": "dataset"}],
)  # fmt: skip
def test_the_cache_key_changes_with_what_identifies_the_content(change: dict[str, object]) -> None:
    assert FetchItem(**HF).cache_key() != FetchItem(**{**HF, **change}).cache_key()


def test_pattern_order_and_duplicates_do_not_change_the_key() -> None:
    one = FetchItem(**HF, allow_patterns=["*.json", "*.bin"])
    other = FetchItem(**HF, allow_patterns=["*.bin", "*.json", "*.bin"])
    assert one.cache_key() == other.cache_key()
    assert FetchItem(**HF, allow_patterns=[]).allow_patterns is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "http", "source": "ftp://x/y"}, "must be an http(s):// URL"),
        ({"kind": "s3", "source": "bucket/key"}, "s3://bucket/key-or-prefix"),
        ({"kind": "hf", "source": "https://huggingface.co/org/m"}, "repo id like 'org/name'"),
        ({"kind": "s3", "source": "s3://b/k", "revision": "main"}, "revision not supported for a s3 item"),
        ({"kind": "hf", "source": "org/m", "sha256": "a" * 64}, "sha256 not supported for a hf item"),
        ({"kind": "http", "source": "https://x/y", "sha256": "xyz"}, "sha256 must be 64 hex digits"),
        ({"kind": "http", "source": "https://x/y", "filename": "../y"}, "filename must be a plain file name"),
        ({"kind": "hf", "source": "org/m", "secret_name": "a b"}, "secret_name may contain only"),
        ({"kind": "hf", "source": "org/m", "color": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_items_say_what_is_wrong(fields: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        FetchItem(name="x", **fields)


def test_items_are_frozen_and_round_trip_through_json() -> None:
    item = FetchItem(**HF, revision="v1", allow_patterns=["*.json"])
    with pytest.raises(pydantic.ValidationError):
        item.revision = "v2"  # type: ignore[misc]
    assert FetchItem.model_validate_json(item.model_dump_json()) == item
