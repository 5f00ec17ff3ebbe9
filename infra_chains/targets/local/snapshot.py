"""Content-addressed snapshots of what was pushed, so what runs is what was pushed.

A local chainlet imports its code from a directory on this machine. Were that the user's
workspace, a chainlet restarted after a crash would run whatever the files say *now* (an edit
made after the push, half-saved even), under the old hash in ``status``. So push copies the
workspace's files (the very list the plan hashes: no ``.env``, nothing ``.gitignore``d) into
``snapshots/<digest>/`` under the chain's state directory, and every contract points there.

The name is the digest of the copied files (names and contents), so pushing the same files again
reuses the snapshot, and an unchanged chainlet keeps the snapshot it started from. Files are made
read-only, a reminder that editing them changes nothing that was pushed. `collect` removes the
snapshots no contract refers to any more.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import shutil
import stat
from collections.abc import Iterable

#: Length of a snapshot's directory name (hex digits of the sha256 over its files).
DIGEST_CHARS = 24
_PARTIAL_PREFIX = ".partial-"


def digest(files: Iterable[pathlib.Path], root: pathlib.Path) -> str:
    """sha256 over ``files``' names (relative to ``root``) and contents, as hex."""
    hasher = hashlib.sha256()
    for path in files:
        hasher.update(path.relative_to(root).as_posix().encode() + b"\0")
        hasher.update(hashlib.sha256(path.read_bytes()).digest())
    return hasher.hexdigest()[:DIGEST_CHARS]


def take(files: list[pathlib.Path], root: pathlib.Path, store: pathlib.Path) -> pathlib.Path:
    """A snapshot of ``files`` (all under ``root``) in ``store``; the existing one if it is equal.

    The copy is hashed, not the originals, so a file edited while it is copied yields a snapshot
    named after what it holds, never a name that lies about it.
    """
    store.mkdir(parents=True, exist_ok=True)
    existing = store / digest(files, root)
    if existing.is_dir():
        return existing
    partial = store / f"{_PARTIAL_PREFIX}{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    copied: list[pathlib.Path] = []
    for path in files:
        target = partial / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        mode = stat.S_IMODE(path.stat().st_mode)
        os.chmod(target, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        copied.append(target)
    final = store / digest(copied, partial)
    if final.is_dir():
        shutil.rmtree(partial, ignore_errors=True)
    else:
        os.replace(partial, final)
    return final


def collect(store: pathlib.Path, keep: Iterable[pathlib.Path]) -> list[pathlib.Path]:
    """Remove every snapshot in ``store`` but ``keep``; returns what was removed.

    Call it with the chain's lock held.
    """
    kept = {path.resolve() for path in keep}
    removed: list[pathlib.Path] = []
    if not store.is_dir():
        return removed
    for entry in store.iterdir():
        # Another push's copy in progress cannot be here (the chain's lock is held), so a
        # partial copy is one an interrupted push left behind.
        if entry.resolve() in kept or entry.name == f"{_PARTIAL_PREFIX}{os.getpid()}":
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(entry)
            removed.append(entry)
    return removed
