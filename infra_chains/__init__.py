"""infra_chains: the truss-chains API, deployed to infrastructure you own.

``import infra_chains as chains`` is all a truss-chains user changes.

`push` and `deploy_remotely` are loaded on first use: they pull in planning, build contexts and
the targets, which a deployed chainlet (``python -m infra_chains.serve`` imports this package
too) never needs. Loading them eagerly cost every chainlet process those imports at start-up and
in memory.
"""

import typing as _typing

from infra_chains.chain_service import ChainService
from infra_chains.errors import (
    ChainsError,
    ChainsRuntimeError,
    ChainsUsageError,
    ConfigError,
    DependencyUnreachableError,
    DeploymentError,
    GenericRemoteException,
    RemoteChainletError,
    RemoteError,
    RemoteHTTPError,
    RemoteTimeoutError,
)
from infra_chains.framework.chainlet import ChainletBase, mark_entrypoint
from infra_chains.framework.markers import depends, depends_context
from infra_chains.framework.model_base import ModelBase
from infra_chains.framework.run_local import run_local
from infra_chains.framework.unsupported import (
    EngineBuilderLLMChainlet,
    EngineBuilderLLMInput,
    TrussChainlet,
)
from infra_chains.paths import AbsPath, make_abs_path_here
from infra_chains.public_types import (
    DeployedChainlet,
    DeployedServiceDescriptor,
    DeploymentContext,
    Environment,
    RemoteErrorDetail,
    RPCOptions,
    ServiceDescriptor,
    WebSocketProtocol,
)
from infra_chains.remote_config import (
    Assets,
    BasetenImage,
    ChainletOptions,
    Compute,
    CustomImage,
    DockerAuthSettings,
    DockerImage,
    ExternalDataItem,
    ModelRepo,
    RemoteConfig,
    WeightsSource,
)
from infra_chains.serving.remote_errors import HTTPException
from infra_chains.serving.stub import StubBase
from infra_chains.serving.websocket import WebSocketDisconnect

# `chains.streaming.stream_writer(...)` works after `import infra_chains as chains`, as the
# issue's users write it; `from infra_chains import streaming` (truss-chains' form) works anyway.
from infra_chains import streaming  # a public submodule, not an `__all__` name

if _typing.TYPE_CHECKING:
    from infra_chains.deploy import deploy_remotely, push

__version__ = "0.1.0"

__all__ = [
    "AbsPath",
    "Assets",
    "BasetenImage",
    "ChainService",
    "ChainletBase",
    "ChainletOptions",
    "ChainsError",
    "ChainsRuntimeError",
    "ChainsUsageError",
    "Compute",
    "ConfigError",
    "CustomImage",
    "DependencyUnreachableError",
    "DeployedChainlet",
    "DeployedServiceDescriptor",
    "DeploymentContext",
    "DeploymentError",
    "DockerAuthSettings",
    "DockerImage",
    "EngineBuilderLLMChainlet",
    "EngineBuilderLLMInput",
    "Environment",
    "ExternalDataItem",
    "GenericRemoteException",
    "HTTPException",
    "ModelBase",
    "ModelRepo",
    "RPCOptions",
    "RemoteChainletError",
    "RemoteConfig",
    "RemoteError",
    "RemoteErrorDetail",
    "RemoteHTTPError",
    "RemoteTimeoutError",
    "ServiceDescriptor",
    "StubBase",
    "TrussChainlet",
    "WebSocketDisconnect",
    "WebSocketProtocol",
    "WeightsSource",
    "depends",
    "depends_context",
    "deploy_remotely",
    "make_abs_path_here",
    "mark_entrypoint",
    "push",
    "run_local",
]

_LAZY = frozenset({"deploy_remotely", "push"})


def __getattr__(name: str) -> _typing.Any:
    # PEP 562: runs only for names not found, i.e. the first use of a lazy name. The real
    # function is returned (its signature and docstring intact) and kept for later lookups.
    if name in _LAZY:
        from infra_chains import deploy

        value = getattr(deploy, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'infra_chains' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
