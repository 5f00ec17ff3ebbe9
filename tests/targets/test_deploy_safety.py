"""A push never harms what runs: failed deploys roll back, a dead supervisor is replaced, what runs
is what was pushed, and no environment or half state escapes. Real processes on 127.0.0.1."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import textwrap
import threading
import time
from collections.abc import Callable

import pytest

import infra_chains as chains
from infra_chains.deploy import plan_chain
from infra_chains.errors import ChainsUsageError, DeploymentError
from infra_chains.framework.loading import load_entrypoint
from infra_chains.serving.contract import RuntimeContract
from infra_chains.targets.local import LocalTarget
from infra_chains.targets.local.state import ChainDir, pid_alive

pytestmark = pytest.mark.servers

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"

CHAIN = '''
import infra_chains as chains


class Leaf(chains.ChainletBase):
    remote_config = chains.RemoteConfig(assets=chains.Assets(secret_keys=["tag_secret"]))

    def __init__(self, context: chains.DeploymentContext = chains.depends_context()) -> None:
        self._tag = context.secrets["tag_secret"][:3]

    async def run_remote(self, text: str) -> str:
        return f"{text.upper()}[{self._tag}]"


class Mid(chains.ChainletBase):
    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self._leaf = leaf

    async def run_remote(self, text: str) -> str:
        return await self._leaf.run_remote(text=text) + "!"


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    def __init__(self, mid: Mid = chains.depends(Mid)) -> None:
        self._mid = mid

    async def run_remote(self, text: str) -> str:
        return await self._mid.run_remote(text=text) + " v1"
'''
SECRETS = {"tag_secret": "abcdef"}


def write(tmp_path: pathlib.Path, name: str, source: str = CHAIN) -> pathlib.Path:
    directory = tmp_path / "src"
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def pids(target: LocalTarget, chain: str) -> dict[str, int | None]:
    return {c.name: c.pid for c in target.service(chain).state().chainlets}


def statuses(target: LocalTarget, chain: str) -> dict[str, str]:
    return {c.name: c.status for c in target.service(chain).get_info()}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def supervisors_of(chain_dir: ChainDir) -> list[int]:
    """Every live supervisor process of ``chain_dir`` (read from /proc, not from its state)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"infra_chains.targets.local.supervisor" in argv and str(chain_dir.path).encode() in argv:
            if pid_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def environ_of(pid: int) -> dict[str, str]:
    raw = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().partition("=")[::2] for item in raw.split(b"\0") if item)


# -- item 2: any chain file deploys; a failed deploy never harms the running chain --------------

def test_a_chain_file_named_my_chain_py_deploys(tmp_path: pathlib.Path, local_target: LocalTarget) -> None:
    path = tmp_path / "my-chain.py"
    shutil.copy(EXAMPLES / "hello.py", path)
    service = chains.push(load_entrypoint(path), chain_name="my-chain", remote=local_target)
    assert service is not None
    assert service.run_remote({"names": ["Ada"]}) == ["Hello, Ada!"]


