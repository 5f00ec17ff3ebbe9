"""Config a user writes in a chain file (``RemoteConfig``, ``Compute``, ``depends(...)``'s options)
fails in the definition-problem format: ``file:line (Class.member) [code]: what — fix``.

A bad value is found while the class body runs, before any chainlet exists, so a plain pydantic
``ValidationError`` would name neither the chainlet nor the line. `ConfigModel`'s call turns it
into a `ConfigValueError` located at the user's call: the first frame outside infra_chains and
pydantic, and (when it runs in a class body) the member being assigned, read from the file's
syntax tree. Only a direct call is converted; ``model_validate`` of a document (a contract, a
state file) keeps raising ``ValidationError`` for its reader to wrap.
"""

from __future__ import annotations

import ast
import difflib
import linecache
import os
import pathlib
import reprlib
import sys
import types
import typing
from typing import TYPE_CHECKING, Any, ClassVar

import pydantic
import pydantic_core
from pydantic._internal._model_construction import ModelMetaclass

from infra_chains.errors import ConfigValueError, DefinitionProblem, ProblemCode

_SHORT = reprlib.Repr()  # keyword arguments need Python 3.12
_SHORT.maxstring = _SHORT.maxother = 60
_PACKAGE_DIRS = (
    str(pathlib.Path(__file__).resolve().parent) + os.sep,
    str(pathlib.Path(pydantic.__file__).resolve().parent) + os.sep,
)


class _ConfigModelMeta(ModelMetaclass):
    if not TYPE_CHECKING:  # type checkers keep the fields' signature from pydantic

        # The metaclass's __call__ runs for `Compute(...)` only: pydantic builds nested models and
        # `model_validate` results without it (a custom `__init__` would run for those too).
        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            if args:  # truss-chains' plain classes (`Compute(4, "1Gi")`) take arguments by position
                args, kwargs = (), _by_position(cls, args, kwargs)
            try:
                return super().__call__(*args, **kwargs)
            except pydantic.ValidationError as exc:
                raise config_value_error(
                    exc, cls, code=cls.__problem_code__, call=f"{cls.__name__}(", help_name=cls.__name__
                ) from None


