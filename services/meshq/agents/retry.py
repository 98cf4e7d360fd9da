"""Backoff policies as plain data and one pure function.

``RetryPolicy`` says how long a failed job waits before its next delivery (the nack delay);
``ReconnectPolicy`` says how long the consumer waits before reopening a broken stream. Both use
``compute_backoff``: exponential growth, capped, with *full jitter* (a uniform draw in
``[0, capped]``), which spreads a herd of workers that failed together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

DEFAULT_RETRY_BASE = 1.0  # seconds before the 2nd delivery of a failed job (before jitter)
DEFAULT_RETRY_CAP = 300.0  # a failing job never waits longer than 5 minutes between tries
DEFAULT_RECONNECT_BASE = 0.1  # the reference's first receive retry, kept
DEFAULT_RECONNECT_CAP = 10.0  # the reference had no cap: a long outage meant hours of sleep
DEFAULT_HEALTHY_AFTER = 5.0  # a stream that lived this long resets the reconnect backoff


def compute_backoff(
    attempt: int,
    *,
    base: float,
    factor: float = 2.0,
    cap: float,
    jitter: bool = True,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after the ``attempt``-th failure (1-based).

    ``min(cap, base * factor ** (attempt - 1))``, then, with ``jitter``, a uniform draw in
    ``[0, that]`` ("full jitter").
    """
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    exponent = min(attempt - 1, 64)  # beyond this the cap wins anyway; avoids float overflow
    ceiling = min(cap, base * factor**exponent)
    if not jitter:
        return ceiling
    return (rng or random).uniform(0.0, ceiling)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How long a failed job waits before it is delivered again.

    How many times it is tried is the queue's ``max_deliveries`` (then it is dead-lettered),
    so that the limit holds whichever worker picks the job up.
    """

    initial_delay: float = DEFAULT_RETRY_BASE
    """Delay after the first failure, before jitter."""
    factor: float = 2.0
    """Growth per further failure."""
    max_delay: float = DEFAULT_RETRY_CAP
    """No delay is longer than this."""
    jitter: bool = True
    """Full jitter: draw the delay uniformly from [0, computed]."""

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The nack delay after delivery ``attempt`` (1-based) failed."""
        return compute_backoff(max(attempt, 1), base=self.initial_delay, factor=self.factor,
                               cap=self.max_delay, jitter=self.jitter, rng=rng)


@dataclass(frozen=True, kw_only=True)
class ReconnectPolicy:
    """How the consumer waits between attempts to reopen a broken Subscribe stream."""

    initial_delay: float = DEFAULT_RECONNECT_BASE
    """Delay after the first failure, before jitter."""
    factor: float = 2.0
    """Growth per consecutive failure."""
    max_delay: float = DEFAULT_RECONNECT_CAP
    """No wait is longer than this, however long the outage."""
    healthy_after: float = DEFAULT_HEALTHY_AFTER
    """A stream open this long (or one that delivered a message) resets the backoff."""

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """The wait after ``failures`` consecutive failures (>= 1)."""
        return compute_backoff(failures, base=self.initial_delay, factor=self.factor,
                               cap=self.max_delay, jitter=True, rng=rng)