def test_a_failing_repush_rolls_back_and_the_chain_keeps_serving(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    path = write(tmp_path, "rollback_chain")
    service = chains.push(load_entrypoint(path), chain_name="rollback", secrets=SECRETS, remote=local_target)
    assert service is not None
    url, before = service.run_remote_url, pids(local_target, "rollback")

    path.write_text(path.read_text().replace(
        "self._mid = mid", 'self._mid = mid; raise RuntimeError("broken config v2")'
    ))
    with pytest.raises(DeploymentError) as info:
        chains.push(load_entrypoint(path), chain_name="rollback", secrets=SECRETS, remote=local_target,
                    ready_timeout_sec=20)
    message = str(info.value)
    assert "Chainlet 'Entry'" in message and "broken config v2" in message
    assert "rolled back" in message.lower()

    service = local_target.service("rollback")
    assert service.run_remote_url == url
    assert service.run_remote({"text": "hi"}) == "HI[abc]! v1"
    assert pids(local_target, "rollback") == before  # the old Entry never stopped serving
    assert set(statuses(local_target, "rollback").values()) == {"ready"}
    desired = local_target.service("rollback").chain_dir.read_desired()
    assert desired is not None and {c.content_hash for c in desired.chainlets} == {
        c.content_hash for c in local_target.service("rollback").state().chainlets
    }


def test_a_repush_that_misses_its_readiness_deadline_rolls_back(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    path = write(tmp_path, "slow_chain")
    service = chains.push(load_entrypoint(path), chain_name="slow", secrets=SECRETS, remote=local_target)
    assert service is not None
    url = service.run_remote_url
    path.write_text(path.read_text().replace("self._mid = mid", "self._mid = mid; import time; time.sleep(60)"))
    with pytest.raises(DeploymentError) as info:
        chains.push(load_entrypoint(path), chain_name="slow", secrets=SECRETS, remote=local_target,
                    ready_timeout_sec=2)
    assert "not ready within" in str(info.value) and "rolled back" in str(info.value).lower()
    service = local_target.service("slow")
    assert service.run_remote_url == url and service.run_remote({"text": "a"}) == "A[abc]! v1"


def test_a_failing_first_push_leaves_nothing(
    tmp_path: pathlib.Path, local_target: LocalTarget, state_root: pathlib.Path
) -> None:
    source = CHAIN.replace('self._tag = context.secrets["tag_secret"][:3]', 'raise RuntimeError("no weights")')
    with pytest.raises(DeploymentError) as info:
        chains.push(load_entrypoint(write(tmp_path, "first_fail", source)), chain_name="first-fail",
                    secrets=SECRETS, remote=local_target, ready_timeout_sec=20)
    assert "no weights" in str(info.value) and "was stopped" in str(info.value)
    assert local_target.chains() == []
    assert not (state_root / "chains" / "first-fail").exists()


def test_a_push_refused_before_starting_leaves_no_state(tmp_path: pathlib.Path, local_target: LocalTarget) -> None:
    entry = load_entrypoint(write(tmp_path, "refused_chain"))
    plan = plan_chain(entry, "refused")
    with pytest.raises(ChainsUsageError) as info:
        local_target.deploy(plan, {})  # the secret is missing
    assert "tag_secret" in str(info.value) and "Leaf" in str(info.value)
    assert local_target.chains() == []
    with pytest.raises(ChainsUsageError):
        chains.push(entry, chain_name="Not_A_Name", secrets=SECRETS, remote=local_target)
    assert local_target.chains() == []


def test_a_refused_repush_leaves_the_running_chain_as_it_was(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    path = write(tmp_path, "kept_chain")
    chains.push(load_entrypoint(path), chain_name="kept", secrets=SECRETS, remote=local_target)
    before = local_target.service("kept").state()
    path.write_text(path.read_text().replace(" v1", " v2"))
    with pytest.raises(ChainsUsageError):
        local_target.deploy(plan_chain(load_entrypoint(path), "kept"), {})
    after = local_target.service("kept").state()
    assert after.generation == before.generation and pids(local_target, "kept") == {
        c.name: c.pid for c in before.chainlets
    }
    assert local_target.service("kept").run_remote({"text": "x"}) == "X[abc]! v1"


# -- item 5: the supervisor's own death; the lock outlives down ------------------------------------

def test_a_killed_supervisor_is_reported_and_replaced_by_the_next_push(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    path = write(tmp_path, "orphan_chain")
    service = chains.push(load_entrypoint(path), chain_name="orphans", secrets=SECRETS, remote=local_target)
    assert service is not None
    url = service.run_remote_url
    state = local_target.service("orphans").state()
    orphans = [c.pid for c in state.chainlets if c.pid]
    os.kill(state.supervisor_pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(state.supervisor_pid), "the supervisor to die")

    # The chainlets still serve, and status says so instead of "stopped".
    assert service.run_remote({"text": "o"}) == "O[abc]! v1"
    assert set(statuses(local_target, "orphans").values()) == {"unsupervised"}

    # The same code pushed again: a new supervisor runs a new generation, not the stale state.
    service = chains.push(load_entrypoint(path), chain_name="orphans", secrets=SECRETS, remote=local_target)
    assert service is not None
    new_state = local_target.service("orphans").state()
    assert new_state.generation > state.generation
    assert new_state.supervisor_pid != state.supervisor_pid and pid_alive(new_state.supervisor_pid)
    assert supervisors_of(local_target.service("orphans").chain_dir) == [new_state.supervisor_pid]
    for pid in orphans:
        assert not pid_alive(pid), f"orphan chainlet {pid} still runs"
    assert service.run_remote_url == url
    assert service.run_remote({"text": "n"}) == "N[abc]! v1"
    assert set(statuses(local_target, "orphans").values()) == {"ready"}


def test_down_and_two_pushes_racing_leave_one_whole_chain(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    entry = load_entrypoint(write(tmp_path, "race_chain"))
    plan = plan_chain(entry, "race")
    local_target.deploy(plan, SECRETS)
    errors: list[BaseException] = []

    def run(action: Callable[[], object]) -> None:
        try:
            action()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(lambda: local_target.down("race"),)),
        threading.Thread(target=run, args=(lambda: local_target.deploy(plan, SECRETS),)),
        threading.Thread(target=run, args=(lambda: local_target.deploy(plan, SECRETS),)),
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.3)
    for thread in threads:
        thread.join(120)
    assert errors == []
    service = local_target.service("race")
    assert set(statuses(local_target, "race").values()) == {"ready"}
    assert service.run_remote({"text": "r"}) == "R[abc]! v1"
    assert supervisors_of(service.chain_dir) == [service.state().supervisor_pid]


# -- item 6: what runs is what was pushed --------------------------------------------------------

def test_a_restarted_chainlet_runs_the_pushed_code_not_later_edits(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    path = write(tmp_path, "snap_chain")
    (path.parent / ".env").write_text("AWS_SECRET_ACCESS_KEY=never-copied\n")
    (path.parent / ".gitignore").write_text("*.log\n")
    (path.parent / "debug.log").write_text("noise")
    service = chains.push(load_entrypoint(path), chain_name="snap", secrets=SECRETS, remote=local_target)
    assert service is not None

    contract = RuntimeContract.read(pathlib.Path(local_target.service("snap").chain_dir.read_desired()
                                                 .chainlets[-1].contract_file))  # type: ignore[union-attr]
    snapshot = contract.workspace_dir
    assert snapshot != path.parent and (snapshot / "snap_chain.py").is_file()
    assert not (snapshot / ".env").exists() and not (snapshot / "debug.log").exists()

    path.write_text(path.read_text().replace(" v1", " v2003"))  # edited after the push
    victim = pids(local_target, "snap")["Entry"]
    assert victim is not None
    os.kill(victim, signal.SIGKILL)

    def restarted() -> bool:
        entry = local_target.service("snap").state().chainlet("Entry")
        return entry is not None and entry.restarts >= 1 and entry.status == "ready"

    wait_for(restarted, "Entry to restart")
    assert service.run_remote({"text": "s"}) == "S[abc]! v1"


def test_an_ignored_file_added_restarts_nothing_and_old_snapshots_are_collected(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    path = write(tmp_path, "gc_chain")
    (path.parent / ".gitignore").write_text("*.log\n")
    chains.push(load_entrypoint(path), chain_name="gc", secrets=SECRETS, remote=local_target)
    before = local_target.service("gc").state()
    (path.parent / "new.log").write_text("unrelated")
    chains.push(load_entrypoint(path), chain_name="gc", secrets=SECRETS, remote=local_target)
    assert local_target.service("gc").state().generation == before.generation
    assert pids(local_target, "gc") == {c.name: c.pid for c in before.chainlets}

    # Each push of new code takes a snapshot; those no desired state refers to any more go.
    snapshots = local_target.service("gc").chain_dir.path / "snapshots"
    taken: list[set[pathlib.Path]] = [set(snapshots.iterdir())]
    for version in ("v2", "v3", "v4"):
        source = path.read_text()
        path.write_text(source.replace(" v1", f" {version}").replace(" v2", f" {version}")
                        .replace(" v3", f" {version}"))
        chains.push(load_entrypoint(path), chain_name="gc", secrets=SECRETS, remote=local_target)
        taken.append(set(snapshots.iterdir()))
    # The replaced Entry may still answer a moment while it drains (the supervisor's handover).
    wait_for(lambda: local_target.service("gc").run_remote({"text": "g"}) == "G[abc]! v4", "v4 to answer", 10)
    v2_only = taken[1] - taken[0]
    assert len(v2_only) == 1 and not v2_only & taken[3]  # Entry's v2 snapshot was collected
    assert taken[0] <= taken[3]  # Leaf and Mid, unchanged, still run from the first one


# -- item 7: the environment and the secrets each process gets -----------------------------------

def test_the_pushing_shells_environment_does_not_reach_the_chain(
    tmp_path: pathlib.Path, local_target: LocalTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "shell-only-value")
    monkeypatch.setenv("LC_TIME", "C")
    path = write(tmp_path, "env_chain")
    chains.push(load_entrypoint(path), chain_name="env", secrets=SECRETS, remote=local_target)
    state = local_target.service("env").state()
    processes = [state.supervisor_pid, *(c.pid for c in state.chainlets if c.pid)]
    assert len(processes) == 4
    for pid in processes:
        environ = environ_of(pid)
        assert "AWS_SECRET_ACCESS_KEY" not in environ, f"process {pid} inherited the shell's secret"
        assert environ.get("PATH") == os.environ["PATH"] and environ.get("LC_TIME") == "C"

    # Each chainlet's contract names a secrets directory holding its declared secrets only.
    desired = local_target.service("env").chain_dir.read_desired()
    assert desired is not None
    secret_dirs = {
        c.name: RuntimeContract.read(pathlib.Path(c.contract_file)).secrets_dir for c in desired.chainlets
    }
    assert secret_dirs["Mid"] is None and secret_dirs["Entry"] is None
    leaf_dir = secret_dirs["Leaf"]
    assert leaf_dir is not None and sorted(p.name for p in leaf_dir.iterdir()) == ["tag_secret"]


def test_env_and_ignored_files_never_enter_a_build_context(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "context_chain")
    (path.parent / ".env").write_text("AWS_SECRET_ACCESS_KEY=never-copied\n")
    (path.parent / ".gitignore").write_text("notes/\n")
    (path.parent / "notes").mkdir()
    (path.parent / "notes" / "private.md").write_text("x")
    out = tmp_path / "generated"
    chains.push(load_entrypoint(path), chain_name="context", only_generate_trusses=True, generated_dir=out)
    copied = {p.name for p in out.rglob("*") if p.is_file()}
    assert "context_chain.py" in copied
    assert ".env" not in copied and "private.md" not in copied
