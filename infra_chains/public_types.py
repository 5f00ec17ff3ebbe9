"""Values a chainlet sees at run time: RPC options, service descriptors, the deployment context
and the remote error body. They cross process boundaries, so each is a pydantic model."""

from __future__ import annotations

import os
import pathlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Annotated, Any, ClassVar, Generic, NoReturn, Protocol, TypeVar

import pydantic

from infra_chains._config_model import ConfigModel
from infra_chains.errors import ChainsRuntimeError, ProblemCode

UserConfigT = TypeVar("UserConfigT")

#: Environment variable through which a target hands an API key to chainlets (see
#: `DeploymentContext.get_api_key`). The local target has none.
API_KEY_SECRET_NAME = "infra_chains_api_key"


class _FrozenModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")


class RPCOptions(ConfigModel):
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

    __problem_code__: ClassVar[ProblemCode] = "rpc-options-value"

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


class DeployedServiceDescriptor(ServiceDescriptor):
    """truss-chains' name for a `ServiceDescriptor` (``run_local``'s ``chainlet_to_service``,
    ``StubBase`` construction); ``display_name`` is kept for code that sets or reads it.

    truss-chains' ``internal_url`` (Baseten's gateway) is not supported: give ``predict_url``.
    """

    display_name: str | None = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _no_internal_url(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("internal_url") is not None:
            raise ValueError(
                "internal_url is not supported by infra_chains: it names a route of Baseten's "
                "gateway; give the service's predict_url instead"
            )
        if isinstance(data, dict) and "internal_url" in data:
            data = {k: v for k, v in data.items() if k != "internal_url"}
        return data


class Environment(_FrozenModel):
    """The environment (stack) a chain is deployed to, e.g. ``dev`` or ``prod``."""

    name: str


class Secrets(Mapping[str, str]):
    """A chainlet's secret values, read one at a time by name: ``context.secrets["api_token"]``.

    A read-only mapping that never shows a value by itself: ``repr``/``str``, pydantic dumps (of
    the context too) and logs of either show the names with masked values, ``items()`` and
    ``values()`` refuse, and pickling refuses (a pickle would carry the values to wherever it is
    stored). Names are not secret: ``in``, ``len``, iteration and ``keys()`` give names. A value
    leaves only when code asks for it by name, so a stray ``print(context)`` or ``logger.info(
    "%s", context.secrets)`` cannot leak it.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        # A copy: the caller's dict may change (or be logged) later; this one never is.
        self._values: dict[str, str] = {key: values[key] for key in values} if values else {}

    def __getitem__(self, key: str) -> str:
        try:
            return self._values[key]
        except KeyError:
            known = ", ".join(repr(name) for name in self._values) or "none"
            raise KeyError(
                f"No secret {key!r} (this chainlet's secrets: {known}). A chainlet sees only the "
                "secrets named in its remote_config.assets.secret_keys."
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secrets):
            return self._values == other._values
        if isinstance(other, Mapping):
            return self._values == {key: other[key] for key in other}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # unhashable, as a dict

    def items(self) -> NoReturn:
        raise TypeError(_NO_BULK_READ)

    def values(self) -> NoReturn:
        raise TypeError(_NO_BULK_READ)

    def masked(self) -> dict[str, str]:
        """The names, each with ``SECRET_MASK`` for a value: what dumps and logs show."""
        return dict.fromkeys(self._values, SECRET_MASK)

    def __repr__(self) -> str:
        return f"Secrets({self.masked()!r})"

    __str__ = __repr__

    def __copy__(self) -> Secrets:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> Secrets:
        return self

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(
            "Secrets are not pickled: the pickle would hold their values. Pass the secret names "
            "and read each value where it is needed."
        )


#: What a secret value is shown as (pydantic's `SecretStr` shows the same).
SECRET_MASK = "**********"

_NO_BULK_READ = (
    "Secret values are read one at a time by name (secrets[name] or secrets.get(name)), so that "
    "no loop or log line prints them all; iterate over the names with `for name in secrets`."
)


def _to_secrets(value: object) -> Secrets:
    if isinstance(value, Secrets):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"secrets must be a mapping of names to values, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str) or not isinstance(value[key], str):
            raise ValueError(f"secret {key!r}: names and values must be strings")
    return Secrets(value)


# Validated into `Secrets` from any str -> str mapping (so `DeploymentContext(secrets={...})` in a
# test keeps type-checking), dumped masked.
_SecretsField = Annotated[
    Mapping[str, str],
    pydantic.PlainValidator(_to_secrets),
    pydantic.PlainSerializer(lambda secrets: secrets.masked(), return_type=dict[str, str]),
    pydantic.WithJsonSchema({"type": "object", "additionalProperties": {"type": "string"}}),
]


class DeploymentContext(pydantic.BaseModel, Generic[UserConfigT]):
    """Config values and resources a chainlet needs to set itself up.

    Add it as the trailing ``__init__`` argument (``context: chains.DeploymentContext =
    chains.depends_context()``) to read secrets, ``user_env`` or the data directory.

    Args:
        data_dir: Directory holding the chainlet's data (its ``DockerImage.data_dir`` content,
            cached model repos and external data), or ``None``.
        user_config: The chainlet's ``default_user_config``, possibly overridden per stack.
        chainlet_to_service: Service descriptors of this chainlet's dependencies only.
        secrets: Secret values, only those named in ``remote_config.assets.secret_keys``, read by
            name (``context.secrets["api_token"]``); a `Secrets` mapping that never prints a
            value (``repr``, dumps and logs of the context show them masked).
        user_env: Values given at push time (``--user-env K=V``), e.g. to tell dev from prod.
        environment: The environment (stack) deployed to, where the target has one.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    data_dir: pathlib.Path | None = None
    user_config: UserConfigT = None  # type: ignore[assignment]
    chainlet_to_service: Mapping[str, ServiceDescriptor] = pydantic.Field(default_factory=dict)
    secrets: _SecretsField = pydantic.Field(default_factory=Secrets)
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


