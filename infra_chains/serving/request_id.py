"""The id of the request being served, propagated through every hop as ``X-Request-ID``.

The server sets it for the duration of a request (taken from the caller's header, or new); stubs
send it on every outgoing call, so one id follows a request through the whole chain and its log
lines can be joined.
"""

from __future__ import annotations

import contextvars
import os

HEADER = "X-Request-ID"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "infra_chains_request_id", default=None
)


def current() -> str | None:
    """The id of the request this code is serving, or None outside a request."""
    return _current.get()


def new() -> str:
    """A fresh id: 16 hex digits, cheap (no uuid4 formatting) and unique enough for tracing."""
    return os.urandom(8).hex()


def set_current(value: str | None) -> contextvars.Token[str | None]:
    return _current.set(value)


def reset(token: contextvars.Token[str | None]) -> None:
    _current.reset(token)
