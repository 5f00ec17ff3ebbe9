"""Reading the local target's log files: the last N lines, then (optionally) new lines as they come.

Only complete lines are yielded while following, so a line written in two pieces is never split.
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Callable, Iterator, Mapping

from infra_chains.targets.base import LogLine

FOLLOW_POLL_SEC = 0.25
_BLOCK = 64 * 1024


def tail_lines(path: pathlib.Path, lines: int) -> tuple[list[str], int]:
    """The last ``lines`` complete-or-final lines of ``path`` and its size when read.

    Reads backwards in blocks, so a large log costs only its tail.
    """
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if lines == 0:
                return [], size
            data = b""
            position = size
            while position > 0 and data.count(b"\n") <= lines:
                step = min(_BLOCK, position)
                position -= step
                handle.seek(position)
                data = handle.read(step) + data
    except FileNotFoundError:
        return [], 0
    text = data.decode(errors="replace").splitlines()
    return text[-lines:], size


def follow_logs(
    files: Mapping[str, pathlib.Path],
    lines: int,
    follow: bool,
    *,
    still_deployed: Callable[[], bool] = lambda: True,
    poll_sec: float = FOLLOW_POLL_SEC,
) -> Iterator[LogLine]:
    """The last ``lines`` of each file (per label, in order), then new lines while ``follow``.

    The tails are read when this is called, not when iteration starts, so following picks up
    every line written after the call. Following ends when ``still_deployed()`` turns false (the
    chain was taken down).
    """
    positions: dict[str, int] = {}
    history: list[LogLine] = []
    for label, path in files.items():
        tail, positions[label] = tail_lines(path, lines)
        history.extend(LogLine(chainlet=label, text=text) for text in tail)
    return _stream(files, history, positions, follow, still_deployed, poll_sec)


def _stream(
    files: Mapping[str, pathlib.Path],
    history: list[LogLine],
    positions: dict[str, int],
    follow: bool,
    still_deployed: Callable[[], bool],
    poll_sec: float,
) -> Iterator[LogLine]:
    yield from history
    pending: dict[str, bytes] = dict.fromkeys(files, b"")
    while follow and still_deployed():
        time.sleep(poll_sec)
        for label, path in files.items():
            chunk, positions[label] = _read_from(path, positions[label])
            if not chunk:
                continue
            *complete, pending[label] = (pending[label] + chunk).split(b"\n")
            for line in complete:
                yield LogLine(chainlet=label, text=line.decode(errors="replace").rstrip("\r"))


def _read_from(path: pathlib.Path, position: int) -> tuple[bytes, int]:
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size < position:  # truncated or replaced: start again from its beginning
                position = 0
            handle.seek(position)
            chunk = handle.read()
    except FileNotFoundError:
        return b"", position
    return chunk, position + len(chunk)
