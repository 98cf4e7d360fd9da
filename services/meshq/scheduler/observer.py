"""Hooks the scheduler engine calls as fires happen; metrics plug in here, not in the loop.

Each hook does nothing by default. The engine calls them on the event loop, so an
implementation must be cheap and must not raise.
"""

from __future__ import annotations


class SchedulerObserver:
    """No-op base: subclass and override what you watch."""

    def fired(self, room: str, queue: str, task_id: str, outcome: str,
              lag_seconds: float | None) -> None:
        """A due instant got its final ledger outcome (a ``RunOutcome`` value such as
        "enqueued"); ``lag_seconds`` is enqueue commit minus scheduled instant for enqueued
        fires, None otherwise."""

    def tasks_changed(self, active: int, inactive: int) -> None:
        """The number of stored tasks changed (after start, add, update, delete)."""
