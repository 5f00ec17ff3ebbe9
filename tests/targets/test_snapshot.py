"""Snapshots: named by what they hold, reused when equal, collected when unused."""

from __future__ import annotations

import os
import pathlib

from infra_chains.targets.local import snapshot


def files_of(root: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_snapshot_copies_the_files_read_only_and_is_reused_when_equal(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "chain.py").write_text("v = 1\n")
    (source / "pkg" / "util.py").write_text("u = 2\n")
    store = tmp_path / "store"
    first = snapshot.take(files_of(source), source, store)
    assert (first / "chain.py").read_text() == "v = 1\n" and (first / "pkg" / "util.py").is_file()
    assert not (first / "chain.py").stat().st_mode & 0o222
    assert snapshot.take(files_of(source), source, store) == first

    (source / "chain.py").write_text("v = 2\n")  # an edit after the snapshot changes nothing in it
    second = snapshot.take(files_of(source), source, store)
    assert second != first and (first / "chain.py").read_text() == "v = 1\n"


def test_collect_removes_what_is_not_kept(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    store = tmp_path / "store"
    taken = []
    for version in range(3):
        (source / "chain.py").write_text(f"v = {version}\n")
        taken.append(snapshot.take(files_of(source), source, store))
    removed = snapshot.collect(store, [taken[0], taken[2]])
    assert removed == [taken[1]]
    assert sorted(store.iterdir()) == sorted([taken[0], taken[2]])
