"""The local target end to end: real processes on 127.0.0.1, through the CLI and the API."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import textwrap
import time

import pytest

import infra_chains as chains
from infra_chains.cli.app import main
from infra_chains.errors import DeploymentError
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.local import LocalTarget
from infra_chains.targets.local.state import pid_alive

pytestmark = pytest.mark.servers

CHAIN = '''
import pydantic
import infra_chains as chains


class Shout(pydantic.BaseModel):
    text: str
    tag: str


class Leaf(chains.ChainletBase):
    remote_config = chains.RemoteConfig(assets=chains.Assets(secret_keys=["tag_secret"]))

    def __init__(self, context: chains.DeploymentContext = chains.depends_context()) -> None:
        self._tag = context.secrets["tag_secret"][:3]

    async def run_remote(self, text: str) -> Shout:
        return Shout(text=text.upper(), tag=self._tag)


class Mid(chains.ChainletBase):
    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self._leaf = leaf

    async def run_remote(self, text: str) -> Shout:
        shout = await self._leaf.run_remote(text=text)
        return Shout(text=shout.text + "!", tag=shout.tag)


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    def __init__(self, mid: Mid = chains.depends(Mid)) -> None:
        self._mid = mid

    async def run_remote(self, text: str) -> str:
        shout = await self._mid.run_remote(text=text)
        return f"{shout.text} [{shout.tag}] v1"
'''


def write(tmp_path: pathlib.Path, name: str, source: str = CHAIN) -> pathlib.Path:
    directory = tmp_path / "src"
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def pids(target: LocalTarget, chain: str) -> dict[str, int | None]:
    return {c.name: c.pid for c in target.service(chain).state().chainlets}


def assert_all_gone(pid_list: list[int], ports: list[int]) -> None:
    for pid in pid_list:
        assert not pid_alive(pid), f"process {pid} still runs"
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"


def test_cli_push_run_status_logs_down(
    tmp_path: pathlib.Path, state_root: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "cli_chain")
    assert main(["push", str(path), "--name", "cli", "--secret", "tag_secret=abcdef"]) == 0
    out = capsys.readouterr().out
    assert "Entrypoint: http://127.0.0.1:" in out and "curl -s -X POST" in out

    assert main(["run", "cli", "--data", '{"text": "hi"}']) == 0
    assert json.loads(capsys.readouterr().out) == "HI! [abc] v1"

    assert main(["status", "cli", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in status["chainlets"]] == ["Leaf", "Mid", "Entry"]
    assert {c["status"] for c in status["chainlets"]} == {"ready"}

    assert main(["logs", "cli", "--chainlet", "Leaf"]) == 0
    capsys.readouterr()

    secrets_dir = state_root / "chains" / "cli" / "secrets"
    # One directory per set of values (a failed push never overwrites the running one's).
    [leaf_secrets] = (secrets_dir / "Leaf").iterdir()
    assert (leaf_secrets / "tag_secret").read_text() == "abcdef"
    running = [c["pid"] for c in status["chainlets"]] + [status["supervisor_pid"]]
    ports = [c["port"] for c in status["chainlets"]]
    assert main(["down", "cli"]) == 0
    assert_all_gone(running, ports)
    assert not secrets_dir.exists()
    assert main(["down", "cli"]) == 0  # idempotent


def test_python_api_push_and_chain_service(tmp_path: pathlib.Path, local_target: LocalTarget) -> None:
    entry = load_entrypoint(write(tmp_path, "api_chain"))
    service = chains.push(entry, chain_name="api", secrets={"tag_secret": "xyz123"})
    assert service is not None
    assert service.name == "api"
    assert service.run_remote({"text": "yo"}) == "YO! [xyz] v1"
    info = service.get_info()
    assert [(c.name, c.is_entrypoint, c.status) for c in info] == [
        ("Leaf", False, "ready"), ("Mid", False, "ready"), ("Entry", True, "ready")
    ]
    assert service.run_remote_url.endswith("/run_remote")


def test_killed_chainlet_is_restarted(tmp_path: pathlib.Path, local_target: LocalTarget) -> None:
    entry = load_entrypoint(write(tmp_path, "kill_chain"))
    service = chains.push(entry, chain_name="kill", secrets={"tag_secret": "abc"})
    assert service is not None
    victim = pids(local_target, "kill")["Leaf"]
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        leaf = local_target.service("kill").state().chainlet("Leaf")
        assert leaf is not None
        if leaf.restarts == 1 and leaf.status == "ready":
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"Leaf was not restarted: {leaf}")
    assert leaf.pid != victim
    assert service.run_remote({"text": "back"}) == "BACK! [abc] v1"


def test_repush_restarts_only_the_changed_chainlet(tmp_path: pathlib.Path, local_target: LocalTarget) -> None:
    path = write(tmp_path, "repush_chain")
    service = chains.push(load_entrypoint(path), chain_name="repush", secrets={"tag_secret": "abc"})
    assert service is not None
    url, before = service.run_remote_url, pids(local_target, "repush")
    generation = local_target.service("repush").state().generation

    # No change: nothing starts, nothing is even signalled.
    chains.push(load_entrypoint(path), chain_name="repush", secrets={"tag_secret": "abc"})
    assert pids(local_target, "repush") == before
    assert local_target.service("repush").state().generation == generation

    path.write_text(path.read_text().replace("v1", "v2"))  # edits Entry only
    service = chains.push(load_entrypoint(path), chain_name="repush", secrets={"tag_secret": "abc"})
    assert service is not None
    after = pids(local_target, "repush")
    assert after["Leaf"] == before["Leaf"] and after["Mid"] == before["Mid"]
    assert after["Entry"] != before["Entry"]
    assert service.run_remote_url == url
    assert service.run_remote({"text": "x"}) == "X! [abc] v2"

    # A dependency's body, not its interface: its callers keep running (their stubs still fit).
    path.write_text(path.read_text().replace('shout.text + "!"', 'shout.text + "?"'))  # edits Mid only
    service = chains.push(load_entrypoint(path), chain_name="repush", secrets={"tag_secret": "abc"})
    assert service is not None
    final = pids(local_target, "repush")
    assert final["Mid"] != after["Mid"]
    assert final["Entry"] == after["Entry"] and final["Leaf"] == after["Leaf"]
    # The old Mid drains: it may still answer a few calls (those on Entry's pooled connection,
    # and any in the moment before it sees its SIGTERM), each one right, then only the new one.
    answers = [service.run_remote({"text": "x"})]
    while answers[-1] != "X? [abc] v2" and len(answers) < 100:
        time.sleep(0.01)
        answers.append(service.run_remote({"text": "x"}))
    assert set(answers) <= {"X! [abc] v2", "X? [abc] v2"} and answers[-1] == "X? [abc] v2"


def test_init_crash_reports_log_tail_and_leaves_nothing(
    tmp_path: pathlib.Path, local_target: LocalTarget, state_root: pathlib.Path
) -> None:
    source = CHAIN.replace(
        'self._tag = context.secrets["tag_secret"][:3]',
        'raise RuntimeError("model weights missing")',
    )
    entry = load_entrypoint(write(tmp_path, "crash_chain", source))
    with pytest.raises(DeploymentError) as info:
        chains.push(entry, chain_name="crash", secrets={"tag_secret": "abc"}, ready_timeout_sec=20)
    message = str(info.value)
    assert "Chainlet 'Leaf'" in message and "model weights missing" in message
    assert "was stopped" in message
    assert not (state_root / "chains" / "crash").exists()


def test_readiness_timeout_reports_and_leaves_nothing(
    tmp_path: pathlib.Path, local_target: LocalTarget, state_root: pathlib.Path
) -> None:
    source = CHAIN.replace(
        'self._tag = context.secrets["tag_secret"][:3]',
        'import time; print("loading slowly", flush=True); time.sleep(60)',
    )
    entry = load_entrypoint(write(tmp_path, "slow_chain", source))
    with pytest.raises(DeploymentError) as info:
        chains.push(entry, chain_name="slow", secrets={"tag_secret": "abc"}, ready_timeout_sec=3)
    message = str(info.value)
    assert "not ready within the readiness timeout" in message
    assert "loading slowly" in message
    assert not (state_root / "chains" / "slow").exists()


def test_only_generate_trusses_starts_nothing(
    tmp_path: pathlib.Path, local_target: LocalTarget, state_root: pathlib.Path
) -> None:
    entry = load_entrypoint(write(tmp_path, "gen_chain"))
    result = chains.push(entry, chain_name="gen", only_generate_trusses=True, generated_dir=tmp_path / "gen")
    assert result is None
    assert (tmp_path / "gen" / "gen" / "plan.json").is_file()
    assert (tmp_path / "gen" / "gen" / "Leaf" / "Dockerfile").is_file()
    assert local_target.chains() == []


def test_remote_error_reaches_the_caller_with_every_hop(tmp_path: pathlib.Path, local_target: LocalTarget) -> None:
    source = CHAIN.replace("return Shout(text=text.upper(), tag=self._tag)",
                           'raise ValueError(f"cannot shout {text!r}")')
    entry = load_entrypoint(write(tmp_path, "error_chain", source))
    service = chains.push(entry, chain_name="errors", secrets={"tag_secret": "abc"})
    assert service is not None
    with pytest.raises(ValueError) as info:
        service.run_remote({"text": "quiet"})
    message = str(info.value)
    assert "cannot shout 'quiet'" in message
    assert message.index("`Entry`") < message.index("`Mid`") < message.index("`Leaf`")


def test_array_example_deployed_answers_msgpack_and_json(local_target: LocalTarget) -> None:
    np = pytest.importorskip("numpy")
    import httpx

    from infra_chains.serving import codec

    example = pathlib.Path(__file__).resolve().parents[2] / "examples" / "array_stats.py"
    service = chains.push(load_entrypoint(example), chain_name="arrays")
    assert service is not None
    batch = np.random.default_rng(2).normal(1.0, 3.0, size=(64, 4))
    response = httpx.post(
        service.run_remote_url,
        content=codec.encode({"batch": batch}, binary=True),
        headers={"Content-Type": codec.MSGPACK_CONTENT_TYPE, "Accept": codec.MSGPACK_CONTENT_TYPE},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    stats = codec.decode(response.content, binary=True)
    assert stats["shape"] == [64, 4] and abs(stats["std"] - 1.0) < 1e-4
    assert service.run_remote({"batch": batch.tolist()})["shape"] == [64, 4]  # JSON lists work too
