"""The autoscaling policy is a pure function: a table of (load, state) -> replicas."""

from __future__ import annotations

import pytest

from meshq.pools.autoscaler import desired_replicas, needed_replicas

COOL = 30.0


@pytest.mark.parametrize(
    ("backlog", "in_flight", "current", "lo", "hi", "target", "last_high", "now", "expected"),
    [
        # scale up at once, capped at max
        (500, 0, 1, 1, 4, 50, 0.0, 1.0, 4),
        (120, 0, 1, 1, 10, 50, 0.0, 1.0, 3),
        (51, 0, 1, 1, 10, 50, 0.0, 1.0, 2),
        # in-flight work keeps its replicas
        (0, 100, 2, 0, 10, 50, 0.0, 100.0, 2),
        # scale to zero from zero load, and back to one for a single message
        (0, 0, 0, 0, 4, 50, 0.0, 1.0, 0),
        (1, 0, 0, 0, 4, 50, 0.0, 1.0, 1),
        # min is a floor even with no load
        (0, 0, 0, 2, 4, 50, 0.0, 1.0, 2),
        # lower load inside the cool-down: keep the current count
        (0, 0, 4, 1, 4, 50, 100.0, 100.0 + COOL - 0.1, 4),
        (60, 0, 4, 1, 4, 50, 100.0, 110.0, 4),
        # lower load after the cool-down: straight down to what is needed
        (0, 0, 4, 1, 4, 50, 100.0, 100.0 + COOL, 1),
        (60, 0, 4, 0, 4, 50, 100.0, 200.0, 2),
        (0, 0, 4, 0, 4, 50, 100.0, 200.0, 0),
        # a lowered max applies at once, even inside the cool-down
        (500, 0, 4, 1, 2, 50, 100.0, 101.0, 2),
        (0, 0, 4, 1, 2, 50, 100.0, 101.0, 2),
        # a raised min applies at once
        (0, 0, 1, 3, 4, 50, 100.0, 101.0, 3),
    ],
)
def test_desired_replicas_table(backlog: int, in_flight: int, current: int, lo: int, hi: int,
                                target: int, last_high: float, now: float,
                                expected: int) -> None:
    decision = desired_replicas(backlog, in_flight, current, min=lo, max=hi,
                                target_backlog=target, cooldown=COOL, last_high_at=last_high,
                                now=now)
    assert decision.replicas == expected


def test_cool_down_restarts_whenever_the_load_justifies_the_current_count() -> None:
    # Given 4 replicas that the load needed at t=0
    state = desired_replicas(200, 0, 1, min=1, max=4, target_backlog=50, cooldown=COOL,
                             last_high_at=0.0, now=0.0)
    assert state == (4, 0.0)
    # When the load drops at t=10, then is high again at t=20, then drops for good
    low = desired_replicas(0, 0, 4, min=1, max=4, target_backlog=50, cooldown=COOL,
                           last_high_at=state.last_high_at, now=10.0)
    high = desired_replicas(200, 0, low.replicas, min=1, max=4, target_backlog=50,
                            cooldown=COOL, last_high_at=low.last_high_at, now=20.0)
    early = desired_replicas(0, 0, high.replicas, min=1, max=4, target_backlog=50,
                             cooldown=COOL, last_high_at=high.last_high_at, now=20.0 + COOL - 1)
    late = desired_replicas(0, 0, early.replicas, min=1, max=4, target_backlog=50,
                            cooldown=COOL, last_high_at=early.last_high_at, now=20.0 + COOL)
    # Then the cool-down counts from t=20, not t=0
    assert (low.replicas, high.replicas, early.replicas, late.replicas) == (4, 4, 4, 1)


@pytest.mark.parametrize(("backlog", "in_flight", "target", "expected"), [
    (0, 0, 10, 0), (1, 0, 10, 1), (10, 0, 10, 1), (11, 0, 10, 2), (5, 6, 10, 2),
    (-3, 0, 10, 0), (7, 0, 0, 7),
])
def test_needed_replicas(backlog: int, in_flight: int, target: int, expected: int) -> None:
    assert needed_replicas(backlog, in_flight, target_backlog=target) == expected
