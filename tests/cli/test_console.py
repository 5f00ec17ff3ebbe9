"""Results written to a pipe get a row's width (a status table's URLs are not cut short)."""

from __future__ import annotations

import io

import pytest

from infra_chains.cli import console


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_pipe_gets_room_for_a_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert console._results_width() == console.PIPE_WIDTH


def test_a_terminal_and_columns_keep_richs_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr("sys.stdout", _Terminal())
    assert console._results_width() is None
    monkeypatch.setattr("sys.stdout", io.StringIO())
    monkeypatch.setenv("COLUMNS", "100")
    assert console._results_width() is None
