"""The local target (embedded default): supervised processes on 127.0.0.1."""

from infra_chains.targets.local.target import LocalChainService, LocalTarget

__all__ = ["LocalChainService", "LocalTarget"]
