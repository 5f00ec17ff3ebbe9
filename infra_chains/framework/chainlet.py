"""`ChainletBase` and `mark_entrypoint`.

Subclassing validates the class at once and records the result; the problems of every class
defined in the same scope (a file, or one function body) are reported *together* at first use
(`definition_of`), so one run shows everything that is wrong with a file.

Instantiation is guarded: a chainlet is only ever built by a runtime (``run_local`` or the
serving process) through `construct`, which injects dependencies and the context.
"""

from __future__ import annotations

import contextvars
import functools
import sys
import weakref
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NoReturn, TypeVar, overload

from infra_chains.errors import ChainsRuntimeError, ChainsUsageError, DefinitionProblem
from infra_chains.framework.definition import ChainletDefinition
from infra_chains.framework.unsupported import unsupported_error, unsupported_reason
from infra_chains.framework.validation import UnresolvedAnnotations, analyze
from infra_chains.remote_config import RemoteConfig

ChainletT = TypeVar("ChainletT", bound="ChainletBase")

# The instance a runtime is initialising right now; any other instantiation is "naive".
_CONSTRUCTING: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "infra_chains_constructing", default=None
)

# Hook run_local installs to build a whole chain when user code instantiates its entrypoint.
_NaiveHandler = Callable[["ChainletBase", tuple[Any, ...], dict[str, Any]], None]
_naive_instantiation_handler: contextvars.ContextVar[_NaiveHandler | None] = contextvars.ContextVar(
    "infra_chains_naive_handler", default=None
)


class _ClassRecord:
    __slots__ = ("chain_name", "definition", "entrypoint", "file", "line", "problems", "scope",
                 "unresolved")

    def __init__(self, file: str, line: int, scope: tuple[str, str]) -> None:
        self.file = file
        self.line = line
        self.scope = scope
        self.definition: ChainletDefinition | None = None
        self.problems: list[DefinitionProblem] = []
        self.unresolved = False
        self.entrypoint = False
        self.chain_name: str | None = None


# scope -> classes defined there, in definition order; weak so test-local classes can go away.
_SCOPES: dict[tuple[str, str], list[weakref.ref[type[ChainletBase]]]] = {}


