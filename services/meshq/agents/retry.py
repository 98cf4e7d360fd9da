"""Backoff policies as plain data and one pure function.

``RetryPolicy`` says how long a failed job waits before its next delivery (the nack delay);
``ReconnectPolicy`` says how long the consumer waits before reopening a broken stream. Both use
``compute_backoff``: exponential growth, capped, with *full jitter* (a uniform draw in
``[0, capped]``), which spreads a herd of workers that failed together.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass

DEFAULT_RETRY_BASE = 1.0  # seconds before the 2nd delivery of a failed job (before jitter)
DEFAULT_RETRY_CAP = 300.0  # a failing job never waits longer than 5 minutes between tries
DEFAULT_RECONNECT_BASE = 0.1  # the reference's first receive retry, kept
DEFAULT_RECONNECT_CAP = 10.0  # the reference had no cap: a long outage meant hours of sleep
DEFAULT_HEALTHY_AFTER = 5.0  # a stream that lived this long resets the reconnect backoff
MAX_RETRY_AFTER = 14 * 24 * 3600.0  # the longest nack delay a queue takes
TOO_MANY_REQUESTS = 429


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


def retry_after_seconds(err: BaseException, *, now: float | None = None) -> float | None:
    """The delay a rate-limited API asked for, or None when ``err`` is not such an answer.

    Looks through ``err`` and its causes for an HTTP 429 (an ``openai.RateLimitError`` or
    any error with ``status_code`` and an httpx-like ``response``) and reads its
    ``retry-after-ms`` or ``Retry-After`` header (seconds, or an HTTP date; ``now`` is the
    wall-clock instant a date is measured from). Capped at 14 days, the longest nack delay.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "status_code", None) == TOO_MANY_REQUESTS:
            headers = getattr(getattr(current, "response", None), "headers", None)
            delay = _header_delay(headers, time.time() if now is None else now)
            if delay is not None:
                return min(delay, MAX_RETRY_AFTER)
        current = current.__cause__ or current.__context__
    return None


def _header_delay(headers: object, now: float) -> float | None:
    get = getattr(headers, "get", None)
    if get is None:
        return None
    millis = get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    text = get("retry-after")
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        try:
            value = email.utils.parsedate_to_datetime(text).timestamp() - now
        except (TypeError, ValueError):
            return None
    return max(value, 0.0) if math.isfinite(value) else None
