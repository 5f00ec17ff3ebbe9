"""`health_policy`: unset health checks keep every target's numbers; each threshold maps to its
probe count at the target's own period."""

from __future__ import annotations

import pytest

from infra_chains.remote_config import HealthChecks
from infra_chains.serving.health import HealthPolicy, health_policy
from infra_chains.serving.probe import LIVENESS, READINESS, ProbePolicy


def test_unset_keeps_todays_numbers() -> None:
    policy = health_policy(HealthChecks())
    assert policy == HealthPolicy(liveness=LIVENESS, readiness=READINESS)
    assert policy.liveness == ProbePolicy(period_sec=1.0, timeout_sec=1.0, failure_threshold=3)
    assert policy.restart_after_sec == 3.0
    assert policy.liveness_delay_sec == 0.0 and policy.startup_sec is None


def test_unset_keeps_a_targets_own_defaults() -> None:
    docker = ProbePolicy(period_sec=5.0, timeout_sec=3.0, failure_threshold=3)
    assert health_policy(HealthChecks(), liveness=docker).liveness == docker


@pytest.mark.parametrize(("seconds", "misses"), [(1, 1), (3, 3), (30, 30), (45, 45)])
def test_restart_threshold_is_misses_at_the_liveness_period(seconds: int, misses: int) -> None:
    policy = health_policy(HealthChecks(restart_threshold_seconds=seconds))
    assert policy.liveness == ProbePolicy(period_sec=1.0, timeout_sec=1.0, failure_threshold=misses)
    assert policy.restart_after_sec == seconds
    assert policy.readiness == READINESS


def test_thresholds_round_up_to_whole_periods_of_the_targets_policy() -> None:
    docker = ProbePolicy(period_sec=5.0, timeout_sec=3.0, failure_threshold=3)
    policy = health_policy(HealthChecks(restart_threshold_seconds=31, stop_traffic_threshold_seconds=1),
                           liveness=docker)
    assert policy.liveness == ProbePolicy(period_sec=5.0, timeout_sec=3.0, failure_threshold=7)
    assert policy.readiness.failure_threshold == 1  # never below one miss


def test_stop_traffic_delay_and_startup_map_to_their_fields() -> None:
    policy = health_policy(HealthChecks(restart_check_delay_seconds=20, stop_traffic_threshold_seconds=10,
                                        startup_threshold_seconds=900))
    assert policy.readiness == ProbePolicy(period_sec=READINESS.period_sec, timeout_sec=1.0, failure_threshold=5)
    assert policy.liveness == LIVENESS
    assert policy.liveness_delay_sec == 20.0
    assert policy.startup_sec == 900.0
