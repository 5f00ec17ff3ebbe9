"""Fixtures: a fake `pulumi` executable on PATH (see `fake_pulumi.py`) and its recording."""

from __future__ import annotations

import json
import os
import pathlib
import sys
from typing import Any

import pytest

_SCRIPT = pathlib.Path(__file__).with_name("fake_pulumi.py")


class FakePulumi:
    """The fake's directory: what it recorded, and knobs for what it answers."""

    def __init__(self, home: pathlib.Path, bin_dir: pathlib.Path) -> None:
        self.home = home
        self.bin_dir = bin_dir
        self.executable = bin_dir / "pulumi"

    def calls(self) -> list[dict[str, Any]]:
        path = self.home / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def commands(self) -> list[list[str]]:
        """Each call's command words (up to two, before its first flag): ``["stack", "select"]``,
        ``["up"]``, …"""
        found = []
        for call in self.calls():
            argv = list(call["argv"])
            while argv and argv[0].startswith("-"):
                argv.pop(0)
            words: list[str] = []
            for arg in argv[:2]:
                if arg.startswith("-"):
                    break
                words.append(arg)
            found.append(words)
        return found

    def state(self) -> dict[str, Any]:
        path = self.home / "state.json"
        return json.loads(path.read_text()) if path.exists() else {"stacks": {}}

    def set_outputs(self, outputs: dict[str, Any]) -> None:
        (self.home / "outputs.json").write_text(json.dumps(outputs))

    def set_events(self, events: list[dict[str, Any]]) -> None:
        (self.home / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))

    def fail(self, command: str) -> None:
        (self.home / "fail").write_text(command)


@pytest.fixture
def fake_pulumi(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> FakePulumi:
    home = tmp_path / "fake-pulumi"
    bin_dir = tmp_path / "fake-bin"
    home.mkdir()
    bin_dir.mkdir()
    executable = bin_dir / "pulumi"
    executable.write_text(f"#!{sys.executable}\n" + _SCRIPT.read_text())
    executable.chmod(0o755)
    monkeypatch.setenv("FAKE_PULUMI_DIR", str(home))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("INFRA_CHAINS_PULUMI", raising=False)
    monkeypatch.setenv("INFRA_CHAINS_HOME", str(tmp_path / "state"))
    return FakePulumi(home, bin_dir)
