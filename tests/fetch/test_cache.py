import logging
import pathlib

import pytest

from infra_chains.fetch._cache import Entry, FileRecord, Staging, safe_relative
from infra_chains.fetch._failure import Failure
from infra_chains.fetch._progress import Progress

PROGRESS = Progress(logging.getLogger("test.cache"), "x")


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", ""])
def test_paths_that_could_leave_the_item_directory_are_refused(path: str) -> None:
    with pytest.raises(Failure, match="not a plain relative path"):
        safe_relative(path)


def test_a_verified_file_is_renamed_into_place_and_journalled(tmp_path: pathlib.Path) -> None:
    staging = Staging(tmp_path / "k.partial", tmp_path / "k.partial.jsonl")
    record = staging.write("d/f.bin", [b"ab", b"c"], progress=PROGRESS, expected_size=3, version="v1")
    assert (tmp_path / "k.partial/d/f.bin").read_bytes() == b"abc"
    assert not (tmp_path / "k.partial/d/f.bin.part").exists()
    reopened = Staging(tmp_path / "k.partial", tmp_path / "k.partial.jsonl")
    assert reopened.reusable("d/f.bin", 3, "v1") == record
    assert reopened.reusable("d/f.bin", 3, "v2") is None  # another version of the object


@pytest.mark.parametrize(
    ("chunks", "options", "message", "transient"),
    [
        ([b"ab"], {"expected_size": 3}, "got 2 bytes, the declared size is 3 (the transfer was cut short)", True),
        ([b"abcd"], {"expected_size": 3}, "got 4 bytes, the declared size is 3", False),
        ([b"abc"], {"expected_size": 3, "sha256": "0" * 64}, "SHA-256 mismatch", False),
        ([b"abc"], {"expected_size": 3, "md5": "0" * 32}, "MD5 mismatch against the ETag", True),
    ],
)
def test_a_file_that_fails_verification_leaves_nothing_behind(
    tmp_path: pathlib.Path, chunks: list[bytes], options: dict[str, object], message: str, transient: bool
) -> None:
    staging = Staging(tmp_path / "k.partial", tmp_path / "k.partial.jsonl")
    with pytest.raises(Failure, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        staging.write("f.bin", chunks, progress=PROGRESS, **options)  # type: ignore[arg-type]
    assert caught.value.transient is transient
    assert list((tmp_path / "k.partial").iterdir()) == []


def test_a_directory_without_its_marker_is_not_complete(tmp_path: pathlib.Path) -> None:
    from infra_chains.fetch import FetchItem

    item = FetchItem(name="x", kind="s3", source="s3://b/p/")
    entry = Entry(tmp_path, item.cache_key())
    (entry.dir).mkdir(parents=True)
    (entry.dir / "f").write_bytes(b"abc")
    assert entry.completed(item) is None  # a crash after the rename, before the marker
    entry.marker.write_text(
        '{"key": "%s", "kind": "s3", "source": "s3://b/p/", "files": [{"path": "f", "size": 3}], "fetched_at": "t"}' % entry.key
    )
    assert entry.completed(item) is not None
    (entry.dir / "f").write_bytes(b"ab")  # someone truncated it
    assert entry.completed(item) is None
    assert FileRecord(path="f", size=3).sha256 is None


def test_commit_keeps_exactly_the_recorded_files(tmp_path: pathlib.Path) -> None:
    from infra_chains.fetch._cache import Completion

    entry = Entry(tmp_path, "s3-x-0")
    staging = entry.begin()
    kept = staging.write("a/kept.bin", [b"abc"], progress=PROGRESS, expected_size=3)
    (staging.dir / "a" / "gone.bin.part").write_bytes(b"left by a killed fetcher")
    (staging.dir / "old").mkdir()
    (staging.dir / "old" / "x.part").write_bytes(b"")
    entry.commit(Completion(key=entry.key, kind="s3", source="s3://b/x/", files=[kept], fetched_at="t"))
    assert sorted(p.relative_to(entry.dir).as_posix() for p in entry.dir.rglob("*")) == ["a", "a/kept.bin"]
    assert not entry.staging_dir.exists() and not entry.journal.exists()
