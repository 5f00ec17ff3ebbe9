"""``ChainletOptions.health_checks`` -> the probe numbers every target applies: the one mapping.

truss-chains states health in seconds (``restart_threshold_seconds`` and friends, all optional);
our targets probe at a fixed period and count misses. `health_policy` turns the first into the
second, from the target's own defaults, so each target (local supervisor, Docker ``HEALTHCHECK``,
Kubernetes probes) applies the same setting and an unset one keeps today's numbers exactly:

- ``restart_threshold_seconds`` -> liveness ``failure_threshold`` (misses of ``/healthz`` in a
  row before a restart: ``ceil(seconds / period)``);
- ``restart_check_delay_seconds`` -> no liveness probe this long after the replica is ready;
- ``stop_traffic_threshold_seconds`` -> readiness ``failure_threshold`` (misses of ``/readyz``
  before the replica gets no traffic);
- ``startup_threshold_seconds`` -> how long a replica may take to be ready (``__init__``).
"""

from __future__ import annotations

import dataclasses
import math

from infra_chains.remote_config import HealthChecks
from infra_chains.serving.probe import LIVENESS, READINESS, ProbePolicy


@dataclasses.dataclass(frozen=True)
class HealthPolicy:
    """What a target applies to one chainlet's replicas.

    ``liveness_delay_sec`` is 0 and ``startup_sec`` None unless set: each target then keeps its
    own (the supervisor's ready timeout, the stack's ``startup_timeout_sec``, the image's
    start period).
    """

    liveness: ProbePolicy
    readiness: ProbePolicy
    liveness_delay_sec: float = 0.0
    startup_sec: float | None = None

    @property
    def restart_after_sec(self) -> float:
        """About how long a replica may not answer ``/healthz`` before it is restarted."""
        return self.liveness.period_sec * self.liveness.failure_threshold


def health_policy(
    health_checks: HealthChecks,
    *,
    liveness: ProbePolicy = LIVENESS,
    readiness: ProbePolicy = READINESS,
) -> HealthPolicy:
    """Apply ``health_checks`` to a target's default ``liveness`` and ``readiness`` policies.

    The period and timeout stay the target's; only how many misses count (and the delays)
    change, so a hang is still seen as soon as before, just tolerated for longer.
    """
    if health_checks.restart_threshold_seconds is not None:
        liveness = dataclasses.replace(
            liveness, failure_threshold=_misses(health_checks.restart_threshold_seconds, liveness))
    if health_checks.stop_traffic_threshold_seconds is not None:
        readiness = dataclasses.replace(
            readiness, failure_threshold=_misses(health_checks.stop_traffic_threshold_seconds, readiness))
    startup = health_checks.startup_threshold_seconds
    return HealthPolicy(
        liveness=liveness,
        readiness=readiness,
        liveness_delay_sec=float(health_checks.restart_check_delay_seconds or 0),
        startup_sec=float(startup) if startup is not None else None,
    )


def _misses(seconds: int, policy: ProbePolicy) -> int:
    return max(1, math.ceil(seconds / policy.period_sec))
