"""The local supervisor under faults: no request lost to a graceful stop or a re-push, a SIGKILL
loses at most what was in flight, a hung chainlet is restarted, a failed new version leaves the
old one serving. Loopback only; each load run is bounded in time (about 3 s) and threads (4)."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import pathlib
import signal
import socket
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

import infra_chains as chains
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.local import LocalTarget
from infra_chains.targets.local.state import ChainDir, ChainletState, DesiredState, write_atomic
from infra_chains.targets.local.supervisor import Backoff, main

CHAIN = '''
import infra_chains as chains


class Leaf(chains.ChainletBase):
    async def run_remote(self, text: str) -> str:
        return text.upper()


class Mid(chains.ChainletBase):
    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self._leaf = leaf

    async def run_remote(self, text: str) -> str:
        return (await self._leaf.run_remote(text=text)) + "!"


class BrokenMid(Mid):
    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        raise RuntimeError("broken mid v2")


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    def __init__(self, mid: Mid = chains.depends(Mid)) -> None:
        self._mid = mid

    async def run_remote(self, text: str) -> str:
        return await self._mid.run_remote(text=text) + " v1"
'''

LOAD_THREADS = 4
LOAD_SEC = 3.0


# -- backoff (pure) ----------------------------------------------------------------------------

def test_backoff_doubles_is_capped_and_resets_after_a_healthy_period() -> None:
    backoff = Backoff(base_sec=0.5, max_sec=4.0, stable_after_sec=60.0)
    assert [backoff.after_crash(up_for_sec=1.0) for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert backoff.after_crash(up_for_sec=61.0) == 0.5  # up a healthy minute: quick again
    assert backoff.after_crash(up_for_sec=1.0) == 1.0


@pytest.mark.parametrize("argv", [[], ["dir", "--fork-server", "12"], ["dir", "--fork-server", "x", "3"],
                                  ["dir", "--other", "12", "3"]])
def test_a_bad_command_line_is_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


# -- a running chain under load ----------------------------------------------------------------

@dataclasses.dataclass
class Load:
    """Counts of a bounded load run against the entrypoint."""

    ok: int = 0
    failures: list[str] = dataclasses.field(default_factory=list)


@contextlib.contextmanager
def steady_load(url: str, keep_alive: bool) -> Iterator[Load]:
    """``LOAD_THREADS`` clients posting to ``url`` until the block ends (at least ``LOAD_SEC``)."""
    parts = urlsplit(url)
    load, lock, stop = Load(), threading.Lock(), threading.Event()
    started = time.monotonic()

    def client() -> None:
        connection: http.client.HTTPConnection | None = None
        while not stop.is_set():
            if connection is None:
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            try:
                connection.request("POST", parts.path, body=b'{"text": "hi"}',
                                   headers={"content-type": "application/json"})
                response = connection.getresponse()
                body = response.read()
                outcome = None if response.status == 200 and body == b'"HI! v1"' else \
                    f"HTTP {response.status}: {body[:200]!r}"
            except OSError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
                connection.close()
                connection = None
            if not keep_alive and connection is not None:
                connection.close()
                connection = None
            with lock:
                if outcome is None:
                    load.ok += 1
                else:
                    load.failures.append(outcome)
        if connection is not None:
            connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    try:
        yield load
        time.sleep(max(0.0, LOAD_SEC - (time.monotonic() - started)))
    finally:
        stop.set()
        for thread in threads:
            thread.join(35)


def write_chain(tmp_path: pathlib.Path, source: str = CHAIN) -> pathlib.Path:
    path = tmp_path / "src" / "fault_chain.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def push(target: LocalTarget, path: pathlib.Path, name: str) -> chains.ChainService:
    service = chains.push(load_entrypoint(path), chain_name=name, remote=target, ready_timeout_sec=30)
    assert service is not None
    return service


def chainlet(target: LocalTarget, chain: str, name: str) -> ChainletState:
    state = target.service(chain).state()
    found = state.chainlet(name)
    assert found is not None
    return found


def wait_for(what: str, check: Callable[[], bool], timeout_sec: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_sec
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


@pytest.mark.servers
def test_sigterm_of_the_middle_chainlet_loses_nothing_and_is_no_crash(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    service = push(local_target, write_chain(tmp_path), "term")
    before = chainlet(local_target, "term", "Mid")
    assert before.pid is not None
    with steady_load(service.run_remote_url, keep_alive=True) as load:
        time.sleep(0.5)
        os.kill(before.pid, signal.SIGTERM)
        # While it restarts the supervisor holds the port: nothing else can take it.
        with socket.socket() as impostor, pytest.raises(OSError):
            impostor.bind(("127.0.0.1", before.port))
        wait_for("Mid is back", lambda: chainlet(local_target, "term", "Mid").pid not in (None, before.pid)
                 and chainlet(local_target, "term", "Mid").status == "ready")
    assert load.failures == [] and load.ok > 0
    after = chainlet(local_target, "term", "Mid")
    assert after.restarts == 0 and after.last_exit_code == 0
    assert after.message is not None and "exited cleanly" in after.message


@pytest.mark.servers
@pytest.mark.parametrize("keep_alive", [False, True], ids=["fresh-connections", "keep-alive"])
def test_repush_with_the_middle_chainlet_changed_loses_nothing(
    tmp_path: pathlib.Path, local_target: LocalTarget, keep_alive: bool
) -> None:
    """Mid's body changes: only Mid restarts (Entry needs Mid's interface only), beside, drained."""
    path = write_chain(tmp_path)
    service = push(local_target, path, "repush")
    before = {c: chainlet(local_target, "repush", c).pid for c in ("Leaf", "Mid", "Entry")}
    with steady_load(service.run_remote_url, keep_alive=keep_alive) as load:
        time.sleep(0.3)
        path.write_text(path.read_text().replace('+ "!"', '+ "!"  # v2'))
        push(local_target, path, "repush")
    assert load.failures == [] and load.ok > 0
    after = {c: chainlet(local_target, "repush", c).pid for c in ("Leaf", "Mid", "Entry")}
    assert after["Mid"] != before["Mid"] and after["Leaf"] == before["Leaf"]
    assert after["Entry"] == before["Entry"]


@contextlib.contextmanager
def pooled_load(url: str, clients: int = 2, pool: int = 6, pause_sec: float = 0.05) -> Iterator[Load]:
    """``clients`` threads, each sending over a pool of ``pool`` keep-alive connections in turn.

    A connection then waits several requests' time (≈ ``pool * pause_sec``, a few tenths of a
    second, below `drain.DRAIN_IDLE_SEC`) between its uses, as in any pooled client: a drain that
    closes idle connections resets its next request. No retry: every failure counts.
    """
    parts = urlsplit(url)
    load, lock, stop = Load(), threading.Lock(), threading.Event()
    started = time.monotonic()

    def client() -> None:
        connections = [http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                       for _ in range(pool)]
        turn = 0
        while not stop.is_set():
            connection = connections[turn % pool]
            turn += 1
            try:  # http.client opens a new connection after a `Connection: close` answer
                connection.request("POST", parts.path, body=b'{"text": "hi"}',
                                   headers={"content-type": "application/json"})
                response = connection.getresponse()
                body = response.read()
                outcome = None if response.status == 200 and body == b'"HI! v1"' else \
                    f"HTTP {response.status}: {body[:200]!r}"
            except OSError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
                connection.close()
            with lock:
                if outcome is None:
                    load.ok += 1
                else:
                    load.failures.append(outcome)
            stop.wait(pause_sec)
        for connection in connections:
            connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield load
        time.sleep(max(0.0, LOAD_SEC - (time.monotonic() - started)))
    finally:
        stop.set()
        for thread in threads:
            thread.join(35)


@pytest.mark.servers
def test_sigterm_of_the_entrypoint_resets_no_pooled_keep_alive_client(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    """The clients talk to the draining process itself (no stub retries in between): each
    connection is closed only after an answer saying `Connection: close`."""
    service = push(local_target, write_chain(tmp_path), "drain")
    before = chainlet(local_target, "drain", "Entry")
    assert before.pid is not None
    with pooled_load(service.run_remote_url) as load:
        time.sleep(0.8)
        os.kill(before.pid, signal.SIGTERM)
        wait_for("Entry is back", lambda: chainlet(local_target, "drain", "Entry").pid not in (None, before.pid)
                 and chainlet(local_target, "drain", "Entry").status == "ready")
    assert load.failures == [] and load.ok > 0
    assert chainlet(local_target, "drain", "Entry").last_exit_code == 0


@pytest.mark.servers
def test_a_failing_new_version_leaves_the_old_one_serving(
    tmp_path: pathlib.Path, local_target: LocalTarget, state_root: pathlib.Path
) -> None:
    """Played from push's side: a new desired state whose Mid cannot start, then SIGHUP."""
    service = push(local_target, write_chain(tmp_path), "broken")
    chain_dir = ChainDir("broken", state_root)
    desired = chain_dir.read_desired()
    assert isinstance(desired, DesiredState)
    old = chainlet(local_target, "broken", "Mid")
    mid = next(c for c in desired.chainlets if c.name == "Mid")
    contract = json.loads(pathlib.Path(mid.contract_file).read_text())
    contract["import_path"] = contract["import_path"].replace(":Mid", ":BrokenMid")
    broken_contract = pathlib.Path(mid.contract_file).with_name("Mid-v2.json")
    broken_contract.write_text(json.dumps(contract))
    broken = mid.model_copy(update={"fingerprint": "broken-v2", "contract_file": str(broken_contract)})
    new = desired.model_copy(update={
        "generation": desired.generation + 1,
        "chainlets": [broken if c.name == "Mid" else c for c in desired.chainlets],
    })
    with steady_load(service.run_remote_url, keep_alive=True) as load:
        write_atomic(chain_dir.desired, new.model_dump_json())
        state = chain_dir.read_state()
        assert state is not None
        os.kill(state.supervisor_pid, signal.SIGHUP)
        wait_for("Mid failed", lambda: chainlet(local_target, "broken", "Mid").status == "failed")
    assert load.failures == [] and load.ok > 0
    failed = chainlet(local_target, "broken", "Mid")
    assert failed.message is not None and "before it was ready" in failed.message
    assert "keeps serving" in failed.message
    assert failed.fingerprint == "broken-v2" and failed.serving_fingerprint == old.fingerprint
    assert failed.pid == old.pid and failed.restarts == 0

    # Push's rollback: the previous desired state again. The old process was never stopped.
    write_atomic(chain_dir.desired, desired.model_copy(update={"generation": new.generation + 1})
                 .model_dump_json())
    os.kill(state.supervisor_pid, signal.SIGHUP)
    wait_for("Mid ready again", lambda: chainlet(local_target, "broken", "Mid").status == "ready")
    assert chainlet(local_target, "broken", "Mid").pid == old.pid
    assert service.run_remote({"text": "ok"}) == "OK! v1"


