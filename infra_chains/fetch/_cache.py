"""The cache's layout on disk, and the steps that keep it consistent under crashes and races.

For an item with key ``K`` under the cache root::

    K/                  the content, complete (renamed into place in one step)
    K.complete.json     the completion marker, written last: what was fetched (a `Completion`)
    K.lock              flock'd while one process fetches K; others wait, then find it complete
    K.partial/          staging while fetching: each file streams to ``<name>.part`` beside its
                        final name and is renamed there once its size and checksum check out
    K.partial.jsonl     journal of the files done in staging, so a retry or restart resumes

A directory without its marker is never used; the marker is removed first when an entry is
replaced. So a crash at any point leaves either a complete, marked entry or one that is fetched
again, never a half item that looks complete.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import os
import pathlib
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import pydantic

from infra_chains.fetch._failure import Failure
from infra_chains.fetch._progress import Progress
from infra_chains.fetch.items import FetchItem

CHUNK_SIZE = 1 << 20


class FileRecord(pydantic.BaseModel):
    """One fetched file: its path relative to the item directory, its size and SHA-256."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    path: str
    size: int
    sha256: str | None = None
    #: What the source says identifies this version (S3 ETag, HTTP ETag); used to resume.
    version: str | None = None


class Completion(pydantic.BaseModel):
    """The completion marker: written last, after the content is in place."""

    model_config = pydantic.ConfigDict(extra="forbid")

    format: Literal[1] = 1
    key: str
    kind: str
    source: str
    #: The version actually fetched: the hub's commit, an HTTP ETag; None where there is none.
    resolved: str | None = None
    files: list[FileRecord]
    fetched_at: str


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def safe_relative(path: str) -> pathlib.PurePosixPath:
    """``path`` as a relative path that stays inside its directory; `Failure` otherwise.

    An object key like ``a/../../etc/x`` must not write outside the cache.
    """
    rel = pathlib.PurePosixPath(path)
    if not path or rel.is_absolute() or any(part in ("", ".", "..") for part in path.split("/")):
        raise Failure(f"refusing the file path {path!r}: it is not a plain relative path", transient=False)
    return rel


