"""Definition-time validation: read a chainlet class into a `ChainletDefinition`, collecting
every problem instead of stopping at the first.

Each problem has a short stable code (tests and docs refer to it), the place (``file:line
(Class.member)``) and a message that says what is wrong and how to fix it.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from typing import Any

import pydantic

from infra_chains.errors import DefinitionProblem, ProblemCode
from infra_chains.framework.definition import (
    HEALTH_CHECK_NAME,
    MODEL_KIND,
    ChainletDefinition,
    DependencyDefinition,
    EndpointDefinition,
    EndpointParam,
    kind_of,
)
from infra_chains.framework.markers import ContextMarker, DependencyMarker
from infra_chains.framework.types import is_binary_type, unsupported_parts
from infra_chains.public_types import WebSocketProtocol
from infra_chains.remote_config import RemoteConfig

_SUPPORTED_TYPES_HINT = (
    "use str, int, float, bool, None, bytes, numpy arrays, list[...], dict[str, ...], tuple, "
    "Optional, Literal, enums or pydantic models"
)


class UnresolvedAnnotations(Exception):
    """An annotation names something not defined yet; retried once the module has loaded."""


class _Collector:
    def __init__(self, cls: type[Any], file: str, class_line: int) -> None:
        self.cls = cls
        self.file = file
        self.class_line = class_line
        self.problems: list[DefinitionProblem] = []

    def add(self, code: ProblemCode, message: str, member: str | None = None, line: int | None = None) -> None:
        location = f"{self.cls.__name__}.{member}" if member else self.cls.__name__
        self.problems.append(
            DefinitionProblem(code, self.file, line or self.class_line, location, message)
        )


def analyze(
    cls: type[Any], file: str, class_line: int, *, defer_unresolved: bool
) -> tuple[ChainletDefinition | None, list[DefinitionProblem]]:
    """Validate ``cls`` and describe it; the definition is ``None`` when there are problems.

    With ``defer_unresolved`` an annotation naming a not-yet-defined object raises
    `UnresolvedAnnotations` (class creation retries at first use); without it, it is a problem.
    """
    out = _Collector(cls, file, class_line)
    endpoint = _endpoint(out, defer_unresolved)
    dependencies, context_arg = _init(out)
    remote_config = _remote_config(out)
    user_config = _user_config(out)
    health, health_async = _health_check(out)
    _transport(out, endpoint, remote_config)
    if out.problems or endpoint is None:
        return None, out.problems
    name = remote_config.name or cls.__name__
    definition = ChainletDefinition(
        cls=cls,
        name=name,
        file=file,
        line=class_line,
        endpoint=endpoint,
        dependencies=tuple(dependencies),
        context_arg=context_arg,
        remote_config=remote_config,
        default_user_config=user_config,
        has_health_check=health,
        health_check_is_async=health_async,
    )
    return definition, []


def _line_of(fn: Any, default: int) -> int:
    code = getattr(fn, "__code__", None)
    return code.co_firstlineno if code is not None else default


def _resolve_hints(out: _Collector, fn: Any, member: str, defer: bool) -> dict[str, Any] | None:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except NameError as exc:
        if defer:
            raise UnresolvedAnnotations(str(exc)) from exc
        out.add("annotation-unresolved",
                f"an annotation cannot be resolved ({exc}); define or import that name in the "
                "chain file", member, _line_of(fn, out.class_line))
    except Exception as exc:  # noqa: BLE001 - any failure of an annotation is the user's to see
        out.add("annotation-invalid", f"annotations cannot be evaluated: {exc!r}", member,
                _line_of(fn, out.class_line))
    return None


def _endpoint(out: _Collector, defer: bool) -> EndpointDefinition | None:
    kind = kind_of(out.cls)
    name = kind.endpoint_name  # `run_remote`, or `predict` for a model
    raw = inspect.getattr_static(out.cls, name, None)
    if raw is None:
        out.add("endpoint-missing",
                f"a {kind.label} needs an endpoint method `def {name}(self, ...) -> ...` "
                "(or `async def`); add one")
        return None
    if not inspect.isfunction(raw):
        out.add("endpoint-not-method",
                f"`{name}` must be a plain instance method, not a {type(raw).__name__}; remove the "
                "decorator", name)
        return None
    line = _line_of(raw, out.class_line)
    if inspect.isgeneratorfunction(raw):
        out.add("endpoint-streaming",
                f"`{name}` yields but is a plain `def`: streaming endpoints must be `async def` "
                f"(`async def {name}(self, ...) -> AsyncIterator[str]`), as in truss-chains",
                name, line)
        return None
    hints = _resolve_hints(out, raw, name, defer)
    signature = inspect.signature(raw)
    if hints is not None and any(h is WebSocketProtocol for h in hints.values()):
        return _websocket_endpoint(out, raw, name, signature, hints, line)
    params: list[EndpointParam] = []
    if not signature.parameters:
        out.add("endpoint-self", f"`{name}` takes no arguments; its first argument "
                "must be `self`", name, line)
    for index, param in enumerate(signature.parameters.values()):
        if index == 0:
            if param.name != "self" or param.kind not in (param.POSITIONAL_OR_KEYWORD, param.POSITIONAL_ONLY):
                out.add("endpoint-self",
                        f"the first argument of `{name}` must be `self`, got `{param.name}`",
                        name, line)
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            out.add("endpoint-varargs",
                    f"`{star}{param.name}` is not allowed: endpoint arguments are sent by name, so "
                    "list each one with its type", name, line)
            continue
        if param.kind is param.POSITIONAL_ONLY:
            out.add("endpoint-positional-only",
                    f"argument `{param.name}` is positional-only; endpoint arguments are sent by "
                    "name, remove the `/`", name, line)
            continue
        if param.annotation is inspect.Parameter.empty:
            out.add("endpoint-annotation",
                    f"argument `{param.name}` has no type annotation; annotate it "
                    f"({_SUPPORTED_TYPES_HINT})", name, line)
            continue
        annotation = hints.get(param.name, param.annotation) if hints is not None else param.annotation
        bad = unsupported_parts(annotation) if hints is not None else []
        if bad:
            out.add("endpoint-type",
                    f"argument `{param.name}` has unsupported type {', '.join(bad)}; "
                    f"{_SUPPORTED_TYPES_HINT}", name, line)
            continue
        params.append(EndpointParam(param.name, annotation, param.default))
    if signature.return_annotation is inspect.Signature.empty:
        out.add("endpoint-return",
                f"`{name}` has no return annotation; add `-> T` (`-> None` if it "
                "returns nothing)", name, line)
        return None
    if hints is None:
        return None
    returns = hints.get("return", None)
    stream_item = _streaming_return(out, raw, name, returns, line)
    if stream_item is not None:
        if stream_item is _INVALID:
            return None
        return EndpointDefinition(
            is_async=True, params=tuple(params), return_annotation=returns,
            uses_binary=any(is_binary_type(p.annotation) for p in params), line=line,
            method_name=name, stream_item=stream_item,
        )
    bad = unsupported_parts(returns)
    if bad:
        out.add("endpoint-type", f"return type has unsupported type {', '.join(bad)}; "
                f"{_SUPPORTED_TYPES_HINT}", name, line)
        return None
    uses_binary = is_binary_type(returns) or any(is_binary_type(p.annotation) for p in params)
    return EndpointDefinition(
        is_async=inspect.iscoroutinefunction(raw),
        params=tuple(params),
        return_annotation=returns,
        uses_binary=uses_binary,
        line=line,
        method_name=name,
    )


_STREAM_ORIGINS = (collections.abc.AsyncIterator, collections.abc.AsyncGenerator,
                   collections.abc.AsyncIterable)
_SYNC_STREAM_ORIGINS = (collections.abc.Iterator, collections.abc.Generator, collections.abc.Iterable)
_INVALID: Any = object()


def _streaming_return(out: _Collector, raw: Any, name: str, returns: Any, line: int) -> Any:
    """``str``/``bytes`` for a valid streaming endpoint, None for a non-streaming one, `_INVALID`
    (problems added) for a broken one.

    Streaming is an ``async def`` that yields, annotated ``-> AsyncIterator[str]`` or
    ``AsyncIterator[bytes]`` (truss-chains' rule); beyond truss-chains, an ``async def`` without
    ``yield`` may return such an iterator, e.g. the stream of a dependency, to relay it.
    """
    origin = typing.get_origin(returns) or returns
    is_generator = inspect.isasyncgenfunction(raw)
    if origin not in _STREAM_ORIGINS and origin not in _SYNC_STREAM_ORIGINS and not is_generator:
        return None
    args = typing.get_args(returns)
    item = args[0] if args else None
    if origin in _SYNC_STREAM_ORIGINS or origin not in _STREAM_ORIGINS or item not in (str, bytes):
        shown = getattr(returns, "__name__", None) if not args else None
        out.add("endpoint-streaming",
                f"a streaming `{name}` must be annotated `-> AsyncIterator[str]` or "
                f"`-> AsyncIterator[bytes]`, got `-> {shown or returns!r}`; to stream structured "
                "items, yield the bytes of `chains.streaming.stream_writer(...)`", name, line)
        return _INVALID
    if not inspect.iscoroutinefunction(raw) and not is_generator:
        out.add("endpoint-streaming",
                f"`{name}` returns AsyncIterator[{item.__name__}] but is a plain `def`; make it "
                f"`async def` (and `yield` the items, or return a dependency's stream)", name, line)
        return _INVALID
    return item


def _websocket_endpoint(out: _Collector, raw: Any, name: str, signature: inspect.Signature,
                        hints: dict[str, Any], line: int) -> EndpointDefinition | None:
    """``async def run_remote(self, websocket: chains.WebSocketProtocol) -> None``: truss-chains'
    rules (the websocket is the only argument, nothing is returned, ``async``), each broken one
    reported."""
    fix = f"write `async def {name}(self, websocket: chains.WebSocketProtocol) -> None`"
    before = len(out.problems)
    params = list(signature.parameters.values())
    if not params or params[0].name != "self":
        out.add("endpoint-self", f"the first argument of `{name}` must be `self`", name, line)
    others = [p.name for p in params[1:] if hints.get(p.name) is not WebSocketProtocol]
    sockets = [p for p in params[1:] if hints.get(p.name) is WebSocketProtocol]
    if hints.get("return") is WebSocketProtocol:
        out.add("endpoint-websocket", f"a websocket cannot be returned; {fix}", name, line)
    elif others or len(sockets) != 1:
        extra = ", ".join(f"`{n}`" for n in others + [p.name for p in sockets[1:]])
        out.add("endpoint-websocket", f"a websocket endpoint takes the websocket as its only "
                f"argument, but `{name}` also takes {extra}; receive such values as messages "
                f"instead: {fix}", name, line)
    elif sockets[0].kind is inspect.Parameter.KEYWORD_ONLY:
        out.add("endpoint-websocket", f"the websocket argument `{sockets[0].name}` is keyword-only; "
                f"{fix}", name, line)
    returns = hints.get("return", inspect.Signature.empty)
    if returns is not WebSocketProtocol and returns not in (None, type(None)):
        shown = "no return annotation" if returns is inspect.Signature.empty else f"`-> {returns!r}`"
        out.add("endpoint-websocket", f"a websocket endpoint returns None (results are sent "
                f"through the websocket), but `{name}` has {shown}; {fix}", name, line)
    if not inspect.iscoroutinefunction(raw):
        out.add("endpoint-websocket", f"a websocket endpoint must be `async def` (a generator "
                f"neither: send each item through the websocket); {fix}", name, line)
    if len(out.problems) > before:
        return None
    return EndpointDefinition(is_async=True, params=(), return_annotation=None, uses_binary=False,
                              line=line, method_name=name, is_websocket=True)


def _serves_websocket(cls: Any) -> bool:
    record = getattr(cls, "__infra_chains_record__", None)
    definition = getattr(record, "definition", None)
    return definition is not None and bool(definition.endpoint.is_websocket)


def _is_dependency_type(value: Any) -> bool:
    from infra_chains.framework.chainlet import ChainletBase

    return isinstance(value, type) and (
        issubclass(value, ChainletBase) or bool(getattr(value, "__infra_chains_stub__", False))
    )


def _init(out: _Collector) -> tuple[list[DependencyDefinition], str | None]:
    from infra_chains.framework.chainlet import ChainletBase

    init = out.cls.__init__
    original = getattr(init, "__wrapped__", init)
    if original in (object.__init__, ChainletBase.__init__) or not inspect.isfunction(original):
        return [], None
    line = _line_of(original, out.class_line)
    dependencies: list[DependencyDefinition] = []
    context_arg: str | None = None
    params = list(inspect.signature(original).parameters.values())[1:]
    for position, param in enumerate(params):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            out.add("init-varargs",
                    f"`__init__` may not take `*{param.name}`/`**{param.name}`: its arguments are "
                    "injected by name", "__init__", line)
            continue
        default = param.default
        if isinstance(default, ContextMarker):
            if context_arg is not None:
                out.add("init-context-twice",
                        f"`{param.name}` is a second `depends_context()` argument; keep one",
                        "__init__", line)
            elif any(not isinstance(p.default, ContextMarker) for p in params[position + 1:]):
                out.add("init-context-position",
                        f"the context argument `{param.name}` must be the last argument of "
                        "`__init__`; move it after the dependencies", "__init__", line)
            context_arg = param.name
            continue
        if isinstance(default, DependencyMarker):
            if not kind_of(out.cls).allows_dependencies:
                out.add("init-argument",
                        f"`{param.name}`: a model (chains.ModelBase) takes no dependencies; its "
                        "`__init__` may only take the optional `context=chains.depends_context()`. "
                        "Make it a chains.ChainletBase with `run_remote` to call other chainlets",
                        "__init__", line)
                continue
            if kind_of(default.chainlet_cls) is MODEL_KIND:
                out.add("dependency-type",
                        f"`{param.name}` depends on model `{default.chainlet_cls.__name__}`; a "
                        "chains.ModelBase is a standalone model, not a dependency. Make it a "
                        "chains.ChainletBase with `run_remote`", "__init__", line)
                continue
            if not _is_dependency_type(default.chainlet_cls):
                out.add("dependency-type",
                        f"`{param.name}` depends on {default.chainlet_cls!r}, which is not a "
                        "ChainletBase (or StubBase) subclass; pass the chainlet class itself, "
                        "e.g. `chains.depends(MyChainlet)`", "__init__", line)
                continue
            if _serves_websocket(default.chainlet_cls):
                dep = default.chainlet_cls.__name__
                out.add("dependency-websocket",
                        f"`{param.name}` depends on `{dep}`, whose run_remote serves a websocket; as "
                        "in truss-chains only the entrypoint may serve one (a dependency is called "
                        f"over HTTP). Give `{dep}` a regular run_remote, or make it the entrypoint",
                        "__init__", line)
                continue
            earlier = next((d for d in dependencies if d.chainlet_cls is default.chainlet_cls), None)
            if earlier is not None:
                # As in truss-chains: one stub (one instance locally) per class and chainlet, so a
                # second argument could only ever be the same object under another name.
                name = default.chainlet_cls.__name__
                out.add("dependency-reused",
                        f"`{param.name}` depends on `{name}`, which argument `{earlier.arg_name}` "
                        "already depends on. The same Chainlet class cannot be used multiple "
                        "times for different arguments; keep one argument and use it for both",
                        "__init__", line)
                continue
            dependencies.append(DependencyDefinition(param.name, default.chainlet_cls, default.options))
            continue
        out.add("init-argument",
                f"`__init__` argument `{param.name}` is neither `chains.depends(...)` nor "
                "`chains.depends_context()`; nothing can supply it at run time. Make it a "
                "dependency, or read configuration from the context (`user_config`, `user_env`)",
                "__init__", line)
    return dependencies, context_arg


def _remote_config(out: _Collector) -> RemoteConfig:
    config = getattr(out.cls, "remote_config", RemoteConfig())
    if not isinstance(config, RemoteConfig):
        out.add("remote-config-type",
                f"`remote_config` must be a `chains.RemoteConfig(...)`, got {type(config).__name__}",
                "remote_config")
        return RemoteConfig()
    return config


def _transport(out: _Collector, endpoint: EndpointDefinition | None, config: RemoteConfig) -> None:
    """``options.transport`` must fit the endpoint, as truss-chains checks."""
    transport = config.options.transport
    if endpoint is None or transport is None:
        return
    if transport.kind == "websocket" and not endpoint.is_websocket:
        out.add("transport-mismatch",
                "`remote_config.options.transport` is WebsocketOptions, which can only be used "
                "for websocket endpoints (`async def run_remote(self, websocket: "
                "chains.WebSocketProtocol) -> None`); remove the transport option or make "
                "run_remote a websocket endpoint", "remote_config")
    elif transport.kind == "http" and endpoint.is_websocket:
        out.add("transport-mismatch",
                "`remote_config.options.transport` must be `WebsocketOptions` for a websocket "
                "endpoint, got `HTTPOptions`; use `transport={'kind': 'websocket'}` or leave it "
                "unset", "remote_config")


def _user_config(out: _Collector) -> pydantic.BaseModel | None:
    config = getattr(out.cls, "default_user_config", None)
    if config is not None and not isinstance(config, pydantic.BaseModel):
        out.add("user-config-type",
                "`default_user_config` must be a pydantic model instance (so stacks can override "
                f"it field by field), got {type(config).__name__}", "default_user_config")
        return None
    return config


def _health_check(out: _Collector) -> tuple[bool, bool]:
    raw = inspect.getattr_static(out.cls, HEALTH_CHECK_NAME, None)
    if raw is None:
        return False, False
    if not inspect.isfunction(raw):
        out.add("health-check-signature",
                f"`{HEALTH_CHECK_NAME}` must be a plain method `def {HEALTH_CHECK_NAME}(self) -> bool`",
                HEALTH_CHECK_NAME)
        return False, False
    line = _line_of(raw, out.class_line)
    signature = inspect.signature(raw)
    if len(signature.parameters) != 1:
        out.add("health-check-signature",
                f"`{HEALTH_CHECK_NAME}` takes only `self`; remove the other arguments",
                HEALTH_CHECK_NAME, line)
    returns = signature.return_annotation
    if returns not in (inspect.Signature.empty, bool, "bool"):
        out.add("health-check-signature",
                f"`{HEALTH_CHECK_NAME}` must return bool, annotated {returns!r}",
                HEALTH_CHECK_NAME, line)
    return True, inspect.iscoroutinefunction(raw)
