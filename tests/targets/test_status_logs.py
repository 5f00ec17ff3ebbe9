"""The target interface beyond deploy: status, logs, down and run, through the API and the CLI;
every name validated before it reaches a path; `environment` from push to the chainlet."""

from __future__ import annotations

import json
import pathlib
import textwrap
import time
from collections.abc import Iterator

import pytest

from infra_chains.cli.app import main
from infra_chains.errors import ChainsUsageError, ConfigError
from infra_chains.targets.base import CHAINLET_STATUSES, ChainStatus, LogLine
from infra_chains.targets.local import LocalTarget
from infra_chains.targets.local.logs import follow_logs

BAD_NAMES = ["", "../../victim", "..", "a/b", "Hello", "x-"]


# -- names: nothing outside a chain's own directory is ever touched ----------------------------
def test_down_with_a_path_leaves_the_victim_alone(
    tmp_path: pathlib.Path, state_root: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # <root>/chains/../../victim is <tmp>/victim: the directory `down` used to delete.
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    (state_root / "chains").mkdir(parents=True)
    assert main(["down", "../../victim"]) == 2
    assert "Chain name '../../victim' is invalid" in capsys.readouterr().err
    assert (victim / "precious.txt").read_text() == "keep me"
    with pytest.raises(ChainsUsageError):
        LocalTarget(state_root).down("../../victim")
    assert victim.is_dir()


def test_down_with_an_empty_name_keeps_every_chain(
    state_root: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain_dir = state_root / "chains" / "hello"
    chain_dir.mkdir(parents=True)
    (chain_dir / "plan.json").write_text("{}")
    assert main(["down", ""]) == 2
    assert "Chain name '' is invalid" in capsys.readouterr().err
    assert (chain_dir / "plan.json").exists()
    with pytest.raises(ChainsUsageError):
        LocalTarget(state_root).down("")
    assert (chain_dir / "plan.json").exists()


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("command", [["status"], ["logs"], ["run"], ["down"]])
def test_every_command_rejects_bad_chain_names(
    command: list[str], name: str, state_root: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, name]) == 2
    assert "is invalid" in capsys.readouterr().err


@pytest.mark.parametrize("name", BAD_NAMES)
def test_every_api_rejects_bad_chain_names(name: str, local_target: LocalTarget) -> None:
    for call in (local_target.status, local_target.service, local_target.down, local_target.log_files):
        with pytest.raises(ChainsUsageError, match="is invalid"):
            call(name)
    with pytest.raises(ChainsUsageError, match="is invalid"):
        local_target.logs(name)  # checked when called, before iterating


def test_a_corrupt_state_file_says_take_it_down_and_down_works(
    state_root: pathlib.Path, local_target: LocalTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    chain_dir = state_root / "chains" / "broken"
    chain_dir.mkdir(parents=True)
    (chain_dir / "state.json").write_text("{not json")
    with pytest.raises(ConfigError, match="corrupt") as info:
        local_target.status("broken")
    assert "take the chain down" in str(info.value) and "infra-chains" not in str(info.value)
    assert main(["down", "broken"]) == 0  # the way out the message names
    assert "stopped and removed" in capsys.readouterr().err
    assert not chain_dir.exists()


# -- log reading -------------------------------------------------------------------------------
def _until(seconds: float) -> Iterator[None]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        yield


def test_tail_then_follow_complete_lines(tmp_path: pathlib.Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("a1\na2\na3\n")
    checks = iter(range(50))
    stream = follow_logs({"A": a, "B": b}, 2, True, still_deployed=lambda: next(checks, 99) < 50,
                         poll_sec=0.001)
    assert [next(stream), next(stream)] == [LogLine(chainlet="A", text="a2"), LogLine(chainlet="A", text="a3")]
    with open(b, "a") as handle:
        handle.write("half")  # a line written in two pieces is yielded once, whole
    with open(b, "a") as handle:
        handle.write(" and half\n")
    assert next(stream) == LogLine(chainlet="B", text="half and half")
    assert list(stream) == []  # following ends when the chain is gone


def test_zero_lines_yields_nothing(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.log"
    path.write_text("x\ny\n")
    assert list(follow_logs({"A": path}, 0, False)) == []
    assert [line.text for line in follow_logs({"A": path}, 5, False)] == ["x", "y"]
    assert list(follow_logs({"A": tmp_path / "missing.log"}, 5, False)) == []


def test_tail_of_a_large_log_reads_only_its_end(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "big.log"
    path.write_text("".join(f"line {i}\n" for i in range(100_000)))
    assert [line.text for line in follow_logs({"A": path}, 3, False)] == [
        "line 99997", "line 99998", "line 99999"
    ]


def unwrapped_err(capsys: pytest.CaptureFixture[str]) -> str:
    """stderr with the console's line wrapping undone."""
    return capsys.readouterr().err.replace("\n", "")


# -- a real chain --------------------------------------------------------------------------------
CHAIN = '''
import infra_chains as chains


class Echo(chains.ChainletBase):
    def run_remote(self, text: str) -> str:
        print(f"echo saw {text}", flush=True)
        if text == "boom":
            raise ValueError("remote boom in Echo")
        return text


@chains.mark_entrypoint
class Front(chains.ChainletBase):
    def __init__(
        self,
        echo: Echo = chains.depends(Echo),
        context: chains.DeploymentContext = chains.depends_context(),
    ) -> None:
        self._echo = echo
        self._environment = context.environment.name if context.environment else "none"

    def run_remote(self, text: str) -> str:
        return f"{self._echo.run_remote(text=text)} in {self._environment}"
'''


@pytest.fixture
def chain_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "src" / "status_logs_chain.py"
    path.parent.mkdir()
    path.write_text(textwrap.dedent(CHAIN))
    return path


@pytest.mark.servers
def test_environment_status_logs_and_run_through_the_cli(
    chain_file: pathlib.Path, local_target: LocalTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["push", str(chain_file), "--name", "envy", "--environment", "staging"]) == 0
    capsys.readouterr()

    # environment: push -> plan -> contract -> context.environment.name
    assert main(["run", "envy", "--data", '{"text": "hi"}']) == 0
    assert json.loads(capsys.readouterr().out) == "hi in staging"

    # status --json: the documented shape
    assert main(["status", "envy", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert set(status) == {"name", "target", "environment", "entrypoint", "entrypoint_url",
                           "supervisor_pid", "chainlets"}
    assert (status["name"], status["target"], status["environment"]) == ("envy", "local", "staging")
    assert status["entrypoint"] == "Front" and status["entrypoint_url"].endswith("/run_remote")
    assert [c["name"] for c in status["chainlets"]] == ["Echo", "Front"]
    for chainlet in status["chainlets"]:
        assert set(chainlet) == {"name", "status", "is_entrypoint", "url", "restarts",
                                 "content_hash", "message", "pid", "port"}
        assert chainlet["status"] == "ready" and chainlet["status"] in CHAINLET_STATUSES
    assert main(["status", "--json"]) == 0
    assert [c["name"] for c in json.loads(capsys.readouterr().out)] == ["envy"]
    api_status = local_target.status("envy")
    assert isinstance(api_status, ChainStatus) and api_status.ready

    # logs: -n 0 prints nothing; -n 1 of one chainlet prints its last line, unprefixed
    assert main(["logs", "envy", "-n", "0"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["logs", "envy", "--chainlet", "Echo", "-n", "100"]) == 0
    assert "echo saw hi" in capsys.readouterr().out
    assert main(["logs", "envy", "--chainlet", "Nope"]) == 2
    assert "has no chainlet 'Nope'; choose one of: Echo, Front, supervisor" in unwrapped_err(capsys)
    assert main(["logs", "envy", "--chainlet", "../x"]) == 2
    assert "Chainlet name '../x' is invalid" in unwrapped_err(capsys)

    # run: a remote error is printed (not the CLI's traceback) and exits 1
    assert main(["run", "envy", "--data", '{"text": "boom"}']) == 1
    err = unwrapped_err(capsys)
    assert "remote boom in Echo" in err and "ValueError" in err
    assert "infra_chains/cli" not in err


@pytest.mark.servers
def test_follow_yields_new_lines(chain_file: pathlib.Path, local_target: LocalTarget) -> None:
    from infra_chains import deploy
    from infra_chains.framework.loading import load_entrypoint

    service = deploy.push(load_entrypoint(chain_file), "follow", remote=local_target)
    assert service is not None
    stream = local_target.logs("follow", "Echo", follow=True, lines=0)
    assert service.run_remote({"text": "later"}) == "later in none"
    log = local_target.log_files("follow")["Echo"]
    for _ in _until(10):
        if "echo saw later" in log.read_text():
            break
        time.sleep(0.05)
    seen = [next(stream).text for _ in range(1)]
    while "echo saw later" not in seen[-1] and len(seen) < 20:
        seen.append(next(stream).text)
    assert "echo saw later" in seen[-1]
    assert local_target.down("follow")
    assert list(stream) == []  # the stream ends once the chain is gone


def test_following_starts_when_called_not_when_iterated(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.log"
    path.write_text("old\n")
    checks = iter(range(20))
    stream = follow_logs({"A": path}, 0, True, still_deployed=lambda: next(checks, 99) < 20,
                         poll_sec=0.001)
    with open(path, "a") as handle:
        handle.write("new\n")
    assert [line.text for line in stream] == ["new"]
