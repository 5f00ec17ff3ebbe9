import logging

import pytest

from infra_chains.fetch._progress import Progress, format_bytes


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_logs_at_most_once_per_interval_with_bytes_percent_and_rate(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    progress = Progress(logging.getLogger("test.progress"), "weights", total=4 * 1024**2, interval=5.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.progress"):
        for _ in range(3):
            clock.now += 1.0
            progress.advance(1024**2)
        assert caplog.messages == []  # 3 s in: nothing yet
        clock.now += 2.0
        progress.advance(1024**2)
        progress.finish()
    assert caplog.messages == [
        "asset weights: 4.0 MiB of 4.0 MiB (100%), 819.2 KiB/s",
        "asset weights: fetched 4.0 MiB of 4.0 MiB (100%), 819.2 KiB/s",
    ]


def test_format_bytes() -> None:
    assert [format_bytes(n) for n in (0, 1023, 1536, 5 * 1024**3)] == ["0 B", "1023 B", "1.5 KiB", "5.0 GiB"]
