"""Exceptions across the wire: user exception -> error response -> exception in the caller.

The server turns an exception raised by user code into ``{"error": RemoteErrorDetail}`` with
the user's frames only (frames of infra_chains and the standard library are trimmed, they are
noise to a chain author). The calling stub turns that body back into an exception whose ``str()``
is the remote traceback, naming the chainlet. When the caller lets it propagate, its own server
wraps it again, so after three hops the message holds three tracebacks, the root error last.

* a built-in exception type (``ValueError``, ``KeyError``, ...) is re-raised as that type;
* any other type becomes `RemoteChainletError` (the original class is named in the message);
* `HTTPException` raised deliberately by user code, and `RemoteHTTPError` (its image in the
  caller), keep their status on every hop: a 422 deep in the chain reaches the client as 422.
"""

from __future__ import annotations

import builtins
import functools
import os
import sysconfig
import traceback
from typing import Any

import pydantic
import pydantic_core

from infra_chains.errors import (
    DependencyUnreachableError,
    RemoteChainletError,
    RemoteError,
    RemoteHTTPError,
    RemoteTimeoutError,
)
from infra_chains.public_types import RemoteErrorDetail, StackFrame

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_STDLIB_DIRS = tuple(
    {os.path.abspath(p) + os.sep for p in (sysconfig.get_paths()["stdlib"], os.path.dirname(os.__file__))}
)
_FRAMEWORK_DIRS = (_PACKAGE_DIR + os.sep, *_STDLIB_DIRS)

# Built-ins that are control flow, not errors, or that need more than a message to construct.
_NOT_RERAISED = frozenset({"StopIteration", "StopAsyncIteration", "GeneratorExit"})


class HTTPException(Exception):
    """Raise in ``run_remote`` to answer with a deliberate HTTP error status (e.g. 422, 404).

    The status is kept across every hop of a chain: a caller that does not catch the resulting
    `RemoteHTTPError` answers its own caller with the same status.

    Args:
        status_code: The HTTP status to answer with (4xx or 5xx).
        detail: A message for the caller.
    """

    def __init__(self, status_code: int, detail: str = "") -> None:
        if not 400 <= status_code <= 599:
            raise ValueError(f"HTTPException status_code must be 4xx or 5xx, got {status_code}")
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail

    def __repr__(self) -> str:
        return f"HTTPException(status_code={self.status_code}, detail={self.detail!r})"


#: Kinds (``exception_cls_name``) of our server's refusals made before user code ran: a request
#: refused so was not acted on, and a stub may send it again whatever its ``retries``.
NOT_PROCESSED_KINDS = frozenset({"NotReady", "Overloaded", "MemoryBudgetExhausted"})


def status_of(exc: BaseException) -> int:
    """The HTTP status an exception from user code is answered with.

    A dependency that could not be reached is 503 and one that did not answer in time 504, so
    the caller's own caller sees a retryable gateway error, not a bug (500).
    """
    if isinstance(exc, HTTPException):
        return exc.status_code
    foreign = getattr(exc, "status_code", None)
    if (isinstance(foreign, int) and 400 <= foreign <= 599
            and any(c.__name__ == "HTTPException" for c in type(exc).__mro__)):
        # fastapi's (starlette's) HTTPException, which truss-chains users raise for a status.
        return foreign
    if isinstance(exc, RemoteHTTPError):
        return exc.status_code
    if isinstance(exc, DependencyUnreachableError):
        return 503
    if isinstance(exc, RemoteTimeoutError):
        return 504
    return 500


def not_processed(status: int, body: bytes | bytearray) -> bool:
    """Whether an error answer says the request was refused before any user code ran."""
    if status != 503 or len(body) > 4096:
        return False
    detail = _parse_detail(body)
    return (detail is not None and detail.exception_module_name == "infra_chains"
            and detail.exception_cls_name in NOT_PROCESSED_KINDS)


def detail_from_exception(exc: BaseException, remote_name: str) -> RemoteErrorDetail:
    """Describe ``exc`` for the caller: class, module, message and the user's frames only."""
    frames = [
        StackFrame(filename=f.filename, lineno=f.lineno, name=f.name, line=f.line)
        for f in traceback.extract_tb(exc.__traceback__)
        if not _is_framework_file(f.filename)
    ]
    cls = type(exc)
    return RemoteErrorDetail(
        remote_name=remote_name,
        exception_cls_name=cls.__qualname__ if cls is not _RemoteKeyError else "KeyError",
        exception_module_name="builtins" if cls is _RemoteKeyError else cls.__module__,
        exception_message=_message(exc),
        user_stack_trace=frames,
        status_code=status_of(exc),
    )


def error_body(detail: RemoteErrorDetail, extra: dict[str, Any] | None = None) -> bytes:
    """The JSON body of an error response."""
    return pydantic_core.to_json({"error": detail.model_dump(mode="json"), **(extra or {})})


def exception_from_response(
    status: int, body: bytes | bytearray, *, chainlet: str, url: str, attempts: int = 1
) -> Exception:
    """The exception a stub raises for a non-2xx answer of chainlet ``chainlet`` at ``url``."""
    detail = _parse_detail(body)
    if detail is None:
        text = body[:500].decode("utf-8", "replace").strip()
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        return RemoteHTTPError(
            f"Chainlet `{chainlet}` at {url} answered HTTP {status}{tried}: {text or '(empty body)'}",
            status, chainlet=chainlet, url=url,
        )
    message = detail.format()
    if status != 500:
        return RemoteHTTPError(message, status, chainlet=chainlet, url=url)
    cls = _builtin_exception(detail)
    if cls is not None:
        try:
            error = cls(message)
        except TypeError:  # e.g. UnicodeDecodeError needs five arguments
            pass
        else:
            error.__infra_chains_detail__ = detail  # type: ignore[attr-defined]
            return error
    return RemoteChainletError(message, detail, chainlet=chainlet, url=url)


def _parse_detail(body: bytes | bytearray) -> RemoteErrorDetail | None:
    try:
        payload = pydantic_core.from_json(body)
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            return RemoteErrorDetail.model_validate(payload["error"])
    except (ValueError, pydantic.ValidationError):
        pass
    return None


def _builtin_exception(detail: RemoteErrorDetail) -> type[Exception] | None:
    if detail.exception_module_name != "builtins" or detail.exception_cls_name in _NOT_RERAISED:
        return None
    cls = getattr(builtins, detail.exception_cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        return None
    return _RemoteKeyError if cls is KeyError else cls


class _RemoteKeyError(KeyError):
    """A remote ``KeyError``: ``str()`` of a plain KeyError is the repr of its argument, which
    would print the remote traceback on one line with escaped newlines."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and not isinstance(exc, _RemoteKeyError):
        return repr(exc.args[0]) if len(exc.args) == 1 else str(exc)
    return str(exc)


@functools.lru_cache(maxsize=1024)
def _is_framework_file(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_FRAMEWORK_DIRS)


__all__ = [
    "HTTPException",
    "RemoteError",
    "detail_from_exception",
    "error_body",
    "exception_from_response",
    "not_processed",
    "status_of",
]