class ChainletBase:
    """Base class of every chainlet.

    A chainlet has one endpoint, ``run_remote`` (``def`` or ``async def``, every argument and the
    return value annotated), an ``__init__`` whose arguments are only ``chains.depends(...)`` and
    an optional trailing ``chains.depends_context()``, and optionally ``remote_config``,
    ``default_user_config`` and ``is_healthy(self) -> bool``.
    """

    remote_config: ClassVar[RemoteConfig] = RemoteConfig()
    __infra_chains_record__: ClassVar[_ClassRecord]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The frame running the `class` statement: type.__new__ and __build_class__ add none, an
        # `__init_subclass__` of a base in between (ModelBase's, or a user's own) is skipped.
        frame = sys._getframe(1)
        while frame.f_code.co_name == "__init_subclass__" and frame.f_back is not None:
            frame = frame.f_back
        file, line = frame.f_code.co_filename, frame.f_lineno
        scope = (cls.__module__, cls.__qualname__.rpartition(".")[0])
        record = _ClassRecord(file, line, scope)
        cls.__infra_chains_record__ = record
        _SCOPES.setdefault(scope, []).append(weakref.ref(cls))
        if "__init__" in cls.__dict__:
            cls.__init__ = _guard_init(cls.__dict__["__init__"])  # type: ignore[method-assign]
        _analyze(cls, record, defer_unresolved=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Takes any arguments so that `Chainlet(x)` gets the runtime's explanation, not a
        # TypeError; validation treats this `__init__` as taking none.
        if _CONSTRUCTING.get() is not self or args or kwargs:
            _naive_instantiation(self, args, kwargs)


def _analyze(cls: type[ChainletBase], record: _ClassRecord, *, defer_unresolved: bool) -> None:
    # `mark_entrypoint` adds its problem after class creation; a deferred re-analysis keeps it.
    kept = [p for p in record.problems if p.code == "entrypoint-twice"]
    try:
        definition, problems = analyze(
            cls, record.file, record.line, defer_unresolved=defer_unresolved
        )
        record.definition = None if kept else definition
        record.problems = problems + kept
        record.unresolved = False
    except UnresolvedAnnotations:
        record.unresolved = True


def _guard_init(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def guarded(self: ChainletBase, *args: Any, **kwargs: Any) -> None:
        if _CONSTRUCTING.get() is not self:
            _naive_instantiation(self, args, kwargs)
            return
        init(self, *args, **kwargs)

    return guarded


def _naive_instantiation(instance: ChainletBase, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    name = type(instance).__name__
    handler = _naive_instantiation_handler.get()
    if handler is None:
        raise ChainsRuntimeError(
            f"Chainlet `{name}` was instantiated directly. Chainlets cannot be naively "
            "instantiated, they are built by a runtime: "
            f"call `{name}()` inside `with chains.run_local(): ...` to run the chain in this "
            f"process, or deploy it with `chains.push({name}, ...)`/`infra-chains push`."
        )
    inside = _enclosing_chainlet(instance)
    if inside is not None:
        raise ChainsRuntimeError(
            f"Chainlet `{name}` was instantiated inside chainlet `{type(inside).__name__}`. "
            "Chainlets cannot be naively instantiated. "
            f"Declare it as a dependency instead: `{name.lower()}: {name} = chains.depends({name})` "
            "in `__init__`'s arguments."
        )
    handler(instance, args, kwargs)


def _enclosing_chainlet(instance: ChainletBase) -> ChainletBase | None:
    """The chainlet whose method is on the call stack, if any (naive use inside a chainlet)."""
    frame = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, ChainletBase) and candidate is not instance:
            return candidate
        frame = frame.f_back  # type: ignore[assignment]
    return None


def construct(instance: ChainletT, kwargs: Mapping[str, Any]) -> ChainletT:
    """Run ``instance.__init__`` with injected ``kwargs``: the one sanctioned way to build a chainlet."""
    token = _CONSTRUCTING.set(instance)
    try:
        instance.__init__(**kwargs)  # type: ignore[misc]
    finally:
        _CONSTRUCTING.reset(token)
    return instance


def new_instance(cls: type[ChainletT]) -> ChainletT:
    """An uninitialised instance, for `construct`."""
    return cls.__new__(cls)


@overload
def mark_entrypoint(cls_or_chain_name: type[ChainletT]) -> type[ChainletT]: ...


@overload
def mark_entrypoint(cls_or_chain_name: str) -> Callable[[type[ChainletT]], type[ChainletT]]: ...


def mark_entrypoint(
    cls_or_chain_name: type[ChainletT] | str,
) -> type[ChainletT] | Callable[[type[ChainletT]], type[ChainletT]]:
    """Mark a chainlet as its file's entrypoint, so `push` and the CLI need only the file.

    ``@chains.mark_entrypoint`` or ``@chains.mark_entrypoint("My Chain")``: the name becomes the
    chain's default name (as a chain name: ``my-chain``) where `push` or the CLI is given none.
    One per file; a second one is reported with the other definition problems.
    """
    if isinstance(cls_or_chain_name, str):
        chain_name = cls_or_chain_name
        if not chain_name.strip():
            raise ChainsUsageError(
                "mark_entrypoint was given an empty chain name; give a name, e.g. "
                '`@chains.mark_entrypoint("my-chain")`, or none: `@chains.mark_entrypoint`.'
            )

        def decorator(cls: type[ChainletT]) -> type[ChainletT]:
            marked = _mark_entrypoint(cls)
            marked.__infra_chains_record__.chain_name = chain_name.strip()
            return marked

        return decorator
    return _mark_entrypoint(cls_or_chain_name)


def _mark_entrypoint(cls: type[ChainletT]) -> type[ChainletT]:
    record = getattr(cls, "__infra_chains_record__", None)
    if record is None or not isinstance(cls, type) or not issubclass(cls, ChainletBase):
        if unsupported_reason(cls) is not None:
            raise unsupported_error(cls, "marked as entrypoint")
        raise ChainsUsageError(f"mark_entrypoint expects a ChainletBase subclass, got {cls!r}")
    for other in _classes_in_scope(record.scope):
        other_record = other.__infra_chains_record__
        if (other is not cls and other_record.entrypoint and other_record.file == record.file
                and not _superseded(other)):
            record.problems.append(DefinitionProblem(
                "entrypoint-twice", record.file, record.line, cls.__name__,
                f"`{other.__name__}` (line {other_record.line}) is already marked as the "
                "entrypoint; keep one `@chains.mark_entrypoint` per file",
            ))
            record.definition = None
            return cls
    record.entrypoint = True
    return cls


def _superseded(cls: type[ChainletBase]) -> bool:
    """Whether top-level ``cls`` is from an earlier import of its module that an import now
    running replaced without it (an edited file loaded again by `push` or `watch`, its entrypoint
    renamed): such a class lingers until garbage collection, but it is no sibling any more."""
    module = sys.modules.get(cls.__module__)
    if "." in cls.__qualname__ or module is None:
        return False
    return vars(module).get(cls.__qualname__) is not cls


def _classes_in_scope(scope: tuple[str, str]) -> list[type[ChainletBase]]:
    # A class defined again under the same name (a re-imported or reloaded file, a re-run
    # notebook cell) replaces the earlier one, which may linger until garbage collection.
    latest: dict[str, type[ChainletBase]] = {}
    for ref in _SCOPES.get(scope, []):
        if (cls := ref()) is not None:
            latest.pop(cls.__qualname__, None)
            latest[cls.__qualname__] = cls
    alive = list(latest.values())
    _SCOPES[scope] = [weakref.ref(cls) for cls in alive]
    return alive


def problems_in_scope_of(cls: type[ChainletBase]) -> list[DefinitionProblem]:
    """Every definition problem of the classes defined in ``cls``'s scope (file or function)."""
    problems: list[DefinitionProblem] = []
    members = _classes_in_scope(cls.__infra_chains_record__.scope)
    if cls not in members:  # an older definition replaced by a newer one of the same name
        members.append(cls)
    for member in members:
        record = member.__infra_chains_record__
        if record.unresolved:
            _analyze(member, record, defer_unresolved=False)
        problems.extend(record.problems)
    return problems


def definition_of(cls: type[ChainletBase]) -> ChainletDefinition:
    """The validated definition of ``cls``; raises with all problems of its scope, if any."""
    if not (isinstance(cls, type) and issubclass(cls, ChainletBase)) or cls is ChainletBase:
        raise ChainsUsageError(f"{cls!r} is not a chainlet (a ChainletBase subclass).")
    problems = problems_in_scope_of(cls)
    if problems:
        raise_problems(problems)
    definition = cls.__infra_chains_record__.definition
    if definition is None:  # pragma: no cover - analyze returns a definition iff no problems
        raise ChainsUsageError(f"Chainlet {cls.__name__} could not be analysed.")
    return definition


def is_entrypoint(cls: type[ChainletBase]) -> bool:
    return cls.__infra_chains_record__.entrypoint


def entrypoint_chain_name(cls: type[ChainletBase]) -> str | None:
    """The chain name given to ``@mark_entrypoint("...")`` on ``cls``, if any."""
    return cls.__infra_chains_record__.chain_name


def chainlets_in_module(module: str) -> list[type[ChainletBase]]:
    """Chainlets defined at the top level of ``module``, in definition order."""
    return _classes_in_scope((module, ""))


def raise_problems(problems: list[DefinitionProblem]) -> NoReturn:
    raise ChainsUsageError.from_problems(problems)
