"""The exceptions infra_chains raises, and what to catch.

```
ChainsError                      base of everything below
├── ChainsUsageError             a chain is defined or used wrongly; fix the code (definition time)
│   └── ConfigValueError         a config value in a chain file is invalid (also a ValueError)
├── ChainsRuntimeError           misuse at run time, e.g. instantiating a chainlet by hand
├── ConfigError                  a runtime contract, state file or target setting is invalid
├── DeploymentError              a target could not bring a chain up (names the chainlet, log tail)
└── RemoteError                  a call to a deployed chainlet failed
    ├── RemoteChainletError      the remote user code raised; `detail` holds RemoteErrorDetail
    │                            (truss-chains' name for it: GenericRemoteException)
    ├── RemoteHTTPError          the remote answered a deliberate non-2xx status (kept across hops)
    ├── DependencyUnreachableError  no connection could be made after all retries
    └── RemoteTimeoutError       no answer within `RPCOptions.timeout_sec`
```

Built-in exception types raised by remote user code are re-raised by the stub *as their own
type* (a remote `ValueError` is a `ValueError` here), with the remote traceback in the message;
those instances also carry the `RemoteErrorDetail` in `__infra_chains_detail__`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Self

if TYPE_CHECKING:
    from infra_chains.public_types import RemoteErrorDetail

#: Every code a `DefinitionProblem` can carry, in one place: tests and docs refer to these, so a
#: code is renamed only here (and mypy finds every use).
ProblemCode = Literal[
    # run_remote, the endpoint
    "endpoint-missing", "endpoint-not-method", "endpoint-streaming", "endpoint-self",
    "endpoint-varargs", "endpoint-positional-only", "endpoint-annotation", "endpoint-type",
    "endpoint-return", "endpoint-websocket", "annotation-unresolved", "annotation-invalid",
    # __init__: dependencies and the context
    "init-varargs", "init-argument", "init-context-twice", "init-context-position",
    "dependency-type", "dependency-reused", "dependency-websocket", "depends-options",
    # class attributes and hooks
    "remote-config-type", "user-config-type", "health-check-signature", "transport-mismatch",
    # values of the config models (RemoteConfig and its parts, RPCOptions)
    "remote-config-value", "docker-image-value", "custom-image-value", "docker-auth-value",
    "compute-value", "assets-value", "model-repo-value", "external-data-value",
    "rpc-options-value", "chainlet-options-value", "weights-source-value",
    # truss-chains names that exist only for Baseten's platform
    "not-supported",
    # the chain as a whole
    "entrypoint-twice", "dependency-cycle", "name-clash",
    # planning: choices the chain's images cannot run with
    "base-image",
]


class ChainsError(Exception):
    """Base class of every error infra_chains raises on purpose."""


class ChainsUsageError(ChainsError):
    """A chain is defined or used in a way infra_chains does not support.

    Definition errors are collected per file and reported together; `problems` holds each one.
    """

    def __init__(self, message: str, problems: list[DefinitionProblem] | None = None) -> None:
        super().__init__(message)
        self.problems: list[DefinitionProblem] = problems or []

    @classmethod
    def from_problems(cls, problems: list[DefinitionProblem]) -> Self:
        """One error listing ``problems`` (duplicates dropped, ordered by place), one per line."""
        unique = sorted({str(p): p for p in problems}.values(), key=lambda p: (p.file, p.line, p.code))
        count = len(unique)
        header = f"{count} problem{'s' if count != 1 else ''} in the chain definition:"
        return cls("\n".join([header, *(f"  {p}" for p in unique)]), unique)


class ConfigValueError(ChainsUsageError, ValueError):
    """A config value written in a chain file (``Compute(cpu_count=0)``, ``depends(Dep,
    retries=0)``) is invalid; each problem names the file, line, chainlet member and the fix.

    A ``ValueError`` too, as the pydantic error it replaces was.
    """


class ChainsRuntimeError(ChainsError):
    """A chain is used wrongly at run time (e.g. a chainlet instantiated outside a runtime)."""


class ConfigError(ChainsError):
    """A contract, state file or target setting is invalid; the message names the field."""


class DeploymentError(ChainsError):
    """A target could not bring a chain (or one of its chainlets) up."""


class RemoteError(ChainsError):
    """A call to a deployed chainlet failed."""

    def __init__(self, message: str, *, chainlet: str = "", url: str = "") -> None:
        super().__init__(message)
        self.chainlet = chainlet
        self.url = url


class RemoteChainletError(RemoteError):
    """User code in a remote chainlet raised an exception that is not a Python built-in."""

    def __init__(self, message: str, detail: RemoteErrorDetail, *, chainlet: str = "", url: str = "") -> None:
        super().__init__(message, chainlet=chainlet, url=url)
        self.detail = detail


class RemoteHTTPError(RemoteError):
    """A remote chainlet answered with a deliberate HTTP error status (e.g. 422 from user code).

    The status survives every hop: a chainlet that lets this propagate answers with the same status.
    """

    def __init__(self, message: str, status_code: int, *, chainlet: str = "", url: str = "") -> None:
        super().__init__(message, chainlet=chainlet, url=url)
        self.status_code = status_code


#: truss-chains' name for the error a stub raises when the remote exception is not a built-in
#: type (which would be re-raised as itself): ``except chains.GenericRemoteException`` ports as is.
GenericRemoteException = RemoteChainletError


class DependencyUnreachableError(RemoteError):
    """No connection to a dependency could be made, after every allowed retry."""


class RemoteTimeoutError(RemoteError):
    """A dependency did not answer within the stub's `timeout_sec`."""


class DefinitionProblem:
    """One problem found in a chain definition: where it is and how to fix it."""

    __slots__ = ("code", "file", "line", "location", "message")

    def __init__(self, code: ProblemCode, file: str, line: int, location: str, message: str) -> None:
        self.code = code
        self.file = file
        self.line = line
        self.location = location
        self.message = message

    def __str__(self) -> str:
        return f"{self.file}:{self.line} ({self.location}) [{self.code}]: {self.message}"

    def __repr__(self) -> str:
        return f"DefinitionProblem({str(self)!r})"