class Entry:
    """One item's place in the cache (see the module docstring for the layout)."""

    def __init__(self, root: pathlib.Path, key: str) -> None:
        self.root = root
        self.key = key
        self.dir = root / key
        self.marker = root / f"{key}.complete.json"
        self.lock_path = root / f"{key}.lock"
        self.staging_dir = root / f"{key}.partial"
        self.journal = root / f"{key}.partial.jsonl"

    def completed(self, item: FetchItem) -> Completion | None:
        """The marker if the entry is complete and still matches it (files present with their
        recorded sizes, and ``item.sha256`` where given); None means fetch it."""
        try:
            record = Completion.model_validate_json(self.marker.read_bytes())
        except (OSError, ValueError):
            return None
        if record.key != self.key or not record.files:
            return None
        for file in record.files:
            try:
                if (self.dir / file.path).stat().st_size != file.size:
                    return None
            except OSError:
                return None
        if item.sha256 is not None and record.files[0].sha256 != item.sha256:
            return None
        if item.size is not None and record.files[0].size != item.size:
            return None
        return record

    @contextlib.contextmanager
    def locked(self, on_wait: Callable[[], None]) -> Iterator[None]:
        """Hold this entry's lock; ``on_wait`` is called once if another process holds it.

        ``flock`` is released by the kernel when its holder dies, so a crashed fetcher never
        blocks the next one.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                on_wait()
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def begin(self) -> Staging:
        """Drop any stale content (marker first), and open staging, keeping what a previous
        attempt finished."""
        self.marker.unlink(missing_ok=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        return Staging(self.staging_dir, self.journal)

    def abandon(self) -> None:
        """After a failed fetch: keep staging for the next attempt to resume, unless it is empty."""
        with contextlib.suppress(OSError):
            self.staging_dir.rmdir()  # only succeeds when empty
        if not self.staging_dir.exists():
            self.journal.unlink(missing_ok=True)

    def commit(self, record: Completion) -> None:
        """Move staging into place, then write the marker (atomically, last).

        Files in staging that the record does not list (a ``.part`` of an object that has since
        left the listing, say) are dropped first: the directory holds exactly what was verified.
        """
        listed = {file.path for file in record.files}
        for path in sorted(self.staging_dir.rglob("*"), reverse=True):
            relative = path.relative_to(self.staging_dir).as_posix()
            if path.is_dir() and not path.is_symlink():
                if not any(name == relative or name.startswith(f"{relative}/") for name in listed):
                    shutil.rmtree(path, ignore_errors=True)
            elif relative not in listed:
                path.unlink(missing_ok=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.replace(self.staging_dir, self.dir)
        self.journal.unlink(missing_ok=True)
        temporary = self.marker.with_name(f"{self.marker.name}.tmp")
        temporary.write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
        _fsync_path(temporary)
        os.replace(temporary, self.marker)
        _fsync_path(self.root)


class Staging:
    """An item's staging directory: files stream in, are verified, and are journalled."""

    def __init__(self, directory: pathlib.Path, journal: pathlib.Path) -> None:
        self.dir = directory
        self._journal = journal
        self._lock = threading.Lock()
        self._done: dict[str, FileRecord] = {}
        try:
            lines = journal.read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        for line in lines:
            try:
                record = FileRecord.model_validate_json(line)
            except ValueError:
                continue  # a line cut short by a crash
            self._done[record.path] = record

    def reusable(self, path: str, size: int, version: str | None) -> FileRecord | None:
        """The record of ``path`` if a previous attempt fetched this very version of it."""
        record = self._done.get(path)
        if record is None or version is None or record.version != version or record.size != size:
            return None
        try:
            if (self.dir / path).stat().st_size != size:
                return None
        except OSError:
            return None
        return record

    def resumable(self, path: str) -> tuple[int, str] | None:
        """``(bytes, validator)`` of a partial download of ``path`` an earlier attempt kept, if
        any: the caller may ask the server for the rest (HTTP ``Range`` with ``If-Range``)."""
        partial = self._partial(path)
        try:
            validator = partial.with_name(f"{partial.name}.validator").read_text(encoding="utf-8")
            size = partial.stat().st_size
        except OSError:
            return None
        return (size, validator) if size > 0 and validator else None

    def write(
        self,
        path: str,
        chunks: Iterable[bytes],
        *,
        progress: Progress,
        expected_size: int | None,
        size_source: str = "the declared size",
        sha256: str | None = None,
        md5: str | None = None,
        version: str | None = None,
        truncated_is_transient: bool = True,
        resume_from: int = 0,
        validator: str | None = None,
    ) -> FileRecord:
        """Stream ``chunks`` to ``path.part``, verify, and rename it to ``path``.

        A short body (fewer bytes than ``expected_size``) is transient by default: a dropped
        connection. A long one, or a checksum mismatch, is not: the source is not what the item
        says it is. With a ``validator`` (a strong ETag), a download that breaks off keeps its
        ``.part`` so the next attempt can continue it: ``chunks`` then start at ``resume_from``.
        """
        rel = safe_relative(path)
        final = self.dir / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = self._partial(path)
        validator_file = partial.with_name(f"{partial.name}.validator")
        hash_sha = hashlib.sha256()
        hash_md5 = hashlib.md5(usedforsecurity=False) if md5 is not None else None
        written = 0
        try:
            if resume_from:
                written = _hash_prefix(partial, resume_from, hash_sha, hash_md5)
                progress.advance(written)
        except BaseException:
            self.discard_partial(path)
            raise
        try:
            validator_file.unlink(missing_ok=True)
            if validator is not None:
                validator_file.write_text(validator, encoding="utf-8")
            with open(partial, "ab" if resume_from else "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                    hash_sha.update(chunk)
                    if hash_md5 is not None:
                        hash_md5.update(chunk)
                    written += len(chunk)
                    progress.advance(len(chunk))
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            if validator is None:
                partial.unlink(missing_ok=True)
            raise
        try:
            if expected_size is not None and written != expected_size:
                short = written < expected_size
                raise Failure(
                    f"{path}: got {written} bytes, {size_source} is {expected_size}"
                    + (" (the transfer was cut short)" if short else ""),
                    transient=short and truncated_is_transient,
                )
            digest = hash_sha.hexdigest()
            if sha256 is not None and digest != sha256:
                raise Failure(
                    f"{path}: SHA-256 mismatch: expected {sha256}, got {digest}; the source changed "
                    "or the expected checksum is wrong",
                    transient=False,
                )
            if hash_md5 is not None and hash_md5.hexdigest() != md5:
                raise Failure(
                    f"{path}: MD5 mismatch against the ETag: expected {md5}, got {hash_md5.hexdigest()}",
                    transient=True,
                )
            os.replace(partial, final)
        finally:
            # Verified and renamed, or rejected: either way nothing is left to resume.
            partial.unlink(missing_ok=True)
            validator_file.unlink(missing_ok=True)
        record = FileRecord(path=str(rel), size=written, sha256=digest, version=version)
        self.record(record)
        return record

    def discard_partial(self, path: str) -> None:
        """Forget a partial download of ``path`` (the server will not continue it)."""
        partial = self._partial(path)
        partial.unlink(missing_ok=True)
        partial.with_name(f"{partial.name}.validator").unlink(missing_ok=True)

    def _partial(self, path: str) -> pathlib.Path:
        final = self.dir / safe_relative(path)
        return final.with_name(f"{final.name}.part")

    def record(self, record: FileRecord) -> None:
        """Journal a finished file, so a later attempt can reuse it."""
        with self._lock:
            self._done[record.path] = record
            with open(self._journal, "a", encoding="utf-8") as handle:
                handle.write(record.model_dump_json() + "\n")


def sha256_of(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_prefix(path: pathlib.Path, size: int, *hashes: Any) -> int:
    """Feed the first ``size`` bytes of ``path`` to ``hashes``; `Failure` if it is shorter."""
    done = 0
    with open(path, "rb") as handle:
        while done < size and (chunk := handle.read(min(CHUNK_SIZE, size - done))):
            for digest in hashes:
                if digest is not None:
                    digest.update(chunk)
            done += len(chunk)
    if done != size:
        raise Failure(f"{path.name}: the partial download changed on disk; starting over", transient=True)
    return done


def _fsync_path(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

