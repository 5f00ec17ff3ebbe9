"""What every deployment target offers; `push` and the CLI talk only to this.

A target validates every chain and chainlet name it is given (`infra_chains.plan.names`) before
it builds a path, a container name or an API call from it.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Literal, TypeVar, get_args

import pydantic

from infra_chains.chain_service import ChainService
from infra_chains.errors import ChainsUsageError
from infra_chains.plan.models import ChainPlan
from infra_chains.plan.names import validate_chainlet_name
from infra_chains.targets.secrets import resolve_secrets

_SourceT = TypeVar("_SourceT")

#: The one status vocabulary of a deployed chainlet, whatever the target:
#: ``starting`` (not ready yet), ``ready`` (serving), ``restarting`` (it died or hung and is being
#: brought back), ``failed`` (it will not come up without a new push), ``stopped`` (nothing runs it,
#: e.g. its supervisor or container is gone), ``unsupervised`` (it still serves, but nothing would
#: restart it: its supervisor died; the next push replaces it), ``unknown`` (the target cannot tell).
ChainletStatus = Literal["starting", "ready", "restarting", "failed", "stopped", "unsupervised", "unknown"]
CHAINLET_STATUSES: tuple[str, ...] = get_args(ChainletStatus)


class ChainletProgress(pydantic.BaseModel):
    """One chainlet's progress during a deploy, for progress displays.

    ``status`` is a `ChainletStatus`, or a deploy phase of the target's (e.g. ``building``).
    """

    name: str
    status: str
    url: str | None = None
    restarts: int = 0
    changed: bool = True
    message: str | None = None


ProgressCallback = Callable[[list[ChainletProgress]], None]


class ChainletInfo(pydantic.BaseModel):
    """One chainlet of a deployed chain, as `Target.status` reports it."""

    name: str
    status: ChainletStatus
    is_entrypoint: bool = False
    url: str | None = pydantic.Field(default=None, description="Its run_remote URL.")
    restarts: int = 0
    content_hash: str = pydantic.Field(default="", description="First 12 hex digits.")
    message: str | None = pydantic.Field(default=None, description="Why it is not ready.")
    pid: int | None = pydantic.Field(default=None, description="Process id (local target).")
    port: int | None = pydantic.Field(default=None, description="Listening port, where it has one.")


class ChainStatus(pydantic.BaseModel):
    """A deployed chain's status; `infra-chains status --json` prints exactly this.

    The shape is stable: fields are only ever added. Fields a target cannot know are null.
    """

    name: str
    target: str
    environment: str | None = None
    entrypoint: str
    entrypoint_url: str | None = None
    supervisor_pid: int | None = pydantic.Field(
        default=None, description="The chain's supervisor (local target), null when not running."
    )
    chainlets: list[ChainletInfo]

    @property
    def ready(self) -> bool:
        return bool(self.chainlets) and all(c.status == "ready" for c in self.chainlets)


class LogLine(pydantic.BaseModel):
    """One line of a chainlet's log (without its line break)."""

    chainlet: str
    text: str


class Target(abc.ABC):
    """A place chains run: turns a `ChainPlan` into running services."""

    name: str

    def secret_values(self, plan: ChainPlan, provided: Mapping[str, str]) -> dict[str, str]:
        """The secret values this target needs to deploy ``plan``, from ``provided`` or the
        environment; raises `MissingSecretsError` naming every missing one before anything starts.

        Targets that run the chain with the values (local, docker) need every declared secret;
        a target whose platform holds the secrets itself (Kubernetes stack secrets) overrides this.
        """
        return resolve_secrets(plan, provided)

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
    def status(self, chain_name: str) -> ChainStatus:
        """Every chainlet's status (error if the chain is not deployed here)."""

    @abc.abstractmethod
    def logs(
        self,
        chain_name: str,
        chainlet: str | None = None,
        *,
        follow: bool = False,
        lines: int = 50,
    ) -> Iterator[LogLine]:
        """The last ``lines`` lines of each chainlet's log (or of ``chainlet``'s), then, with
        ``follow``, new lines as they are written until the consumer stops iterating.

        Names are checked when called, not when iteration starts.
        """

    @abc.abstractmethod
    def down(self, chain_name: str) -> bool:
        """Stop and remove the chain; False if there was nothing to remove. Idempotent."""

    @abc.abstractmethod
    def chains(self) -> list[str]:
        """Names of the chains deployed here."""


logger = logging.getLogger(__name__)


def warn_of_replicas(plan: ChainPlan, target: str, runs: str) -> None:
    """Say, per chainlet asking for ``replicas > 1``, that ``target`` runs one of it (``runs``:
    "process", "container"): the plan is valid on every target, but only Kubernetes scales."""
    for spec in plan.chainlets:
        if spec.replicas > 1:
            logger.warning(
                "Chainlet %s of chain %s asks for %d replicas; the %s target runs one %s per "
                "chainlet (the kubernetes target runs replicas).",
                spec.name, plan.chain_name, spec.replicas, target, runs,
            )


def select_log_sources(
    chain_name: str, sources: Mapping[str, _SourceT], chainlet: str | None, lines: int
) -> dict[str, _SourceT]:
    """The log sources (files, containers, ...) a `Target.logs` call asks for, by chainlet name.

    One check for every target: ``lines`` is not negative, and an unknown chainlet is refused
    naming the ones there are (an invalid name as invalid, so it never reaches a path or an API).
    """
    if lines < 0:
        raise ChainsUsageError(f"lines must be 0 or more, got {lines}.")
    if chainlet is None:
        return dict(sources)
    if chainlet not in sources:
        validate_chainlet_name(chainlet)
        raise ChainsUsageError(
            f"Chain {chain_name!r} has no chainlet {chainlet!r}; choose one of: "
            f"{', '.join(sources)}."
        )
    return {chainlet: sources[chainlet]}
