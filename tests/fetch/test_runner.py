"""fetch_all across items and processes: shared cache entries, crashes, concurrent fetchers."""

import json
import logging
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from infra_chains.fetch import FetchItem, fetch_all
from tests.fetch.file_server import FileServer, Reply

pytestmark = pytest.mark.servers

BODY = bytes(range(256)) * 4096  # 1 MiB


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_two_chains_using_the_same_weights_share_one_download(file_server: FileServer, cache: pathlib.Path) -> None:
    file_server.routes["/m.bin"] = [Reply(200, BODY)]
    one = FetchItem(name="chain A's weights", kind="http", source=file_server.url("/m.bin"))
    other = FetchItem(name="chain B's weights", kind="http", source=file_server.url("/m.bin"), secret_name=None)
    assert fetch_all([one], cache)["chain A's weights"] == fetch_all([other], cache)["chain B's weights"]
    assert file_server.calls["/m.bin"] == 1


def test_a_second_fetcher_waits_for_the_first_instead_of_downloading_again(
    file_server: FileServer, cache: pathlib.Path
) -> None:
    release = threading.Event()
    file_server.routes["/m.bin"] = [Reply(200, BODY, send=len(BODY) // 2, hold=release), Reply(200, BODY)]
    weights = FetchItem(name="w", kind="http", source=file_server.url("/m.bin"))
    log = logging.getLogger("test.runner.concurrent")
    log.setLevel(logging.INFO)
    lines = Lines()
    log.addHandler(lines)
    results: dict[str, pathlib.Path | BaseException] = {}

    def run(name: str) -> None:
        try:
            results[name] = fetch_all([weights], cache, log=log, backoff_sec=0)["w"]
        except BaseException as exc:  # reported by the assertions below
            results[name] = exc

    first = threading.Thread(target=run, args=("first",))
    second = threading.Thread(target=run, args=("second",))
    try:
        first.start()
        wait_for(lambda: file_server.calls["/m.bin"] == 1, "the first download to start")
        second.start()
        wait_for(lambda: any("another process is fetching it" in line for line in lines.lines), "the second to wait")
    finally:
        release.set()  # the first download is cut short, retried, and completes
        first.join()
        if second.ident is not None:
            second.join()
        log.removeHandler(lines)
    assert results["first"] == results["second"]
    assert isinstance(results["first"], pathlib.Path) and results["first"].read_bytes() == BODY
    assert file_server.calls["/m.bin"] == 2  # the first fetcher's two attempts; nothing from the second


def test_a_fetcher_killed_mid_stream_leaves_nothing_that_looks_complete(
    file_server: FileServer, cache: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    release = threading.Event()
    file_server.routes["/m.bin"] = [Reply(200, BODY, send=len(BODY) // 2, hold=release), Reply(200, BODY)]
    weights = FetchItem(name="w", kind="http", source=file_server.url("/m.bin"))
    items = tmp_path / "items.json"
    items.write_text(json.dumps([weights.model_dump(mode="json")]))
    process = subprocess.Popen(
        [sys.executable, "-m", "infra_chains.fetch", "--items", str(items), "--cache-root", str(cache)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        part = cache / f"{weights.cache_key()}.partial" / "m.bin.part"
        wait_for(lambda: part.exists() and part.stat().st_size > 0, "bytes on disk")
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        release.set()
    assert not (cache / weights.cache_key()).exists()
    assert not (cache / f"{weights.cache_key()}.complete.json").exists()
    assert fetch_all([weights], cache)["w"].read_bytes() == BODY


def test_names_must_be_unique(cache: pathlib.Path) -> None:
    same = FetchItem(name="w", kind="http", source="http://127.0.0.1:1/a")
    with pytest.raises(ValueError, match=r"asset names must be unique, these repeat: \['w'\]"):
        fetch_all([same, same], cache)


def test_a_cache_that_cannot_be_written_is_named(tmp_path: pathlib.Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    from infra_chains.fetch import AssetFetchError

    with pytest.raises(AssetFetchError, match=f"cannot write the cache at {blocker}"):
        fetch_all([FetchItem(name="w", kind="http", source="http://127.0.0.1:1/a")], blocker / "cache")