_Frame = StackFrame  # the field's type, by a name the nested alias below does not shadow


class RemoteErrorDetail(_FrozenModel):
    """What a deployed chainlet tells its caller when its user code raised.

    It is the JSON body of the error response (``{"error": RemoteErrorDetail}``). Only the user's
    frames are kept; the framework's own are trimmed.
    """

    #: truss-chains nests the frame type here (``RemoteErrorDetail.StackFrame``).
    StackFrame: ClassVar[type[_Frame]] = _Frame

    remote_name: str
    exception_cls_name: str
    exception_module_name: str | None = None
    exception_message: str
    user_stack_trace: list[_Frame] = pydantic.Field(default_factory=list)
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


class WebSocketProtocol(Protocol):
    """The websocket a chainlet serves: ``async def run_remote(self, websocket:
    chains.WebSocketProtocol) -> None`` (the entrypoint only; no other argument).

    The connection is accepted before ``run_remote`` is called and closed with code 1000 when it
    returns (1011 if it raises). Every ``receive*`` raises ``chains.WebSocketDisconnect`` (also a
    ``fastapi.WebSocketDisconnect`` when fastapi is imported) once the client has closed, and
    ``send*`` on a closed connection raises it too. ``iter_*`` may be used with or without
    ``await``: ``async for text in websocket.iter_text()``. ``headers`` are the handshake's,
    case-insensitive.
    """

    headers: Mapping[str, str]

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...

    async def receive(self) -> str | bytes: ...
    async def receive_text(self) -> str: ...
    async def receive_bytes(self) -> bytes: ...
    async def receive_json(self) -> Any: ...

    async def send_text(self, data: str) -> None: ...
    async def send_bytes(self, data: bytes) -> None: ...
    async def send_json(self, data: Any) -> None: ...

    async def iter_text(self) -> AsyncIterator[str]: ...
    async def iter_bytes(self) -> AsyncIterator[bytes]: ...
    async def iter_json(self) -> AsyncIterator[Any]: ...

    def is_connected(self) -> bool: ...


__all__ = [
    "DeployedChainlet",
    "DeployedServiceDescriptor",
    "DeploymentContext",
    "Environment",
    "RPCOptions",
    "RemoteErrorDetail",
    "Secrets",
    "ServiceDescriptor",
    "StackFrame",
    "WebSocketProtocol",
]


