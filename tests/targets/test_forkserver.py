"""Chainlets forked from the chain's fork server: they serve, the supervisor reaps them and sees
their exit codes, they come back after a SIGKILL, the fork server's own death is survived, and
nothing is left running after ``down`` (or after the supervisor dies and the chain is pushed again).
The fork server is started by push's launcher beside the supervisor, which adopts it; one whose
supervisor never comes up exits. Real processes on loopback."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import sys
import textwrap
import time
from collections.abc import Callable

import pytest

import infra_chains as chains
from infra_chains.framework.loading import load_entrypoint
from infra_chains.serving.forkserver import FORK_SERVER_FLAG
from infra_chains.targets.local import LocalTarget, forkserver, launcher
from infra_chains.targets.local.forkserver import ForkServer, ForkServerError
from infra_chains.targets.local.processes import ADOPT_FORK_SERVER_OPTION
from infra_chains.targets.local.state import ChainletState, pid_alive

CHAIN = '''
import os

import infra_chains as chains


class Leaf(chains.ChainletBase):
    async def run_remote(self, text: str) -> str:
        return text.upper()


class Broken(chains.ChainletBase):
    def __init__(self) -> None:
        raise RuntimeError("broken on purpose")

    def run_remote(self, text: str) -> str:
        return text


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self._leaf = leaf

    async def run_remote(self, text: str) -> str:
        # The environment the supervisor built for this chainlet, not the fork server's.
        contract = "yes" if os.environ.get("INFRA_CHAINS_RUNTIME_JSON") else "no"
        return await self._leaf.run_remote(text=text) + " contract:" + contract
'''

BROKEN_ENTRY = '''
import infra_chains as chains


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    def __init__(self) -> None:
        raise RuntimeError("broken on purpose")

    def run_remote(self, text: str) -> str:
        return text
'''


def push(tmp_path: pathlib.Path, target: LocalTarget, name: str,
         source: str = CHAIN) -> chains.ChainService:
    path = tmp_path / "src" / f"{name}_chain.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(source))
    service = chains.push(load_entrypoint(path), chain_name=name, remote=target, ready_timeout_sec=30)
    assert service is not None
    return service


def chainlet(target: LocalTarget, chain: str, name: str) -> ChainletState:
    found = target.service(chain).state().chainlet(name)
    assert found is not None
    return found


def children(pid: int) -> list[int]:
    try:
        text = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def cmdline(pid: int) -> list[str]:
    return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def fork_server(supervisor: int, chainlet_pids: set[int]) -> int:
    servers = [p for p in children(supervisor) if p not in chainlet_pids
               and FORK_SERVER_FLAG in cmdline(p)]
    assert len(servers) == 1, servers
    return servers[0]


def wait_for(what: str, check: Callable[[], bool], timeout_sec: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_sec
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


@pytest.mark.servers
def test_forked_chainlets_serve_as_children_of_the_supervisor(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    service = push(tmp_path, local_target, "forked")
    assert service.run_remote({"text": "hi"}) == "HI contract:yes"
    state = local_target.service("forked").state()
    pids = {c.name: c.pid for c in state.chainlets}
    for name, pid in pids.items():
        assert pid is not None
        # Forked (the fork server's command line), named after the chainlet, reaped by the
        # supervisor: its child.
        assert FORK_SERVER_FLAG in cmdline(pid)
        assert pathlib.Path(f"/proc/{pid}/comm").read_text().strip() == name
        assert pid in children(state.supervisor_pid)
    fork_server(state.supervisor_pid, {p for p in pids.values() if p})


@pytest.mark.servers
def test_a_sigkilled_forked_chainlet_comes_back_and_its_exit_code_is_seen(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    service = push(tmp_path, local_target, "killed")
    victim = chainlet(local_target, "killed", "Leaf").pid
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    wait_for("Leaf is back", lambda: chainlet(local_target, "killed", "Leaf").status == "ready"
             and chainlet(local_target, "killed", "Leaf").pid != victim)
    leaf = chainlet(local_target, "killed", "Leaf")
    assert leaf.last_exit_code == -signal.SIGKILL
    assert leaf.restarts == 1
    assert not pid_alive(victim)  # reaped, not a zombie
    assert service.run_remote({"text": "again"}) == "AGAIN contract:yes"


@pytest.mark.servers
def test_an_exit_code_of_a_forked_chainlet_reaches_the_push(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    with pytest.raises(chains.DeploymentError, match="exited with code 1"):
        push(tmp_path, local_target, "broken", BROKEN_ENTRY)


@pytest.mark.servers
def test_the_fork_servers_death_is_survived(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    service = push(tmp_path, local_target, "noserver")
    state = local_target.service("noserver").state()
    pids = {c.pid for c in state.chainlets if c.pid}
    dead = fork_server(state.supervisor_pid, pids)
    os.kill(dead, signal.SIGKILL)
    wait_for("a new fork server", lambda: any(
        p != dead and FORK_SERVER_FLAG in cmdline(p) and p not in pids
        for p in children(state.supervisor_pid)))
    assert service.run_remote({"text": "still"}) == "STILL contract:yes"  # serving meanwhile
    victim = chainlet(local_target, "noserver", "Leaf").pid
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    wait_for("Leaf is back", lambda: chainlet(local_target, "noserver", "Leaf").status == "ready"
             and chainlet(local_target, "noserver", "Leaf").pid != victim)
    assert service.run_remote({"text": "back"}) == "BACK contract:yes"


@pytest.mark.servers
def test_down_leaves_no_process_behind(tmp_path: pathlib.Path, local_target: LocalTarget) -> None:
    push(tmp_path, local_target, "gone")
    state = local_target.service("gone").state()
    started = [state.supervisor_pid, *children(state.supervisor_pid)]
    assert len(started) == 1 + 2 + 1  # the supervisor, 2 chainlets, the fork server
    local_target.down("gone")
    wait_for("every process exited", lambda: not any(pid_alive(p) for p in started), 10.0)


@pytest.mark.servers
def test_forked_chainlets_of_a_dead_supervisor_are_replaced_by_the_next_push(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    push(tmp_path, local_target, "orphans")
    state = local_target.service("orphans").state()
    chainlet_pids = {c.pid for c in state.chainlets if c.pid}
    server = fork_server(state.supervisor_pid, chainlet_pids)
    os.kill(state.supervisor_pid, signal.SIGKILL)
    # The fork server goes with its supervisor; the chainlets keep serving, unsupervised.
    wait_for("the fork server exited", lambda: not pid_alive(server), 10.0)
    assert all(pid_alive(p) for p in chainlet_pids)
    service = push(tmp_path, local_target, "orphans")
    assert not any(pid_alive(p) for p in chainlet_pids)
    assert service.run_remote({"text": "new"}) == "NEW contract:yes"


SPAWNER = '''
import subprocess

import infra_chains as chains


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    def __init__(self) -> None:
        # A grandchild left behind: its parent (sh) exits at once, so it is re-parented.
        out = subprocess.run(["sh", "-c", "sleep 1 >/dev/null 2>&1 & echo $!"],
                             capture_output=True, text=True, check=True)
        self._orphan = int(out.stdout)

    def run_remote(self) -> int:
        return self._orphan
'''


@pytest.mark.servers
def test_a_chainlets_orphaned_child_is_reaped_by_the_supervisor(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    service = push(tmp_path, local_target, "spawner", SPAWNER)
    orphan = service.run_remote({})
    assert isinstance(orphan, int)
    supervisor = local_target.service("spawner").state().supervisor_pid
    if pathlib.Path(f"/proc/{orphan}").exists():
        assert orphan in children(supervisor)  # a subreaper: the orphan came to it
    # Once it exits it is reaped (not left a zombie of the supervisor).
    wait_for("the orphan is reaped", lambda: not pathlib.Path(f"/proc/{orphan}").exists(), 10.0)


@pytest.mark.servers
def test_a_hung_fork_server_is_replaced_and_the_chainlet_starts_as_a_new_interpreter(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    service = push(tmp_path, local_target, "hungserver")
    state = local_target.service("hungserver").state()
    pids = {c.pid for c in state.chainlets if c.pid}
    hung = fork_server(state.supervisor_pid, pids)
    os.kill(hung, signal.SIGSTOP)  # it will not answer (nor die on its own)
    victim = chainlet(local_target, "hungserver", "Leaf").pid
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    wait_for("Leaf is back", lambda: chainlet(local_target, "hungserver", "Leaf").status == "ready"
             and chainlet(local_target, "hungserver", "Leaf").pid != victim, 60.0)
    back = chainlet(local_target, "hungserver", "Leaf").pid
    assert back is not None and FORK_SERVER_FLAG not in cmdline(back)  # spawned instead
    assert not pid_alive(hung)
    assert service.run_remote({"text": "spawned"}) == "SPAWNED contract:yes"


@pytest.mark.servers
def test_the_fork_server_can_be_turned_off(
    tmp_path: pathlib.Path, local_target: LocalTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFRA_CHAINS_FORK_SERVER", "0")
    service = push(tmp_path, local_target, "spawned")
    assert service.run_remote({"text": "hi"}) == "HI contract:yes"
    state = local_target.service("spawned").state()
    for c in state.chainlets:
        assert c.pid is not None and FORK_SERVER_FLAG not in cmdline(c.pid)
    assert sorted(children(state.supervisor_pid)) == sorted(c.pid for c in state.chainlets if c.pid)


@pytest.mark.servers
def test_the_fork_server_started_beside_the_supervisor_is_adopted(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    service = push(tmp_path, local_target, "adopted")
    state = local_target.service("adopted").state()
    pids = {c.pid for c in state.chainlets if c.pid}
    server = fork_server(state.supervisor_pid, pids)
    # The launcher started it and named it on the supervisor's command line; the supervisor
    # forked the chainlets from that one (it did not start another).
    argv = cmdline(state.supervisor_pid)
    assert argv[argv.index(ADOPT_FORK_SERVER_OPTION) + 1] == str(server)
    log = service.chain_dir.supervisor_log.read_text()
    assert f"fork server adopted (pid {server})" in log
    assert "fork server started" not in log
    # Once idle it loads what only some chainlets use, for those forked later to share.
    wait_for("aiohttp preloaded", lambda: "aiohttp" in pathlib.Path(f"/proc/{server}/maps").read_text(), 15.0)
    assert service.run_remote({"text": "hi"}) == "HI contract:yes"


FAKE_SUPERVISOR = '''
import pathlib, socket, sys
# argv: <pid file> <wait: 1|0> --fork-server <pid> <fd> (as the launcher appends them)
control = socket.socket(fileno=int(sys.argv[5]))
if sys.argv[2] == "1":
    control.recv(100)  # the fork server is ready
pathlib.Path(sys.argv[1]).write_text(sys.argv[4])
'''


@pytest.mark.servers
@pytest.mark.parametrize("after_ready", [False, True], ids=["while-importing", "once-ready"])
def test_a_fork_server_whose_supervisor_dies_exits_too(tmp_path: pathlib.Path, after_ready: bool) -> None:
    chain_dir = tmp_path / "chains" / "nosupervisor"
    chain_dir.mkdir(parents=True)
    pid_file, log = tmp_path / "fork-server.pid", tmp_path / "launch.log"
    python = sys.executable
    code = launcher.launch(
        python, [python, "-c", FAKE_SUPERVISOR, str(pid_file), "1" if after_ready else "0"],
        forkserver.command(python, str(chain_dir)), log=log, cwd=chain_dir,
        env=dict(os.environ), timeout_sec=15.0,
    )
    assert code == 0
    wait_for("the fake supervisor ran", lambda: pid_file.exists() and pid_file.read_text() != "", 15.0)
    server = int(pid_file.read_text())
    wait_for("the orphaned fork server exited", lambda: not pid_alive(server), 15.0)
    assert not [p for p in processes_of(chain_dir) if pid_alive(p)]
    assert "Traceback" not in log.read_text()  # a quiet exit, not a crash


def processes_of(chain_dir: pathlib.Path) -> list[int]:
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(chain_dir).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_adopting_a_process_that_is_not_a_child_is_refused() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fd = ours.detach()
    with pytest.raises(ForkServerError, match="not a fork server this process started"):
        ForkServer.adopt(sys.executable, os.getppid(), fd)
    with pytest.raises(OSError):
        os.fstat(fd)  # closed: the other end sees a hang-up
    assert theirs.recv(10) == b""
    theirs.close()
