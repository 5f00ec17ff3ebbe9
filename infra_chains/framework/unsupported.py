"""truss-chains names that exist only for Baseten's platform.

``EngineBuilderLLMChainlet`` (a chainlet whose model server Baseten generates from an engine
config), ``EngineBuilderLLMInput`` (its request type) and ``TrussChainlet`` (a sibling truss
directory deployed by Baseten) have nothing to deploy to on infrastructure the user owns. They
exist here so a ported file imports; the first *use* (subclassing, instantiating, depending on,
marking as entrypoint, pushing) raises a `ChainsUsageError` that says so, with the way out.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar, NoReturn

from infra_chains.errors import ChainsUsageError, DefinitionProblem

_ATTRIBUTE = "__infra_chains_unsupported__"


def unsupported_reason(obj: object) -> str | None:
    """Why ``obj`` (a class or an instance) cannot be used with infra_chains, or None."""
    reason = getattr(obj, _ATTRIBUTE, None)
    return reason if isinstance(reason, str) else None


def raise_unsupported(obj: object, *, file: str, line: int, location: str) -> NoReturn:
    reason = unsupported_reason(obj)
    raise ChainsUsageError.from_problems([
        DefinitionProblem("not-supported", file, line, location,
                          f"not supported by infra_chains: {reason}")
    ])


def unsupported_error(obj: object, use: str) -> ChainsUsageError:
    """The error for ``use`` (e.g. "as the entrypoint") of ``obj``, where no file:line applies."""
    name = getattr(obj, "__name__", repr(obj))
    return ChainsUsageError(f"`{name}` {use}: not supported by infra_chains: {unsupported_reason(obj)}.")


def _raise_at_caller(cls: type[Any], what: str, depth: int) -> NoReturn:
    frame = sys._getframe(depth + 1)
    raise_unsupported(cls, file=frame.f_code.co_filename, line=frame.f_lineno, location=what)


class _Unsupported:
    __infra_chains_unsupported__: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if _ATTRIBUTE in cls.__dict__:
            return  # one of the public names below, not a user's subclass
        # Frame 1 is the `class` statement (type.__new__ adds none): the user's file and line.
        _raise_at_caller(cls, cls.__name__, 1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _raise_at_caller(type(self), type(self).__name__, 1)


class EngineBuilderLLMChainlet(_Unsupported):
    """truss-chains' chainlet for a Baseten engine-builder LLM; not supported by infra_chains."""

    __infra_chains_unsupported__: ClassVar[str] = (
        "`EngineBuilderLLMChainlet` deploys a model server that Baseten's engine builder "
        "generates (TensorRT-LLM). Serve the LLM yourself (e.g. vLLM or TGI, in a chainlet or "
        "as a separate service) and call it from a `chains.ChainletBase`, or through a "
        "`chains.StubBase` subclass with `StubBase.from_url(...)`"
    )


class EngineBuilderLLMInput(_Unsupported):
    """truss-chains' request type of an engine-builder LLM; not supported by infra_chains."""

    __infra_chains_unsupported__: ClassVar[str] = (
        "`EngineBuilderLLMInput` is the request of a Baseten engine-builder LLM "
        "(`EngineBuilderLLMChainlet`). Define a pydantic model with the fields your LLM "
        "server takes (e.g. its OpenAI-style `messages`, `max_tokens`) instead"
    )


class TrussChainlet(_Unsupported):
    """truss-chains' wrapper of a sibling Baseten truss directory; not supported by infra_chains."""

    __infra_chains_unsupported__: ClassVar[str] = (
        "`TrussChainlet` wraps a truss directory that Baseten builds and deploys beside the "
        "chain. Port the truss' model to a `chains.ChainletBase` (its `predict` as "
        "`run_remote`), or deploy it yourself and call it through a `chains.StubBase` subclass "
        "with `StubBase.from_url(...)`"
    )
