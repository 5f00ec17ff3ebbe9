"""`run_local`: run a whole chain in this process, for development and tests.

Inside the context, instantiating a chainlet builds the chain below it: every chainlet once, in
dependency order, dependencies injected as local instances and the context filled as a deployed
runtime would fill it (secrets limited to ``secret_keys``, services to the chainlet's own
dependencies). Values are passed as Python objects: pydantic models arrive unchanged. A
dependency is called as it is defined, as its deployed stub is: ``dep.run_remote(...)`` for a
``def run_remote``, ``await dep.run_remote(...)`` for an ``async def`` one, whoever the caller.

Testing with fakes, as truss-chains documents it: ``RAG(vector_store=FakeVectorStore())``
passes an object for a dependency argument (or ``context=`` for the context); it is used as
given, and the chainlets only it would have needed are not built. To call a deployed dependency
instead, pass its stub the same way (``Entry(dep=DepStub.from_url(url))``).

``chainlet_to_service`` only fills the contexts, as in truss-chains: dependency chainlets named
there are still built here (a ``StubBase`` dependency named by its class is built from its
descriptor, as a deployed runtime builds it).
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from typing import Any

from infra_chains.errors import ChainsRuntimeError
from infra_chains.framework.chainlet import (
    ChainletBase,
    _naive_instantiation_handler,
    construct,
    definition_of,
    new_instance,
)
from infra_chains.framework.definition import ChainletDefinition
from infra_chains.framework.graph import ChainGraph, build_graph
from infra_chains.public_types import DeploymentContext, ServiceDescriptor


class _Settings:
    def __init__(
        self,
        secrets: Mapping[str, str],
        data_dir: pathlib.Path | None,
        chainlet_to_service: Mapping[str, ServiceDescriptor],
        user_env: Mapping[str, str],
    ) -> None:
        self.secrets = secrets
        self.data_dir = data_dir
        self.chainlet_to_service = chainlet_to_service
        self.user_env = user_env
        #: Dependencies built in this `with` block, reused by the next entrypoint built in it, as
        #: truss-chains does: state a dependency keeps (a counter, a cache) survives `Entry()`.
        self.dependencies: dict[type[Any], ChainletBase] = {}


@contextlib.contextmanager
def run_local(
    secrets: Mapping[str, str] | None = None,
    data_dir: pathlib.Path | str | None = None,
    chainlet_to_service: Mapping[str, ServiceDescriptor] | None = None,
    user_env: Mapping[str, str] | None = None,
) -> Iterator[None]:
    """Run chains in this process: ``with chains.run_local(): Entry().run_remote(...)``.

    Args:
        secrets: Secret values; each chainlet sees only those in its ``secret_keys``.
        data_dir: Directory given to every chainlet as ``context.data_dir``.
        chainlet_to_service: Service descriptors by chainlet name; each chainlet's context
            lists those of its own dependencies, and a ``StubBase`` dependency named by its
            class is built from its descriptor.
        user_env: Values as given to ``push``'s ``user_env``.
    """
    if _naive_instantiation_handler.get() is not None:
        raise ChainsRuntimeError("run_local() is already active; do not nest it.")
    settings = _Settings(
        secrets=dict(secrets or {}),
        data_dir=pathlib.Path(data_dir) if data_dir is not None else None,
        chainlet_to_service=dict(chainlet_to_service or {}),
        user_env=dict(user_env or {}),
    )

    def build(instance: ChainletBase, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        _build_chain(instance, args, kwargs, settings)

    token = _naive_instantiation_handler.set(build)
    try:
        yield
    finally:
        _naive_instantiation_handler.reset(token)


def _build_chain(
    entry: ChainletBase, args: tuple[Any, ...], kwargs: dict[str, Any], settings: _Settings
) -> None:
    name = type(entry).__name__
    if args:
        raise ChainsRuntimeError(
            f"`{name}(...)` was given positional arguments. Inside run_local, pass a chainlet's "
            f"dependencies (fakes) and context by name, e.g. `{name}(dependency=FakeDependency())`, "
            "or nothing to have them built."
        )
    graph = build_graph(type(entry))
    given = _given_arguments(graph.entrypoint, kwargs)
    needed = _needed_chainlets(graph, given)
    instances: dict[type[Any], ChainletBase] = {}
    for chainlet in graph.chainlets:
        if chainlet.cls not in needed:
            continue
        is_entry = chainlet is graph.entrypoint
        if not is_entry and chainlet.cls in settings.dependencies:
            instances[chainlet.cls] = settings.dependencies[chainlet.cls]
            continue
        instance = entry if is_entry else new_instance(chainlet.cls)
        init_kwargs = _init_kwargs(graph, chainlet, instances, settings, given if is_entry else {})
        construct(instance, init_kwargs)
        instances[chainlet.cls] = instance
        if not is_entry:
            settings.dependencies[chainlet.cls] = instance


def _given_arguments(chainlet: ChainletDefinition, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The ``__init__`` arguments the user passed (fakes, a context), checked against its own."""
    accepted = [d.arg_name for d in chainlet.dependencies]
    if chainlet.context_arg is not None:
        accepted.append(chainlet.context_arg)
    unknown = [key for key in kwargs if key not in accepted]
    if unknown:
        names = ", ".join(f"`{key}`" for key in accepted) or "none"
        raise ChainsRuntimeError(
            f"`{chainlet.cls.__name__}(...)` was given {', '.join(f'`{k}`' for k in unknown)}, "
            f"which is not one of its `__init__` arguments (dependencies and context: {names})."
        )
    context = kwargs.get(chainlet.context_arg) if chainlet.context_arg is not None else None
    if chainlet.context_arg in kwargs and not isinstance(context, DeploymentContext):
        raise ChainsRuntimeError(
            f"`{chainlet.cls.__name__}({chainlet.context_arg}=...)` was given a "
            f"{type(context).__name__}; pass a `chains.DeploymentContext(...)` (or leave it out "
            "to have run_local make one)."
        )
    return dict(kwargs)


