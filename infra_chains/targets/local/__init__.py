"""The local target (embedded default): supervised processes on 127.0.0.1.

`LocalTarget` is loaded on first use: the supervisor (``python -m
infra_chains.targets.local.supervisor``) imports this package too, and needs none of push's
planning and build modules, which would delay every chainlet's start (~0.07 s).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra_chains.targets.local.target import LocalChainService, LocalTarget

__all__ = ["LocalChainService", "LocalTarget"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from infra_chains.targets.local import target

        return getattr(target, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
