"""What a chainlet class declares, read once from the class: its endpoint, dependencies,
context argument and config. Every later step (graph, plan, serving) reads this, never the
class again, so there is one place that interprets a chainlet's shape."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pydantic

from infra_chains.public_types import RPCOptions
from infra_chains.remote_config import RemoteConfig

ENDPOINT_NAME = "run_remote"
MODEL_ENDPOINT_NAME = "predict"
HEALTH_CHECK_NAME = "is_healthy"


@dataclasses.dataclass(frozen=True)
class EntityKind:
    """What a class is validated as: a chainlet (endpoint ``run_remote``, may have dependencies)
    or a standalone model (``chains.ModelBase``: endpoint ``predict``, no dependencies), as in
    truss-chains. A class says which with ``__infra_chains_kind__``; chainlets by default."""

    label: str
    endpoint_name: str
    allows_dependencies: bool


CHAINLET_KIND = EntityKind("chainlet", ENDPOINT_NAME, allows_dependencies=True)
MODEL_KIND = EntityKind("model", MODEL_ENDPOINT_NAME, allows_dependencies=False)


def kind_of(cls: type[Any]) -> EntityKind:
    kind = getattr(cls, "__infra_chains_kind__", CHAINLET_KIND)
    return kind if isinstance(kind, EntityKind) else CHAINLET_KIND


@dataclasses.dataclass(frozen=True)
class EndpointParam:
    """One argument of ``run_remote``."""

    name: str
    annotation: Any
    default: Any = inspect.Parameter.empty

    @property
    def has_default(self) -> bool:
        return self.default is not inspect.Parameter.empty


@dataclasses.dataclass(frozen=True)
class EndpointDefinition:
    """``run_remote``'s signature, with annotations resolved."""

    is_async: bool
    params: tuple[EndpointParam, ...]
    return_annotation: Any
    uses_binary: bool
    line: int
    #: The method the runtime calls: ``run_remote``, or ``predict`` for a ``ModelBase``.
    method_name: str = ENDPOINT_NAME
    #: ``str`` or ``bytes`` for a streaming endpoint (``-> AsyncIterator[str]``), else None.
    stream_item: type[Any] | None = None
    #: ``run_remote(self, websocket: chains.WebSocketProtocol) -> None``: served at ``/websocket``
    #: (`serving.websocket`); ``params`` is then empty and the return annotation None.
    is_websocket: bool = False


@dataclasses.dataclass(frozen=True)
class DependencyDefinition:
    """One ``x: Dep = chains.depends(Dep, ...)`` argument of ``__init__``."""

    arg_name: str
    chainlet_cls: type[Any]
    options: RPCOptions

    @property
    def is_chainlet(self) -> bool:
        """False for a ``StubBase`` dependency (an external model the user wraps)."""
        from infra_chains.framework.chainlet import ChainletBase

        return issubclass(self.chainlet_cls, ChainletBase)


@dataclasses.dataclass(frozen=True)
class ChainletDefinition:
    """Everything the framework knows about one chainlet class."""

    cls: type[Any]
    name: str
    file: str
    line: int
    endpoint: EndpointDefinition
    dependencies: tuple[DependencyDefinition, ...]
    context_arg: str | None
    remote_config: RemoteConfig
    default_user_config: pydantic.BaseModel | None
    has_health_check: bool
    health_check_is_async: bool

    @property
    def import_name(self) -> str:
        """``module:QualName`` as a runtime imports it (relative to the workspace, see plan)."""
        return f"{self.cls.__module__}:{self.cls.__qualname__}"
