"""What every deployment target offers; `push` and the CLI talk only to this."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping

import pydantic

from infra_chains.chain_service import ChainService
from infra_chains.plan.models import ChainPlan


class ChainletProgress(pydantic.BaseModel):
    """One chainlet's progress during a deploy, for progress displays."""

    name: str
    status: str
    url: str | None = None
    restarts: int = 0
    changed: bool = True
    message: str | None = None


ProgressCallback = Callable[[list[ChainletProgress]], None]


class Target(abc.ABC):
    """A place chains run: turns a `ChainPlan` into running services."""

    name: str

    @abc.abstractmethod
    def deploy(
        self,
        plan: ChainPlan,
        secrets: Mapping[str, str],
        *,
        ready_timeout_sec: float = 60.0,
        on_progress: ProgressCallback | None = None,
    ) -> ChainService:
        """Bring ``plan`` up (changed chainlets only) and wait until it is ready."""

    @abc.abstractmethod
    def service(self, chain_name: str) -> ChainService:
        """The handle of an already deployed chain (error if there is none)."""

    @abc.abstractmethod
    def down(self, chain_name: str) -> bool:
        """Stop and remove the chain; False if there was nothing to remove. Idempotent."""

    @abc.abstractmethod
    def chains(self) -> list[str]:
        """Names of the chains deployed here."""