class ConfigModel(pydantic.BaseModel, metaclass=_ConfigModelMeta):
    """Base of the config models users construct; frozen, and a typo is an error."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    #: The problem code of a bad value of this model (`errors.ProblemCode`).
    __problem_code__: ClassVar[ProblemCode]
    #: Fields that may be given by position, in order (truss-chains' ``Compute`` allows it).
    __positional__: ClassVar[tuple[str, ...]] = ()


def _by_position(cls: type[ConfigModel], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    names = cls.__positional__
    if len(args) > len(names):
        takes = (f"at most {len(names)} positional arguments ({', '.join(names)})" if names
                 else "keyword arguments only")
        raise TypeError(f"{cls.__name__}() takes {takes}, but {len(args)} were given by position; "
                        f"pass them by name, e.g. {cls.__name__}(field=value)")
    given = dict(zip(names, args, strict=False))
    twice = sorted(given.keys() & kwargs.keys())
    if twice:
        raise TypeError(f"{cls.__name__}() got multiple values for {', '.join(twice)}")
    return {**given, **kwargs}


def config_value_error(
    exc: pydantic.ValidationError,
    model: type[pydantic.BaseModel],
    *,
    code: ProblemCode,
    call: str,
    help_name: str,
) -> ConfigValueError:
    """``exc`` as one definition problem per bad value, located at the user's call.

    ``call`` opens the call as the user wrote it (``"Compute("``, ``"depends(Dep, "``);
    ``help_name`` is the public name whose ``help()`` documents the fields.
    """
    file, line, location = user_site()
    problems = [
        DefinitionProblem(code, file, line, location, _message(error, model, call, help_name))
        for error in exc.errors(include_url=False)
    ]
    return ConfigValueError.from_problems(problems)


def _message(
    error: pydantic_core.ErrorDetails, model: type[pydantic.BaseModel], call: str, help_name: str
) -> str:
    loc = [str(part) for part in error["loc"]]
    field = ".".join(loc)
    reason = error["msg"].removeprefix("Value error, ")
    reason = reason[:1].lower() + reason[1:]
    documented = f"see help(chains.{help_name})"
    if error["type"] == "extra_forbidden":
        known = _field_names(model, loc[:-1])
        close = _closest(loc[-1], known)
        fix = f"did you mean `{close}`?" if close else f"the fields are: {', '.join(known)}"
        return f"`{call}...)` has no field `{field}` — {fix}"
    if error["type"] == "missing":
        return f"`{call}...)` needs `{field}` — pass `{field}=...`; {documented}"
    if not loc:  # a check across fields: the reason names the field and value itself
        return f"`{call}...)`: {reason} — {documented}"
    value = _SHORT.repr(error["input"])
    return f"{field}={value} in `{call}...)`: {reason} — change `{field}`; {documented}"


def _closest(name: str, known: list[str]) -> str | None:
    # difflib alone prefers `gpu` for `cpus`; a shared start (`cpu_count`) is the stronger hint.
    scored = [
        (difflib.SequenceMatcher(None, name, field).ratio() + 0.5 * (field[:3] == name[:3]), field)
        for field in known
    ]
    score, best = max(scored, default=(0.0, ""))
    return best if score >= 0.6 else None


def _field_names(model: type[pydantic.BaseModel], loc: list[str]) -> list[str]:
    """The field names of the (nested) model at ``loc``; empty when it is not a model."""
    current: Any = model
    for part in loc:
        field = current.model_fields.get(part) if _is_model(current) else None
        if field is None:
            return []
        current = next((arg for arg in _flatten(field.annotation) if _is_model(arg)), None)
    return sorted(current.model_fields) if _is_model(current) else []


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, pydantic.BaseModel)


def _flatten(annotation: Any) -> list[Any]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return [part for arg in typing.get_args(annotation) for part in _flatten(arg)]
    return [annotation]


def user_site() -> tuple[str, int, str]:
    """``(file, line, location)`` of the innermost call from outside infra_chains and pydantic.

    ``location`` is ``Class.member`` for a class body (the member whose statement holds the line:
    ``remote_config`` for its value, ``__init__`` for a default of its arguments), the function's
    qualified name in a function, or the module's name at module level.
    """
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIRS):
        frame = frame.f_back
    if frame is None:  # pragma: no cover - always called from some user frame
        return "<unknown>", 0, "?"
    file, line = frame.f_code.co_filename, frame.f_lineno
    class_qualname = frame.f_locals.get("__qualname__")
    if frame.f_code.co_name == "<module>":
        return file, line, str(frame.f_globals.get("__name__", "<module>"))
    if isinstance(class_qualname, str) and "__module__" in frame.f_locals:
        member = _member_at(file, line, class_qualname.rpartition(".")[2], frame.f_globals)
        return file, line, f"{class_qualname}.{member}" if member else class_qualname
    return file, line, frame.f_code.co_qualname


def _member_at(file: str, line: int, class_name: str, module_globals: dict[str, Any]) -> str | None:
    """The name assigned or defined by the statement of class ``class_name`` holding ``line``."""
    try:
        tree = ast.parse("".join(linecache.getlines(file, module_globals)))
    except (SyntaxError, ValueError):
        return None
    classes = [
        node for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.name == class_name
        and node.lineno <= line <= (node.end_lineno or node.lineno)
    ]
    if not classes:
        return None
    innermost = max(classes, key=lambda node: node.lineno)
    for statement in innermost.body:
        if not statement.lineno <= line <= (statement.end_lineno or statement.lineno):
            continue
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            return statement.name
        if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
            return statement.targets[0].id
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            return statement.target.id
    return None