@pytest.mark.servers
def test_sigkill_loses_at_most_the_requests_in_flight(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    service = push(local_target, write_chain(tmp_path), "kill")
    victim = chainlet(local_target, "kill", "Mid").pid
    assert victim is not None
    with steady_load(service.run_remote_url, keep_alive=True) as load:
        time.sleep(0.5)
        os.kill(victim, signal.SIGKILL)
        wait_for("Mid restarted", lambda: chainlet(local_target, "kill", "Mid").status == "ready"
                 and chainlet(local_target, "kill", "Mid").pid != victim)
    assert len(load.failures) <= LOAD_THREADS, load.failures[:5]
    assert not any("ConnectionRefused" in f for f in load.failures)
    assert chainlet(local_target, "kill", "Mid").restarts == 1


@pytest.mark.servers
def test_a_hung_chainlet_is_detected_killed_and_restarted(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    service = push(local_target, write_chain(tmp_path), "hung")
    victim = chainlet(local_target, "hung", "Mid").pid
    assert victim is not None
    os.kill(victim, signal.SIGSTOP)
    try:
        wait_for("the hang is detected", lambda: chainlet(local_target, "hung", "Mid").restarts == 1)
        hung = chainlet(local_target, "hung", "Mid")
        assert hung.message is not None and "hung: missed 3 liveness probes" in hung.message
        wait_for("Mid is back", lambda: chainlet(local_target, "hung", "Mid").status == "ready")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGCONT)
    assert chainlet(local_target, "hung", "Mid").pid != victim
    assert service.run_remote({"text": "back"}) == "BACK! v1"


PATIENT_CHAIN = '''
import time

import infra_chains as chains


class Slow(chains.ChainletBase):
    def run_remote(self, seconds: float) -> str:
        time.sleep(seconds)
        return "slept"


@chains.mark_entrypoint
class Patient(chains.ChainletBase):
    remote_config = chains.RemoteConfig(options=chains.ChainletOptions(health_checks=HEALTH_CHECKS))

    def __init__(self, slow: Slow = chains.depends(Slow)) -> None:
        self._slow = slow

    async def run_remote(self, seconds: float) -> str:
        return self._slow.run_remote(seconds=seconds)  # blocking stub: blocks this event loop
'''


@pytest.mark.servers
@pytest.mark.parametrize("restart_threshold", [None, 30], ids=["default", "30s"])
def test_restart_threshold_lets_an_async_caller_block_on_a_sync_dependency(
    tmp_path: pathlib.Path, state_root: pathlib.Path, local_target: LocalTarget, restart_threshold: int | None
) -> None:
    checks = {} if restart_threshold is None else {"restart_threshold_seconds": restart_threshold,
                                                   "startup_threshold_seconds": 120}
    source = PATIENT_CHAIN.replace("HEALTH_CHECKS", repr(checks))
    service = push(local_target, write_chain(tmp_path, source), "patient")
    before = chainlet(local_target, "patient", "Patient")
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(service.run_remote({"seconds": 5}))
        except Exception as exc:  # the default: the caller is killed mid-call
            outcome.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    caller.join(40)
    assert not caller.is_alive()
    if restart_threshold is None:  # a loop blocked for 5 s misses 3 one-second probes
        wait_for("Patient is restarted", lambda: chainlet(local_target, "patient", "Patient").restarts == 1)
        hung = chainlet(local_target, "patient", "Patient")
        assert hung.message is not None and "hung: missed 3 liveness probes" in hung.message
    else:
        assert outcome == ["slept"]
        after = chainlet(local_target, "patient", "Patient")
        assert after.restarts == 0 and after.pid == before.pid
        log = (state_root / "chains" / "patient" / "logs" / "Patient.log").read_text()
        assert "Patient calls Slow (def run_remote) from async code" in log
        assert "a call longer than 30 s gets it restarted" in log
        # startup_threshold_seconds lengthened push's ready timeout (30 s) for the supervisor.
        desired = json.loads((state_root / "chains" / "patient" / "desired.json").read_text())
        assert desired["ready_timeout_sec"] == 120
