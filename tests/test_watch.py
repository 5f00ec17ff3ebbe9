"""`infra_chains.watch`: the watcher on real files under a fake clock, the pusher against a fake
target (and, marked servers, the local target)."""

from __future__ import annotations

import functools
import os
import pathlib
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping

import pytest

from infra_chains.chain_service import ChainService
from infra_chains.errors import ChainsUsageError, DeploymentError
from infra_chains.plan import ChainPlan
from infra_chains.public_types import DeployedChainlet
from infra_chains.targets.base import ChainletProgress, ChainStatus, LogLine, ProgressCallback, Target
from infra_chains.targets.local import LocalTarget
from infra_chains.watch import ChainPusher, FileChange, PushOutcome, Watcher


class FakeTime:
    """A clock that moves only when the watcher sleeps; ``at(t, action)`` runs an edit once the
    clock reaches ``t``, as a user saving files while the watcher waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self._scheduled: list[tuple[float, Callable[[], object]]] = []

    def clock(self) -> float:
        return self.now

    def at(self, when: float, action: Callable[[], object]) -> None:
        self._scheduled.append((when, action))
        self._scheduled.sort(key=lambda item: item[0])

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        while self._scheduled and self._scheduled[0][0] <= self.now:
            self._scheduled.pop(0)[1]()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def watcher_for(root: pathlib.Path, fake_time: FakeTime, max_settle_sec: float = 5.0) -> Watcher:
    return Watcher([root], interval_sec=0.5, debounce_sec=0.3, max_settle_sec=max_settle_sec,
                   clock=fake_time.clock, sleep=fake_time.sleep)


def changes_of(batch: list[FileChange] | None, root: pathlib.Path) -> set[tuple[str, str]]:
    assert batch is not None
    return {(pathlib.Path(c.path).relative_to(root.resolve()).as_posix(), c.kind) for c in batch}


# -- Watcher --------------------------------------------------------------------------------------

def test_poll_reports_added_modified_and_removed_files(tmp_path: pathlib.Path, fake_time: FakeTime) -> None:
    (tmp_path / "chain.py").write_text("v = 1\n")
    (tmp_path / "old.py").write_text("")
    watcher = watcher_for(tmp_path, fake_time)
    assert watcher.poll() == []
    (tmp_path / "chain.py").write_text("value = 2\n")
    (tmp_path / "old.py").unlink()
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "new.py").write_text("x = 1\n")
    assert changes_of(watcher.poll(), tmp_path) == {
        ("chain.py", "modified"), ("old.py", "removed"), ("pkg/new.py", "added"),
    }
    assert watcher.poll() == []


def test_files_a_push_would_not_copy_never_count(tmp_path: pathlib.Path, fake_time: FakeTime) -> None:
    (tmp_path / ".gitignore").write_text("*.log\nscratch/\n")
    (tmp_path / "chain.py").write_text("")
    watcher = watcher_for(tmp_path, fake_time)
    for relative in ("run.log", "scratch/notes.py", ".venv/lib/site.py", "__pycache__/chain.pyc",
                     ".env", ".chains_generated/plan.json", "node_modules/x.js"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("ignored")
    assert watcher.poll() == []
    assert watcher.file_count == 2  # chain.py and .gitignore


def test_a_state_directory_inside_the_workspace_never_counts(tmp_path: pathlib.Path, fake_time: FakeTime) -> None:
    (tmp_path / "chain.py").write_text("")
    state = tmp_path / "state"
    watcher = Watcher([tmp_path], exclude=[state], clock=fake_time.clock, sleep=fake_time.sleep)
    (state / "chains" / "mine" / "snapshots").mkdir(parents=True)
    (state / "chains" / "mine" / "snapshots" / "chain.py").write_text("written by a push")
    assert watcher.poll() == []
    (tmp_path / "chain.py").write_text("edited")
    assert changes_of(watcher.poll(), tmp_path) == {("chain.py", "modified")}


def test_an_atomic_save_of_the_same_size_is_a_modification(tmp_path: pathlib.Path, fake_time: FakeTime) -> None:
    chain = tmp_path / "chain.py"
    chain.write_text("v = 1\n")
    watcher = watcher_for(tmp_path, fake_time)
    temporary = tmp_path / ".chain.py.swx"
    temporary.write_text("v = 2\n")
    stat = chain.stat()
    os.utime(temporary, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even the same mtime
    os.replace(temporary, chain)
    assert changes_of(watcher.poll(), tmp_path) == {("chain.py", "modified")}


def test_a_burst_of_saves_is_one_batch_once_the_files_are_quiet(tmp_path: pathlib.Path, fake_time: FakeTime) -> None:
    chain = tmp_path / "chain.py"
    chain.write_text("v = 1\n")
    watcher = watcher_for(tmp_path, fake_time)
    fake_time.at(1.0, lambda: chain.write_text("v = 22\n"))
    fake_time.at(1.2, lambda: (tmp_path / "tmp.py").write_text("x"))
    fake_time.at(1.4, lambda: (tmp_path / "tmp.py").unlink())  # came and went: not in the batch
    fake_time.at(1.6, lambda: chain.write_text("v = 333\n"))
    batch = watcher.wait()
    assert changes_of(batch, tmp_path) == {("chain.py", "modified")}
    assert fake_time.now >= 1.6 + 0.3  # pushed only after 0.3 s without a save
    assert watcher.wait(timeout_sec=10) is None  # nothing more


def test_a_burst_that_nets_to_nothing_is_no_batch(tmp_path: pathlib.Path, fake_time: FakeTime) -> None:
    (tmp_path / "chain.py").write_text("")
    watcher = watcher_for(tmp_path, fake_time)
    fake_time.at(1.0, lambda: (tmp_path / "chain.py.tmp").write_text("x"))
    fake_time.at(1.1, lambda: (tmp_path / "chain.py.tmp").unlink())
    assert watcher.wait(timeout_sec=5.0) is None


def test_files_that_never_settle_are_pushed_after_the_longest_wait(tmp_path: pathlib.Path, fake_time: FakeTime) -> None:
    log = tmp_path / "chain.py"
    log.write_text("")
    watcher = watcher_for(tmp_path, fake_time, max_settle_sec=2.0)
    for step in range(1, 100):
        fake_time.at(step * 0.1, functools.partial(log.write_text, "x" * step))
    batch = watcher.wait()
    assert changes_of(batch, tmp_path) == {("chain.py", "modified")}
    assert fake_time.now < 3.0


def test_changes_stops_after_max_batches_or_the_timeout(tmp_path: pathlib.Path, fake_time: FakeTime) -> None:
    chain = tmp_path / "chain.py"
    chain.write_text("")
    watcher = watcher_for(tmp_path, fake_time)
    for step in range(1, 10):
        fake_time.at(step * 2.0, functools.partial(chain.write_text, "x" * step))
    assert len(list(watcher.changes(max_batches=2))) == 2
    assert list(watcher.changes(timeout_sec=1.0)) == []
    assert len(list(watcher.changes(timeout_sec=5.0))) >= 1


def test_an_edit_made_while_the_consumer_pushes_comes_in_the_next_batch(
    tmp_path: pathlib.Path, fake_time: FakeTime
) -> None:
    chain = tmp_path / "chain.py"
    chain.write_text("")
    watcher = watcher_for(tmp_path, fake_time)
    fake_time.at(1.0, lambda: chain.write_text("first"))
    batches: Iterator[list[FileChange]] = watcher.changes(max_batches=2)
    assert changes_of(next(batches), tmp_path) == {("chain.py", "modified")}
    (tmp_path / "helper.py").write_text("saved during the push")
    assert changes_of(next(batches), tmp_path) == {("helper.py", "added")}


def test_a_new_root_joins_without_being_reported_as_changes(tmp_path: pathlib.Path, fake_time: FakeTime) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "table.csv").write_text("a,b\n")
    watcher = watcher_for(tmp_path / "src", fake_time)
    watcher.set_roots([tmp_path / "src", tmp_path / "data"])
    assert watcher.poll() == []
    (tmp_path / "data" / "table.csv").write_text("a,b\n1,2\n")
    assert changes_of(watcher.poll(), tmp_path) == {("data/table.csv", "modified")}


@pytest.mark.parametrize(("interval", "debounce"), [(0.0, 0.3), (0.5, -1.0)])
def test_bad_timings_are_usage_errors(tmp_path: pathlib.Path, interval: float, debounce: float) -> None:
    with pytest.raises(ChainsUsageError, match="seconds"):
        Watcher([tmp_path], interval_sec=interval, debounce_sec=debounce)


# -- ChainPusher against a fake target --------------------------------------------------------------

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


class FakeService(ChainService):
    @property
    def run_remote_url(self) -> str:
        return f"http://fake/{self.name}/run_remote"

    @property
    def status_page_url(self) -> str:
        return f"http://fake/{self.name}"

    def get_info(self) -> list[DeployedChainlet]:
        return []


class FakeTarget(Target):
    """Records each plan it is given; restarts what changed by content hash, as targets do.
    ``fail_with`` makes the next deploy raise; ``report_progress=False`` reports none."""

    name = "fake"

    def __init__(self, report_progress: bool = True) -> None:
        self.plans: list[ChainPlan] = []
        self.fail_with: Exception | None = None
        self.report_progress = report_progress

    def deploy(self, plan: ChainPlan, secrets: Mapping[str, str], *, ready_timeout_sec: float = 60.0,
               on_progress: ProgressCallback | None = None) -> ChainService:
        if self.fail_with is not None:
            raise self.fail_with
        running = {c.name: c.content_hash for c in self.plans[-1].chainlets} if self.plans else {}
        self.plans.append(plan)
        if on_progress is not None and self.report_progress:
            on_progress([ChainletProgress(name=c.name, status="ready",
                                          changed=running.get(c.name) != c.content_hash)
                         for c in plan.chainlets])
        return FakeService(plan.chain_name)

    def service(self, chain_name: str) -> ChainService:
        return FakeService(chain_name)

    def status(self, chain_name: str) -> ChainStatus:
        raise NotImplementedError

    def logs(self, chain_name: str, chainlet: str | None = None, *, follow: bool = False,
             lines: int = 50) -> Iterator[LogLine]:
        raise NotImplementedError

    def down(self, chain_name: str) -> bool:
        return False

    def chains(self) -> list[str]:
        return [plan.chain_name for plan in self.plans[-1:]]


def write_chain(tmp_path: pathlib.Path, name: str, source: str = CHAIN) -> pathlib.Path:
    directory = tmp_path / "src"
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def test_only_the_edited_chainlet_is_restarted(tmp_path: pathlib.Path) -> None:
    target = FakeTarget()
    chain = write_chain(tmp_path, "watch_lib_edit")
    pusher = ChainPusher(chain, target=target)
    first = pusher.push()
    assert first.ok and first.chain_name == "entry" and first.url == "http://fake/entry/run_remote"
    assert (first.restarted, first.unchanged) == (["Leaf", "Entry"], [])

    chain.write_text(CHAIN.replace("text.upper()", "text.lower()"))
    change = FileChange(path=str(chain), kind="modified")
    second = pusher.push([change])
    assert (second.restarted, second.unchanged) == (["Leaf"], ["Entry"])
    assert second.changes == [change]

    again = pusher.push()
    assert (again.restarted, again.unchanged) == ([], ["Leaf", "Entry"])


def test_a_syntax_error_is_an_outcome_and_deploys_nothing(tmp_path: pathlib.Path) -> None:
    target = FakeTarget()
    chain = write_chain(tmp_path, "watch_lib_syntax")
    pusher = ChainPusher(chain, target=target)
    assert pusher.push().ok
    chain.write_text(CHAIN.replace("return text.upper()", "return text.upper("))
    broken = pusher.push()
    assert not broken.ok and broken.failure == "invalid"
    assert broken.chain_name == "entry"
    assert str(chain.resolve()) in (broken.error or "")
    assert "SyntaxError" in (broken.error or "") and "line 7" in (broken.error or "")
    assert len(target.plans) == 1  # the target never saw the broken file

    chain.write_text(CHAIN.replace(" v1", " v2"))
    fixed = pusher.push()
    assert fixed.ok and (fixed.restarted, fixed.unchanged) == (["Entry"], ["Leaf"])


def test_a_definition_problem_is_an_invalid_outcome(tmp_path: pathlib.Path) -> None:
    chain = write_chain(tmp_path, "watch_lib_invalid")
    pusher = ChainPusher(chain, target=FakeTarget())
    assert pusher.push().ok
    chain.write_text(CHAIN.replace("def run_remote(self, text: str) -> str:\n        return text",
                                   "def run_remote(self, text) -> str:\n        return text"))
    outcome = pusher.push()
    assert outcome.failure == "invalid" and outcome.error_type == "ChainsUsageError"
    assert "Leaf.run_remote" in (outcome.error or "")


def test_a_failed_deployment_is_a_deployment_outcome(tmp_path: pathlib.Path) -> None:
    target = FakeTarget()
    pusher = ChainPusher(write_chain(tmp_path, "watch_lib_deploy"), target=target)
    target.fail_with = DeploymentError("Chainlet Leaf exited with code 1. Rolled back.")
    outcome = pusher.push()
    assert (outcome.ok, outcome.failure, outcome.error_type) == (False, "deployment", "DeploymentError")
    assert outcome.error == "Chainlet Leaf exited with code 1. Rolled back."


def test_a_missing_secret_speaks_the_callers_words(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("watch_token", raising=False)
    monkeypatch.delenv("WATCH_TOKEN", raising=False)
    source = CHAIN.replace(
        "class Leaf(chains.ChainletBase):\n",
        "class Leaf(chains.ChainletBase):\n"
        "    remote_config = chains.RemoteConfig(assets=chains.Assets(secret_keys=['watch_token']))\n",
    )
    pusher = ChainPusher(write_chain(tmp_path, "watch_lib_secret", source), target=FakeTarget(),
                         missing_secrets_hint="Set it with the --secret option.")
    outcome = pusher.push()
    assert outcome.failure == "invalid" and outcome.error_type == "MissingSecretsError"
    assert "'watch_token' (used by Leaf)" in (outcome.error or "")
    assert "Set it with the --secret option." in (outcome.error or "")


def test_without_progress_reports_the_plan_hashes_decide(tmp_path: pathlib.Path) -> None:
    chain = write_chain(tmp_path, "watch_lib_noprogress")
    pusher = ChainPusher(chain, target=FakeTarget(report_progress=False))
    assert pusher.push().restarted == ["Leaf", "Entry"]
    chain.write_text(CHAIN.replace(" v1", " v2"))
    outcome = pusher.push()
    assert (outcome.restarted, outcome.unchanged) == (["Entry"], ["Leaf"])


def test_the_chain_name_stays_when_the_entrypoint_is_renamed(tmp_path: pathlib.Path) -> None:
    target = FakeTarget()
    chain = write_chain(tmp_path, "watch_lib_rename")
    pusher = ChainPusher(chain, target=target)
    assert pusher.push().chain_name == "entry"
    chain.write_text(CHAIN.replace("class Entry", "class Front"))
    outcome = pusher.push()
    assert outcome.ok and outcome.chain_name == "entry"
    assert [plan.chain_name for plan in target.plans] == ["entry", "entry"]


def test_roots_are_the_workspace_and_the_data_dir_the_plan_names(tmp_path: pathlib.Path) -> None:
    (tmp_path / "data").mkdir()
    source = CHAIN.replace(
        "class Leaf(chains.ChainletBase):\n",
        "class Leaf(chains.ChainletBase):\n"
        "    remote_config = chains.RemoteConfig(docker_image=chains.DockerImage(\n"
        "        data_dir=chains.make_abs_path_here('../data')))\n",
    )
    chain = write_chain(tmp_path, "watch_lib_roots", source)
    pusher = ChainPusher(chain, target=FakeTarget())
    assert pusher.roots == [chain.parent.resolve()]
    assert pusher.push().ok
    assert pusher.roots == sorted([chain.parent.resolve(), (tmp_path / "data").resolve()])


def test_the_state_root_is_never_watched(tmp_path: pathlib.Path, state_root: pathlib.Path) -> None:
    pusher = ChainPusher(write_chain(tmp_path, "watch_lib_state"), target=FakeTarget())
    assert pusher.state_dirs == [state_root]


def test_an_unknown_target_is_refused_when_the_pusher_is_made(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ChainsUsageError, match="Unknown target 'nowhere'"):
        ChainPusher(write_chain(tmp_path, "watch_lib_target"), target="nowhere")


# -- ChainPusher on the local target ------------------------------------------------------------------

CRASHING_LEAF = CHAIN.replace(
    "class Leaf(chains.ChainletBase):\n",
    "class Leaf(chains.ChainletBase):\n"
    "    def __init__(self) -> None:\n"
    "        raise RuntimeError('leaf cannot start')\n\n",
)


def answer_after_repush(service: ChainService, expected: object, within_sec: float = 15.0) -> object:
    """The answer to ``{"text": "hi"}`` once it is ``expected`` (or ``within_sec`` has passed):
    a replaced chainlet drains, and answers its callers' idle keep-alive connections for about a
    second after a re-push (`infra_chains.serving.drain`, `DRAIN_IDLE_SEC`)."""
    deadline = time.monotonic() + within_sec
    while (result := service.run_remote({"text": "hi"})) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return result


@pytest.mark.servers
def test_a_chainlet_that_fails_to_start_leaves_the_old_version_serving(
    tmp_path: pathlib.Path, local_target: LocalTarget
) -> None:
    chain = write_chain(tmp_path, "watch_lib_local")
    pusher = ChainPusher(chain, target=local_target, chain_name="watch-lib", ready_timeout_sec=20)
    first = pusher.push()
    assert first.ok, first.error
    service = local_target.service("watch-lib")
    assert service.run_remote({"text": "hi"}) == "HI v1"

    chain.write_text(CRASHING_LEAF.replace(" v1", " v2"))
    failed: PushOutcome = pusher.push()
    assert failed.failure == "deployment"
    assert "leaf cannot start" in (failed.error or "")
    assert service.run_remote({"text": "hi"}) == "HI v1"

    chain.write_text(CHAIN.replace("text.upper()", "text.title()"))
    recovered = pusher.push()
    assert recovered.ok and (recovered.restarted, recovered.unchanged) == (["Leaf"], ["Entry"])
    assert answer_after_repush(service, "Hi v1") == "Hi v1"
