"""Backoff is a pure function: exponential, capped, full jitter."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshq.agents.retry import ReconnectPolicy, RetryPolicy, compute_backoff


@pytest.mark.parametrize(("attempt", "expected"), [
    (1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 10.0), (50, 10.0), (10_000, 10.0),
])
def test_without_jitter_the_delay_doubles_up_to_the_cap(attempt: int, expected: float) -> None:
    assert compute_backoff(attempt, base=0.5, factor=2.0, cap=10.0, jitter=False) == expected


@given(attempt=st.integers(min_value=1, max_value=500), seed=st.integers(0, 2**32))
def test_full_jitter_stays_between_zero_and_the_capped_exponential(attempt: int,
                                                                    seed: int) -> None:
    ceiling = compute_backoff(attempt, base=0.1, cap=10.0, jitter=False)
    delay = compute_backoff(attempt, base=0.1, cap=10.0, jitter=True, rng=random.Random(seed))
    assert 0.0 <= delay <= ceiling <= 10.0


def test_jitter_spreads_workers_that_failed_together() -> None:
    rng = random.Random(7)
    delays = {round(compute_backoff(8, base=0.1, cap=10.0, rng=rng), 6) for _ in range(50)}
    assert len(delays) > 40
    assert min(delays) < 5.0 < max(delays)


def test_attempt_is_one_based() -> None:
    with pytest.raises(ValueError):
        compute_backoff(0, base=1.0, cap=1.0)


def test_policies_are_frozen_and_use_their_own_numbers() -> None:
    retry = RetryPolicy(initial_delay=2.0, max_delay=5.0, jitter=False)
    assert [retry.delay(n) for n in (1, 2, 3)] == [2.0, 4.0, 5.0]
    with pytest.raises(AttributeError):
        retry.max_delay = 1.0  # type: ignore[misc]
    reconnect = ReconnectPolicy(initial_delay=1.0, max_delay=3.0)
    assert all(0.0 <= reconnect.delay(n, random.Random(n)) <= 3.0 for n in range(1, 30))
