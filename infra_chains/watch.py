"""Push a chain again whenever one of its files is saved: the library half of `infra-chains watch`.

Two parts, each usable alone:

- `Watcher` looks at the files a push copies (the workspace as `plan.workspace` lists it, so
  ``.gitignore``d files, virtual environments, caches and ``.env`` files never trigger a push) and
  yields one batch of `FileChange` per burst of saves. It polls each file's modification time,
  size and inode with the standard library: no dependency, and it sees changes on network mounts
  and bind mounts where file-system events may never arrive. Editors save in bursts (a temporary
  file, a rename, a formatter's second write), so a batch is yielded only once the files have
  been quiet for ``debounce_sec``.
- `ChainPusher` loads the chain file again and pushes it to the same chain, and returns a
  `PushOutcome`: which chainlets the target restarted and which kept running, or why the edit
  was not deployed. It never raises for a bad edit (a syntax error, a definition problem, a
  chainlet that fails to start): the target keeps serving the last good version (nothing is
  touched before the chain plans; the local target rolls a failed start back), and the next
  save is pushed as usual.

Neither prints; the CLI turns outcomes into output.
"""

from __future__ import annotations

import logging
import os
import pathlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Literal

import pydantic

from infra_chains import deploy
from infra_chains.errors import ChainsError, ChainsUsageError
from infra_chains.framework.loading import load_entrypoint, workspace_of
from infra_chains.plan import ChainPlan
from infra_chains.plan.workspace import workspace_files
from infra_chains.targets.base import ChainletProgress, ProgressCallback, Target
from infra_chains.targets.local.state import state_root
from infra_chains.targets.registry import resolve_target
from infra_chains.targets.secrets import MissingSecretsError

logger = logging.getLogger(__name__)

__all__ = ["ChainPusher", "FileChange", "PushOutcome", "Watcher"]

ChangeKind = Literal["added", "modified", "removed"]

#: What is compared between two looks at a file: modification time (ns), size and inode. The
#: inode catches an editor's atomic save (write a new file, rename it over the old one) that
#: keeps both size and, on coarse clocks, the modification time.
_Stamp = tuple[int, int, int]


class FileChange(pydantic.BaseModel):
    """One file that was added, modified or removed since the last batch."""

    model_config = pydantic.ConfigDict(frozen=True)

    path: str = pydantic.Field(description="Absolute path.")
    kind: ChangeKind


