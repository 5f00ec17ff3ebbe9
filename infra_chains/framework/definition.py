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
HEALTH_CHECK_NAME = "is_healthy"


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
