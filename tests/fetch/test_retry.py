import pytest

from infra_chains.fetch._retry import MAX_DELAY_SEC, RetryPolicy


def test_delays_grow_exponentially_with_jitter_and_are_capped() -> None:
    policy = RetryPolicy(retries=10, backoff_sec=1.0)
    for attempt in range(4):
        assert 0.5 * 2**attempt <= policy.delay(attempt) <= 2**attempt
    assert policy.delay(20) == MAX_DELAY_SEC


def test_a_servers_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = RetryPolicy(retries=3, backoff_sec=0.0)
    assert policy.delay(0, retry_after=7.0) == 7.0
    assert policy.delay(0, retry_after=3600.0) == MAX_DELAY_SEC


@pytest.mark.parametrize(("retries", "backoff"), [(-1, 0.5), (3, -0.1)])
def test_negative_settings_are_rejected(retries: int, backoff: float) -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        RetryPolicy(retries=retries, backoff_sec=backoff)
