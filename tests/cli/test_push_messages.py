"""`push --verbose` prints each new progress message (a docker build's log) once."""

from infra_chains.cli.push import MessageLog
from infra_chains.targets.base import ChainletProgress


def _progress(**messages: str | None) -> list[ChainletProgress]:
    return [ChainletProgress(name=name, status="building", message=message)
            for name, message in messages.items()]


def test_each_new_message_is_printed_once_with_its_chainlet() -> None:
    log = MessageLog()
    assert log.new_lines(_progress(A="Step 1/9 : FROM python:3.11-slim", B=None)) == [
        "A | Step 1/9 : FROM python:3.11-slim"
    ]
    assert log.new_lines(_progress(A="Step 1/9 : FROM python:3.11-slim", B=None)) == []
    assert log.new_lines(_progress(A="Step 2/9 : RUN pip install", B="Step 1/9 : FROM x")) == [
        "A | Step 2/9 : RUN pip install", "B | Step 1/9 : FROM x",
    ]
    assert log.new_lines(_progress(A=None, B="Step 1/9 : FROM x")) == []
