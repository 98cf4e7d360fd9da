"""Preview: the next instants of a schedule, bounded in work and time.

The same evaluator as the firing loop (``cron``), with a ``cron.Budget``: at most
``PREVIEW_STEPS`` steps and ``PREVIEW_SECONDS`` (shortened to the caller's deadline). When the
bound runs out, Preview answers the instants found so far and says it stopped. The servicer
runs it in a worker thread, so the event loop (every other RPC) never waits for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from meshq.core.errors import InvalidArgument
from meshq.scheduler import cron

PREVIEW_STEPS = 1_000_000  # the work bound of one Preview (~1 s of CPU), whatever its count
PREVIEW_SECONDS = 2.0  # and its time bound; the caller's deadline shortens it


@dataclass(frozen=True)
class PreviewResult:
    """What a bounded Preview found."""

    instants: list[datetime]
    stopped: str = ""
    """Why it stopped before ``count`` instants ("" when it did not)."""


def preview_bounded(schedule: str, timezone: str, after: datetime, count: int,
                    budget: cron.Budget) -> PreviewResult:
    """The next ``count`` instants of a schedule within ``budget``: the very function the
    loop fires with. Pure and synchronous: the servicer runs it in a thread."""
    if not 1 <= count <= cron.MAX_PREVIEW:
        raise InvalidArgument(f"count must be between 1 and {cron.MAX_PREVIEW}, got {count}")
    cron.check_instant("from", after)
    parsed = cron.parse_schedule(schedule)
    tz = cron.parse_timezone(timezone)
    found, stopped = cron.preview_instants(parsed, tz, after, count, budget)
    if stopped:
        return PreviewResult(found, f"{stopped} after {len(found)} instants")
    return PreviewResult(found)


def preview_budget(deadline_seconds: float | None = None) -> cron.Budget:
    """The bound of one Preview: ``PREVIEW_STEPS`` steps and ``PREVIEW_SECONDS``, shortened
    to the caller's remaining deadline."""
    seconds = PREVIEW_SECONDS if deadline_seconds is None else min(PREVIEW_SECONDS, deadline_seconds)
    return cron.Budget(steps=PREVIEW_STEPS, deadline=time.monotonic() + max(0.0, seconds))


def preview(schedule: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` instants of a schedule (as many as the Preview bound allows)."""
    return preview_bounded(schedule, timezone, after, count, preview_budget()).instants
