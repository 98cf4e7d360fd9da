"""How many replicas a pool wants, as a pure function of its queue's load (STYLE item 5).

Scale up at once (one tick), scale down only after the load has stayed low for the cool-down,
like Kubernetes' HPA stabilisation window. The load is the queue's ready messages plus those in
flight: messages being worked on still need their replicas. Zero replicas is allowed when
``min_replicas`` is 0; any backlog then asks for one replica again.
"""

from __future__ import annotations

import builtins
import math
from typing import NamedTuple


class ScaleDecision(NamedTuple):
    replicas: int
    """Replicas wanted now."""
    last_high_at: float
    """When the load last justified the current count (feed it back on the next call)."""


def needed_replicas(backlog: int, in_flight: int, *, target_backlog: int) -> int:
    """Replicas that keep at most ``target_backlog`` outstanding messages each."""
    outstanding = max(0, backlog) + max(0, in_flight)
    return math.ceil(outstanding / max(1, target_backlog))


def desired_replicas(
    backlog: int,
    in_flight: int,
    current: int,
    *,
    min: int,  # the names the pool spec uses
    max: int,
    target_backlog: int,
    cooldown: float,
    last_high_at: float,
    now: float,
) -> ScaleDecision:
    """The replica count for this tick, and the new ``last_high_at``."""
    need = needed_replicas(backlog, in_flight, target_backlog=target_backlog)
    need = _clamp(need, min, max)
    if need >= current:
        return ScaleDecision(need, now)
    if now - last_high_at >= cooldown:
        return ScaleDecision(need, now)
    return ScaleDecision(_clamp(current, min, max), last_high_at)


def _clamp(value: int, low: int, high: int) -> int:
    return builtins.min(builtins.max(value, low), high)
