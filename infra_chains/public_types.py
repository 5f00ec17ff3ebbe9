"""Values a chainlet sees at run time: RPC options, service descriptors, the deployment context
and the remote error body. They cross process boundaries, so each is a pydantic model."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from typing import Generic, TypeVar

import pydantic

from infra_chains.errors import ChainsRuntimeError

UserConfigT = TypeVar("UserConfigT")

#: Environment variable through which a target hands an API key to chainlets (see
#: `DeploymentContext.get_api_key`). The local target has none.
API_KEY_SECRET_NAME = "infra_chains_api_key"


class _FrozenModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")


class RPCOptions(_FrozenModel):
    """Options of the stub that calls one dependency.

    Args:
        retries: Number of attempts in total, as in truss-chains: ``1`` means *no* retry. Only
            connection errors and HTTP 502/503/504 are retried (with exponential backoff and
            jitter), never a 4xx or an exception raised by the remote user code. A call that fails
            on a reused keep-alive connection before any response byte arrived is always retried
            once, since the server closing an idle connection is not a failure of the call.
        timeout_sec: Time limit for one attempt, in seconds.
        use_binary: Send arguments and results as msgpack (numpy arrays and ``bytes`` as raw
            bytes) instead of JSON. Chosen automatically for endpoints with binary types.
        concurrency_limit: Most calls this stub has in flight at once; further calls wait.
    """

    retries: int = pydantic.Field(default=1, ge=1)
    timeout_sec: float = pydantic.Field(default=600.0, gt=0)
    use_binary: bool = False
    concurrency_limit: int = pydantic.Field(default=300, ge=1)


class ServiceDescriptor(_FrozenModel):
    """Where a deployed chainlet is reached, and how to call it."""

    name: str
    predict_url: str
    options: RPCOptions = RPCOptions()

    @pydantic.field_validator("predict_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"predict_url must be an http(s) URL, got {value!r}")
        return value


class Environment(_FrozenModel):
    """The environment (stack) a chain is deployed to, e.g. ``dev`` or ``prod``."""

    name: str


class DeploymentContext(pydantic.BaseModel, Generic[UserConfigT]):
    """Config values and resources a chainlet needs to set itself up.

    Add it as the trailing ``__init__`` argument (``context: chains.DeploymentContext =
    chains.depends_context()``) to read secrets, ``user_env`` or the data directory.

    Args:
        data_dir: Directory holding the chainlet's data (its ``DockerImage.data_dir`` content,
            cached model repos and external data), or ``None``.
        user_config: The chainlet's ``default_user_config``, possibly overridden per stack.
        chainlet_to_service: Service descriptors of this chainlet's dependencies only.
        secrets: Secret values, only those named in ``remote_config.assets.secret_keys``.
        user_env: Values given at push time (``--user-env K=V``), e.g. to tell dev from prod.
        environment: The environment (stack) deployed to, where the target has one.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    data_dir: pathlib.Path | None = None
    user_config: UserConfigT = None  # type: ignore[assignment]
    chainlet_to_service: Mapping[str, ServiceDescriptor] = pydantic.Field(default_factory=dict)
    secrets: Mapping[str, str] = pydantic.Field(default_factory=dict)
    user_env: Mapping[str, str] = pydantic.Field(default_factory=dict)
    environment: Environment | None = None

    def get_service_descriptor(self, chainlet_name: str) -> ServiceDescriptor:
        """The descriptor of dependency ``chainlet_name``; a clear error names the known ones."""
        try:
            return self.chainlet_to_service[chainlet_name]
        except KeyError:
            known = ", ".join(sorted(self.chainlet_to_service)) or "none"
            raise ChainsRuntimeError(
                f"No service descriptor for chainlet {chainlet_name!r}; this chainlet's "
                f"dependencies are: {known}. Only a chainlet's own dependencies are listed."
            ) from None

    def get_api_key(self) -> str:
        """The deployment target's API key, for calling other chains deployed on it."""
        key = self.secrets.get(API_KEY_SECRET_NAME) or os.environ.get(API_KEY_SECRET_NAME.upper())
        if not key:
            raise ChainsRuntimeError(
                f"No API key: add {API_KEY_SECRET_NAME!r} to this chainlet's "
                "remote_config.assets.secret_keys and provide it at push time."
            )
        return key

    # truss-chains' name for the same accessor, so ported chainlets keep working.
    get_baseten_api_key = get_api_key


class StackFrame(_FrozenModel):
    """One frame of a remote traceback."""

    filename: str
    lineno: int | None = None
    name: str
    line: str | None = None


class RemoteErrorDetail(_FrozenModel):
    """What a deployed chainlet tells its caller when its user code raised.

    It is the JSON body of the error response (``{"error": RemoteErrorDetail}``). Only the user's
    frames are kept; the framework's own are trimmed.
    """

    remote_name: str
    exception_cls_name: str
    exception_module_name: str | None = None
    exception_message: str
    user_stack_trace: list[StackFrame] = pydantic.Field(default_factory=list)
    status_code: int = 500

    def format(self) -> str:
        """Render like a Python traceback, naming the chainlet it came from."""
        lines = ["Chainlet-Traceback (most recent call last):"]
        for frame in self.user_stack_trace:
            where = f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}'
            lines.append(where)
            if frame.line:
                lines.append(f"    {frame.line.strip()}")
        qualified = (
            self.exception_cls_name
            if self.exception_module_name in (None, "builtins", "__main__")
            else f"{self.exception_module_name}.{self.exception_cls_name}"
        )
        lines.append(f"{qualified}: {self.exception_message}" if self.exception_message else qualified)
        return f"(remote chainlet `{self.remote_name}`)\n" + "\n".join(lines)


class DeployedChainlet(_FrozenModel):
    """Status of one chainlet of a deployed chain, from `ChainService.get_info()`."""

    name: str
    is_entrypoint: bool
    status: str
    logs_url: str
    url: str | None = None


__all__ = [
    "DeployedChainlet",
    "DeploymentContext",
    "Environment",
    "RPCOptions",
    "RemoteErrorDetail",
    "ServiceDescriptor",
    "StackFrame",
]