def _needed_chainlets(graph: ChainGraph, given: Mapping[str, Any]) -> set[type[Any]]:
    """Chainlets to build: those reachable from the entrypoint without passing a fake."""
    needed: set[type[Any]] = set()
    stack = [graph.entrypoint]
    while stack:
        chainlet = stack.pop()
        if chainlet.cls in needed:
            continue
        needed.add(chainlet.cls)
        for dependency in chainlet.dependencies:
            if not dependency.is_chainlet:
                continue
            if chainlet is graph.entrypoint and dependency.arg_name in given:
                continue
            stack.append(definition_of(dependency.chainlet_cls))
    return needed


def _init_kwargs(
    graph: ChainGraph,
    chainlet: ChainletDefinition,
    instances: Mapping[type[Any], ChainletBase],
    settings: _Settings,
    given: Mapping[str, Any],
) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(given)
    for dependency in chainlet.dependencies:
        if dependency.arg_name in given:
            continue
        if not dependency.is_chainlet:
            # A StubBase dependency: built, as a deployed runtime builds it, when a descriptor
            # names its class; otherwise the user builds it from the context.
            descriptor = settings.chainlet_to_service.get(dependency.chainlet_cls.__name__)
            if descriptor is not None:
                kwargs[dependency.arg_name] = dependency.chainlet_cls(descriptor)
            continue
        dep_definition = definition_of(dependency.chainlet_cls)
        if dep_definition.endpoint.stream_item is not None:
            kwargs[dependency.arg_name] = _StreamView(
                instances[dependency.chainlet_cls], dep_definition.name, chainlet.endpoint.is_async)
            continue
        # The instance itself, as in truss-chains: a deployed stub has the dependency's own
        # flavour too (`serving/stub.py`), so `run_remote` is called the same way in both.
        kwargs[dependency.arg_name] = instances[dependency.chainlet_cls]
    if chainlet.context_arg is not None and chainlet.context_arg not in given:
        keys = chainlet.remote_config.assets.secret_keys
        # StubBase dependencies are keyed by their class name, chainlets by their chainlet name.
        dep_names = {d.chainlet_cls.__name__ for d in chainlet.dependencies}
        dep_names.update(graph.dependency_names(chainlet))
        kwargs[chainlet.context_arg] = DeploymentContext[Any](
            data_dir=settings.data_dir,
            user_config=chainlet.default_user_config,
            chainlet_to_service={
                k: v for k, v in settings.chainlet_to_service.items() if k in dep_names
            },
            secrets={k: v for k, v in settings.secrets.items() if k in keys},
            user_env=settings.user_env,
        )
    return kwargs


class _StreamView:
    """A caller's view of a streaming chainlet, as its stub looks: ``dep.run_remote(...)`` is the
    async iterator itself (not awaited), also when the chainlet returns a stream (a relay)."""

    def __init__(self, chainlet: ChainletBase, name: str, caller_is_async: bool) -> None:
        self._chainlet = chainlet
        self._name = name
        self._caller_is_async = caller_is_async

    def run_remote(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        if not self._caller_is_async:
            raise ChainsRuntimeError(
                f"`{self._name}.run_remote` streams; read it from an `async def run_remote` "
                "(`async for item in self.dep.run_remote(...)`): a plain `def run_remote` cannot "
                "iterate a stream.")
        result = self._chainlet.run_remote(*args, **kwargs)  # type: ignore[attr-defined]
        return result if hasattr(result, "__anext__") else _awaited_stream(result)

    def __getattr__(self, item: str) -> Any:
        return getattr(self._chainlet, item)


async def _awaited_stream(returned: Awaitable[AsyncIterator[Any]]) -> AsyncIterator[Any]:
    async for item in await returned:
        yield item
