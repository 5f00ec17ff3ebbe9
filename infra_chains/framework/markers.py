"""`depends` and `depends_context`: the defaults that wire chainlets together.

They return *markers*. The runtime (``run_local`` or a deployed serving process) swaps each
marker for a local instance or a typed stub before ``__init__`` runs.
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar, cast

import pydantic

from infra_chains._config_model import config_value_error
from infra_chains.errors import ChainsRuntimeError
from infra_chains.framework.unsupported import raise_unsupported, unsupported_reason
from infra_chains.public_types import DeploymentContext, RPCOptions

T = TypeVar("T")


class NotInjectedError(ChainsRuntimeError, AttributeError):
    """A marker was used as the object it stands for: it was never injected.

    A `ChainsRuntimeError`, as truss-chains raises, and an ``AttributeError``, so ``hasattr`` and
    ``getattr(marker, name, default)`` keep their meaning for code that probes objects.
    """


class DependencyMarker:
    """Stands in for a dependency in ``__init__``'s defaults until the runtime injects it."""

    __slots__ = ("chainlet_cls", "options")

    def __init__(self, chainlet_cls: Any, options: RPCOptions) -> None:
        self.chainlet_cls = chainlet_cls
        self.options = options

    def __getattr__(self, item: str) -> Any:
        name = getattr(self.chainlet_cls, "__name__", repr(self.chainlet_cls))
        raise NotInjectedError(
            f"`{name}` was not injected: `chains.depends({name})` is only a marker, used here "
            f"(`.{item}`) as if it were the dependency. Use it only as the default of an "
            f"`__init__` argument (`dep: {name} = chains.depends({name})`) and instantiate the "
            "chain inside `chains.run_local()`, or deploy it with `chains.push(...)`."
        )

    def __repr__(self) -> str:
        name = getattr(self.chainlet_cls, "__name__", repr(self.chainlet_cls))
        return f"depends({name}, {self.options!r})"


class ContextMarker:
    """Stands in for the ``DeploymentContext`` until the runtime injects it."""

    __slots__ = ()

    def __getattr__(self, item: str) -> Any:
        raise NotInjectedError(
            "The DeploymentContext was not injected: `chains.depends_context()` is only a marker, "
            f"used here (`.{item}`) as if it were the context. Use it only as the default of the "
            "trailing `__init__` argument (`context: chains.DeploymentContext = "
            "chains.depends_context()`) and instantiate the chain inside `chains.run_local()`, or "
            "deploy it."
        )

    def __repr__(self) -> str:
        return "depends_context()"


def depends(
    chainlet_cls: type[T],
    retries: int = 1,
    timeout_sec: float = 600.0,
    use_binary: bool = False,
    concurrency_limit: int = 300,
) -> T:
    """Declare that a chainlet depends on ``chainlet_cls``; use it as an ``__init__`` default.

    At run time the default is replaced by a local instance (``run_local``) or a typed stub to
    the deployed service, whose ``run_remote`` has the same signature (and keeps its defaults).

    Args:
        chainlet_cls: The dependency: a ``ChainletBase`` subclass (or a ``StubBase`` subclass).
        retries: Number of *attempts* in total (1 = no retry), as in truss-chains. Only
            connection errors and HTTP 502/503/504 are retried.
        timeout_sec: Time limit of one attempt, in seconds.
        use_binary: Use the msgpack codec (raw bytes for numpy arrays and ``bytes``).
        concurrency_limit: Most calls in flight at once through this stub.
    """
    if unsupported_reason(chainlet_cls) is not None:
        caller = sys._getframe(1)
        raise_unsupported(chainlet_cls, file=caller.f_code.co_filename, line=caller.f_lineno,
                          location=f"depends({getattr(chainlet_cls, '__name__', chainlet_cls)})")
    try:
        options = RPCOptions.model_validate({
            "retries": retries,
            "timeout_sec": timeout_sec,
            "use_binary": use_binary,
            "concurrency_limit": concurrency_limit,
        })
    except pydantic.ValidationError as exc:
        name = getattr(chainlet_cls, "__name__", repr(chainlet_cls))
        raise config_value_error(
            exc, RPCOptions, code="depends-options", call=f"depends({name}, ", help_name="depends"
        ) from None
    # Typed as the chainlet so editors and mypy see `self.dep.run_remote(...)` correctly.
    return cast(T, DependencyMarker(chainlet_cls, options))


def depends_context() -> DeploymentContext[Any]:
    """Declare the trailing ``context`` argument of ``__init__``; replaced at run time."""
    return cast(DeploymentContext[Any], ContextMarker())