class Watcher:
    """Yields a batch of changed files each time the watched directories settle after a change.

    Args:
        roots: Directories whose files (as a push would copy them) are watched.
        exclude: Directories whose files never count, even inside a root: where pushes write
            (a target's state directory kept inside the workspace would otherwise make every
            push trigger the next).
        interval_sec: Seconds between two looks at the files.
        debounce_sec: Seconds without a further change before a batch is yielded.
        max_settle_sec: A batch is yielded after this long even if files keep changing (a log
            file written continuously must not hold every push back).
        clock, sleep: The time source and the wait; a test passes fakes to drive the watcher
            without real waiting.
    """

    def __init__(
        self,
        roots: Sequence[pathlib.Path],
        *,
        exclude: Sequence[pathlib.Path] = (),
        interval_sec: float = 0.5,
        debounce_sec: float = 0.3,
        max_settle_sec: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if interval_sec <= 0:
            raise ChainsUsageError(f"The polling interval must be more than 0 seconds, got {interval_sec}.")
        if debounce_sec < 0:
            raise ChainsUsageError(f"The debounce time must be 0 seconds or more, got {debounce_sec}.")
        self._interval = interval_sec
        self._debounce = debounce_sec
        self._max_settle = max(max_settle_sec, debounce_sec)
        self._clock = clock
        self._sleep = sleep
        self._exclude = _unique(exclude)
        self._roots = _unique(roots)
        self._stamps = self._scan(self._roots)

    @property
    def roots(self) -> list[pathlib.Path]:
        """The watched directories (resolved; none inside another)."""
        return list(self._roots)

    @property
    def file_count(self) -> int:
        """How many files are watched now."""
        return len(self._stamps)

    def set_roots(self, roots: Sequence[pathlib.Path]) -> None:
        """Watch ``roots`` from now on (a push's plan may name a new data or package directory).

        Files of a new root join as they are now, not as changes; files of a dropped root are
        forgotten. Edits made meanwhile under the kept roots are still reported.
        """
        roots = _unique(roots)
        added = [root for root in roots if root not in self._roots]
        kept = {path: stamp for path, stamp in self._stamps.items()
                if any(_is_under(path, root) for root in roots)}
        kept.update(self._scan(added))
        self._roots, self._stamps = roots, kept

    def poll(self) -> list[FileChange]:
        """One look at the files: what changed since the previous look (sorted by path)."""
        now = self._scan(self._roots)
        changes = [FileChange(path=str(p), kind="added") for p in now.keys() - self._stamps.keys()]
        changes += [FileChange(path=str(p), kind="removed") for p in self._stamps.keys() - now.keys()]
        changes += [FileChange(path=str(p), kind="modified")
                    for p in now.keys() & self._stamps.keys() if now[p] != self._stamps[p]]
        self._stamps = now
        return sorted(changes, key=lambda c: c.path)

    def wait(self, timeout_sec: float | None = None) -> list[FileChange] | None:
        """Block until files change and settle; the batch, or None when ``timeout_sec`` passes."""
        deadline = None if timeout_sec is None else self._clock() + timeout_sec
        while True:
            first = self.poll()
            # A burst may net to nothing (a temporary file created and removed): wait on.
            if first and (batch := self._settle(first)):
                return batch
            if deadline is not None:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return None
                self._sleep(min(self._interval, remaining))
            else:
                self._sleep(self._interval)

    def changes(
        self, *, max_batches: int | None = None, timeout_sec: float | None = None
    ) -> Iterator[list[FileChange]]:
        """Batches of changes until ``max_batches`` were yielded or ``timeout_sec`` passed (both
        unbounded by default). Time spent by the consumer between batches counts; its own edits
        to the files are reported in the next batch, never lost."""
        deadline = None if timeout_sec is None else self._clock() + timeout_sec
        yielded = 0
        while max_batches is None or yielded < max_batches:
            remaining = None if deadline is None else deadline - self._clock()
            if remaining is not None and remaining <= 0:
                return
            batch = self.wait(remaining)
            if batch is None:
                return
            yielded += 1
            yield batch

    def _settle(self, first: list[FileChange]) -> list[FileChange]:
        pending: dict[str, ChangeKind] = {}
        _merge(pending, first)
        started = last_change = self._clock()
        step = min(self._interval, self._debounce)
        while self._clock() - last_change < self._debounce and self._clock() - started < self._max_settle:
            self._sleep(step)
            more = self.poll()
            if more:
                _merge(pending, more)
                last_change = self._clock()
        return [FileChange(path=path, kind=kind) for path, kind in sorted(pending.items())]


    def _scan(self, roots: Iterable[pathlib.Path]) -> dict[pathlib.Path, _Stamp]:
        stamps: dict[pathlib.Path, _Stamp] = {}
        for root in roots:
            if not root.is_dir():
                continue
            for path in workspace_files(root):
                if any(path.is_relative_to(excluded) for excluded in self._exclude):
                    continue
                try:
                    info = os.stat(path)
                except OSError:
                    continue  # removed while we looked: the next look reports it
                stamps[path] = (info.st_mtime_ns, info.st_size, info.st_ino)
        return stamps


def _merge(pending: dict[str, ChangeKind], changes: Iterable[FileChange]) -> None:
    """Fold ``changes`` into ``pending``, so a burst reads as its net effect on each file."""
    for change in changes:
        before = pending.get(change.path)
        if before is None:
            pending[change.path] = change.kind
        elif before == "added" and change.kind == "removed":
            del pending[change.path]  # came and went within the burst
        elif before == "added":
            pass  # added, then written again: still new
        elif before == "removed" and change.kind == "added":
            pending[change.path] = "modified"  # an atomic save: removed and written anew
        else:
            pending[change.path] = change.kind


def _unique(roots: Iterable[pathlib.Path]) -> list[pathlib.Path]:
    """Resolved roots, without one that lies inside another (its files would count twice)."""
    resolved = sorted({pathlib.Path(root).resolve() for root in roots})
    return [root for root in resolved if not any(root != other and _is_under(root, other) for other in resolved)]


def _is_under(path: pathlib.Path, root: pathlib.Path) -> bool:
    return path == root or path.is_relative_to(root)


Failure = Literal["invalid", "deployment"]


class PushOutcome(pydantic.BaseModel):
    """What one push of a watch session did.

    ``failure`` is ``invalid`` when the chain as saved could not be loaded or planned (a syntax
    error, a definition problem, a missing secret): nothing was deployed, the running version is
    untouched. It is ``deployment`` when the target could not bring the new version up (a
    chainlet crashed on start): the target says in ``error`` what it kept serving (the local
    target rolls back to the previous version).
    """

    chain_name: str | None = pydantic.Field(description="None when no push has planned yet.")
    ok: bool
    restarted: list[str] = pydantic.Field(default=[], description="Chainlets (re)started.")
    unchanged: list[str] = pydantic.Field(default=[], description="Chainlets left running as they were.")
    duration_sec: float
    url: str | None = pydantic.Field(default=None, description="The entrypoint's URL.")
    error: str | None = None
    error_type: str | None = pydantic.Field(default=None, description="The error's class name.")
    failure: Failure | None = None
    changes: list[FileChange] = pydantic.Field(default=[], description="What triggered the push.")


class ChainPusher:
    """Pushes one chain file again and again to the same chain, as a watch session does.

    The chain's name is fixed by the first successful push (renaming the entrypoint class while
    watching keeps updating that chain rather than deploying a second one).

    Args:
        chain_file: The chain's source file.
        entrypoint: The entrypoint class's name, when the file marks none.
        chain_name: The deployed chain's name (default: from the entrypoint).
        target: A target name (``"local"``, ...) or a `Target` instance.
        environment, user_env, secrets, ready_timeout_sec, stack: As `infra_chains.deploy.push`
            takes them.
        missing_secrets_hint: How a missing secret is to be given, in the caller's own terms.
        clock: The time source of ``duration_sec``.
    """

    def __init__(
        self,
        chain_file: pathlib.Path,
        *,
        entrypoint: str | None = None,
        chain_name: str | None = None,
        target: str | Target = "local",
        environment: str | None = None,
        user_env: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
        ready_timeout_sec: float = 60.0,
        stack: str | None = None,
        missing_secrets_hint: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._file = pathlib.Path(chain_file)
        self._entrypoint = entrypoint
        self._chain_name = chain_name
        self._target = resolve_target(
            target, environment=environment, **({} if stack is None else {"stack": stack})
        )
        self._environment = environment if environment is not None else stack
        self._user_env = dict(user_env or {})
        self._secrets = dict(secrets or {})
        self._ready_timeout = ready_timeout_sec
        self._hint = missing_secrets_hint
        self._clock = clock
        self._last_plan: ChainPlan | None = None

    @property
    def chain_name(self) -> str | None:
        """The chain pushed to (None before the first push planned)."""
        return self._chain_name

    @property
    def state_dirs(self) -> list[pathlib.Path]:
        """Where pushes write (the local and docker targets' state root): never a change."""
        return [state_root()]

    @property
    def roots(self) -> list[pathlib.Path]:
        """The directories whose files the last good plan deploys: the workspace, and any
        package or data directory its chainlets name."""
        if self._last_plan is None:
            return [workspace_of(self._file)]
        workspace = pathlib.Path(self._last_plan.workspace_dir)
        roots = [workspace]
        for spec in self._last_plan.chainlets:
            image = spec.image
            extra = [*image.external_package_dirs, *([image.data_dir] if image.data_dir else [])]
            roots += [(workspace / relative).resolve() for relative in extra]
        return _unique(roots)

    def push(
        self, changes: Sequence[FileChange] = (), on_progress: ProgressCallback | None = None
    ) -> PushOutcome:
        """Load the chain file as it is now and push it; a bad edit is an outcome, not an error."""
        started = self._clock()
        latest: list[ChainletProgress] = []

        def track(rows: list[ChainletProgress]) -> None:
            latest[:] = rows
            if on_progress is not None:
                on_progress(rows)

        def failed(exc: BaseException, failure: Failure) -> PushOutcome:
            if isinstance(exc, MissingSecretsError) and self._hint is not None:
                exc = exc.with_hint(self._hint)
            logger.info("Push of %s not deployed (%s): %s", self._file, failure, exc)
            return PushOutcome(
                chain_name=self._chain_name, ok=False, duration_sec=self._clock() - started,
                error=str(exc), error_type=type(exc).__name__, failure=failure, changes=list(changes),
            )

        try:
            entry = load_entrypoint(self._file, self._entrypoint)
            plan = deploy.plan_chain(entry, self._chain_name, self._user_env, self._environment)
        except (ChainsError, OSError) as exc:  # OSError: a file removed while it was read
            return failed(exc, "invalid")
        try:
            service = deploy.push(
                entry, plan.chain_name, user_env=self._user_env, remote=self._target,
                environment=self._environment, secrets=self._secrets,
                ready_timeout_sec=self._ready_timeout, on_progress=track,
            )
        except ChainsUsageError as exc:
            return failed(exc, "invalid")
        except ChainsError as exc:
            return failed(exc, "deployment")
        if service is None:  # pragma: no cover - only a dry run returns None
            raise RuntimeError("push returned no service")
        restarted, unchanged = _restarts(latest, self._last_plan, plan)
        self._chain_name, self._last_plan = plan.chain_name, plan
        return PushOutcome(
            chain_name=plan.chain_name, ok=True, restarted=restarted, unchanged=unchanged,
            duration_sec=self._clock() - started, url=service.run_remote_url, changes=list(changes),
        )


def _restarts(
    progress: list[ChainletProgress], previous: ChainPlan | None, plan: ChainPlan
) -> tuple[list[str], list[str]]:
    """(restarted, unchanged) chainlet names, in the plan's order.

    The target's own last progress report decides (it knows what it restarted, a changed secret
    included); a target that reported none is judged by the plan's content hashes.
    """
    names = [spec.name for spec in plan.chainlets]
    if progress:
        changed = {row.name for row in progress if row.changed}
    else:
        before = {spec.name: spec.content_hash for spec in previous.chainlets} if previous else {}
        changed = {spec.name for spec in plan.chainlets if before.get(spec.name) != spec.content_hash}
    return [n for n in names if n in changed], [n for n in names if n not in changed]
