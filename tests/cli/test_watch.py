"""`infra-chains watch`: usage errors in-process; the edit loop end to end as a real process."""

from __future__ import annotations

import os
import pathlib
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from infra_chains.chain_service import ChainService
from infra_chains.cli.app import main
from infra_chains.targets.local import LocalTarget

CHAIN = '''
import infra_chains as chains


class Leaf(chains.ChainletBase):
    def run_remote(self, text: str) -> str:
        return text.upper()


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self._leaf = leaf

    def run_remote(self, text: str) -> str:
        return self._leaf.run_remote(text=text) + " v1"
'''


def write_chain(tmp_path: pathlib.Path, name: str, source: str = CHAIN) -> pathlib.Path:
    directory = tmp_path / "src"
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


# -- usage errors: nothing is pushed, nothing watched ------------------------------------------------

def test_help_names_the_watch_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--interval", "--debounce", "--target", "--name", "--environment", "--secret"):
        assert option in out
    assert "--max-pushes" not in out  # a test seam, hidden


def test_a_missing_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "does/not/exist.py"]) == 2
    assert "does/not/exist.py does not exist" in capsys.readouterr().err


def test_a_bad_interval_exits_2_before_anything_is_pushed(
    tmp_path: pathlib.Path, state_root: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["watch", str(write_chain(tmp_path, "watch_cli_interval")), "--interval", "0"]) == 2
    assert "more than 0 seconds, got 0.0" in capsys.readouterr().err
    assert not (state_root / "chains").exists()


def test_an_unknown_target_exits_2(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", str(write_chain(tmp_path, "watch_cli_target")), "--target", "nowhere"]) == 2
    assert "Unknown target 'nowhere'" in capsys.readouterr().err


def test_a_broken_file_at_start_exits_2_and_watches_nothing(
    tmp_path: pathlib.Path, state_root: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = write_chain(tmp_path, "watch_cli_broken", CHAIN.replace("text.upper()", "text.upper("))
    assert main(["watch", str(chain)]) == 2
    err = capsys.readouterr().err
    assert "SyntaxError" in err and "Nothing is watched" in err
    assert not (state_root / "chains").exists()


# -- the edit loop, as a user runs it ---------------------------------------------------------------

class Output:
    """The lines a process writes, read in a thread, so a test can wait (bounded) for one."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        self._stream = process.stdout
        self._reader = threading.Thread(target=self._read, args=(self._stream,), daemon=True)
        self._reader.start()

    def close(self) -> None:
        """Once the process has ended: the reader is at the end of the pipe."""
        self._reader.join(timeout=10)
        self._stream.close()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout_sec: float = 90.0) -> str:
        """The next line matching ``pattern``; fails with everything read so far otherwise."""
        deadline = time.monotonic() + timeout_sec
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; the output was:\n" + "\n".join(self.lines))


def answer(service: ChainService) -> object:
    return service.run_remote({"text": "hi"})


def answer_after_repush(service: ChainService, expected: object, within_sec: float = 15.0) -> object:
    """The chain's answer once it is ``expected`` (or ``within_sec`` has passed).

    A replaced chainlet drains: a caller's idle keep-alive connection to it is closed only after
    it answers once more (with ``Connection: close``) or stays idle for `DRAIN_IDLE_SEC`
    (`infra_chains.serving.drain`, issue 13's trade-off against resets). So for about a second
    after a re-push, a chainlet's callers may still get the old version's answer.
    """
    deadline = time.monotonic() + within_sec
    while (result := answer(service)) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return result


@pytest.mark.servers
def test_watch_restarts_the_edited_chainlet_and_outlives_a_bad_edit(
    tmp_path: pathlib.Path, state_root: pathlib.Path, local_target: LocalTarget
) -> None:
    chain = write_chain(tmp_path, "watch_cli_loop")
    env = {**os.environ, "COLUMNS": "250", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "infra_chains.cli.app", "watch", str(chain), "--name", "watched",
         "--interval", "0.1", "--debounce", "0.2", "--timeout", "30", "--max-pushes", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    output = Output(process)
    try:
        output.wait_for(r"restarted: Leaf, Entry; unchanged: none")
        output.wait_for(r"^Watching 1 files under ")
        service = local_target.service("watched")
        assert answer(service) == "HI v1"

        chain.write_text(textwrap.dedent(CHAIN).replace("text.upper()", "text.title()"))
        output.wait_for(r"Changed: watch_cli_loop\.py \(modified\)")
        output.wait_for(r"Chain watched ready in [\d.]+s — restarted: Leaf; unchanged: Entry$")
        assert answer_after_repush(service, "Hi v1") == "Hi v1"

        chain.write_text(textwrap.dedent(CHAIN).replace("text.upper()", "text.title("))
        line = output.wait_for(r"Not deployed:")
        assert "SyntaxError" in line
        output.wait_for(r"Chain watched keeps serving its last good version; waiting for the next save")
        assert process.poll() is None  # still watching
        assert answer(service) == "Hi v1"

        chain.write_text(textwrap.dedent(CHAIN).replace("text.upper()", "text.lower()"))
        output.wait_for(r"restarted: Leaf; unchanged: Entry$")
        assert answer_after_repush(service, "hi v1") == "hi v1"

        process.send_signal(signal.SIGINT)  # Ctrl-C
        output.wait_for(r"Stopped watching\. Chain watched keeps running; `infra-chains down watched` stops it\.")
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        output.close()
    assert local_target.status("watched").ready  # watch never takes the chain down
