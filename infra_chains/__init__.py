"""infra_chains: the truss-chains API, deployed to infrastructure you own.

``import infra_chains as chains`` is all a truss-chains user changes.
"""

from infra_chains.chain_service import ChainService
from infra_chains.deploy import deploy_remotely, push
from infra_chains.errors import (
    ChainsError,
    ChainsRuntimeError,
    ChainsUsageError,
    DependencyUnreachableError,
    RemoteChainletError,
    RemoteError,
    RemoteHTTPError,
    RemoteTimeoutError,
)
from infra_chains.framework.chainlet import ChainletBase, mark_entrypoint
from infra_chains.framework.markers import depends, depends_context
from infra_chains.framework.run_local import run_local
from infra_chains.paths import AbsPath, make_abs_path_here
from infra_chains.public_types import (
    DeployedChainlet,
    DeploymentContext,
    Environment,
    RemoteErrorDetail,
    RPCOptions,
    ServiceDescriptor,
)
from infra_chains.remote_config import (
    Assets,
    BasetenImage,
    Compute,
    CustomImage,
    DockerAuthSettings,
    DockerImage,
    ExternalDataItem,
    ModelRepo,
    RemoteConfig,
)
from infra_chains.serving.remote_errors import HTTPException
from infra_chains.serving.stub import StubBase

__version__ = "0.1.0"

__all__ = [
    "AbsPath",
    "Assets",
    "BasetenImage",
    "ChainService",
    "ChainletBase",
    "ChainsError",
    "ChainsRuntimeError",
    "ChainsUsageError",
    "Compute",
    "CustomImage",
    "DependencyUnreachableError",
    "DeployedChainlet",
    "DeploymentContext",
    "DockerAuthSettings",
    "DockerImage",
    "Environment",
    "ExternalDataItem",
    "HTTPException",
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
    "depends",
    "depends_context",
    "deploy_remotely",
    "make_abs_path_here",
    "mark_entrypoint",
    "push",
    "run_local",
]
